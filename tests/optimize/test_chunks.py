"""A sweep whose indicator bank exceeds the memory budget runs in chunks of sets (``prefilter.chunks``):
the same metrics, bit for bit, for any chunk size and thread count (issue 23)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from lq_engine.errors import EnvVarError, InputError
from lq_engine.execution.config import Costs
from lq_engine.kernels import metrics as M
from lq_engine.prefilter.bench import sweep_bars
from lq_engine.prefilter.chunks import memory_budget_mb, plan_chunks, zorder
from lq_engine.prefilter.evaluate import evaluate_grid
from lq_engine.strategies import resolve

BARS = sweep_bars(2_000)  # 2,000 values a row: 1 MB holds 65 rows


def wide(name: str, n: int, seed: int = 4) -> list[dict]:
    spec = resolve(name, project_grids=False)
    return spec.space.sample(spec.schema, n, seed=seed)


def same(a, b) -> None:
    for name in M.METRIC_NAMES:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])  # NaN where NaN


@pytest.mark.parametrize("name, backend", [("ma_cross", "numba-api"), ("ma_cross", "numba"),
                                           ("rsi_time_stop", "numba")])
def test_chunked_sweeps_give_the_same_metrics_bit_for_bit(name, backend):
    sets = wide(name, 400)
    spec = resolve(name, project_grids=False)
    plan = spec.indicator_plan(spec.table(sets))
    ends = np.array([500, 1000, 1500, 2000])
    whole = evaluate_grid(BARS, spec, sets, Costs(fee=0.0005), backend=backend, ends=ends, memory_mb=10_000)
    for mb in (1, 2, 3):
        chunks = plan_chunks(plan.idx, plan.total, BARS.n, mb)
        assert len(chunks) > 1 or plan.total * BARS.n * 8 <= mb * 2**20
        part = evaluate_grid(BARS, spec, sets, Costs(fee=0.0005), backend=backend, ends=ends, memory_mb=mb)
        same(part, whole)
        np.testing.assert_array_equal(part.group_sums, whole.group_sums)
        assert part.params == whole.params
    assert np.isfinite(whole.metrics["sharpe"]).sum() > 100  # not vacuous: the sets traded


def _computed(idx: np.ndarray, chunks: list[np.ndarray]) -> int:
    return sum(len(np.unique(idx[c])) for c in chunks)


@pytest.mark.parametrize("dense", [True, False])
def test_chunks_cover_every_set_once_within_the_budget_and_recompute_the_fewest_rows(dense):
    """Dense (a full grid) and sparse (a random sample): every set once, each chunk within the budget,
    and no more rows computed than either order alone gives (Z-order wins on the dense grid by far)."""
    from lq_engine.prefilter.chunks import _greedy, candidate_orders

    spec = resolve("ma_cross", project_grids=False)
    sets = (spec.grid({"fast": range(2, 62), "slow": range(70, 190, 2)}).rows() if dense
            else wide("ma_cross", 3000))
    plan = spec.indicator_plan(spec.table(sets))
    cap = 2**20 // (BARS.n * 8) - 2
    chunks = plan_chunks(plan.idx, plan.total, BARS.n, 1)
    assert np.array_equal(np.sort(np.concatenate(chunks)), np.arange(len(plan.idx)))
    assert all(len(np.unique(plan.idx[c])) <= cap for c in chunks)
    z, lex = (_greedy(plan.idx, order, cap)[1] for order in candidate_orders(plan.idx))
    assert _computed(plan.idx, chunks) == min(z, lex)
    if dense:
        assert z < 0.5 * lex, (z, lex)  # blocks of fast x slow, not one fast value at a time


def test_z_order_keeps_equal_rows_together_and_falls_back_past_63_bits():
    idx = np.array([[5, 9], [2, 3], [5, 9], [2, 4]])
    order = zorder(idx)
    assert sorted(order.tolist()) == [0, 1, 2, 3] and abs(order.tolist().index(0) - order.tolist().index(2)) == 1
    many = np.random.default_rng(0).integers(0, 2**20, size=(100, 10))  # 10 indicators x 7 bits > 63: lexicographic
    assert np.array_equal(many[zorder(many)], many[np.lexsort(many.T[::-1])])


def test_a_chunked_sweep_does_not_depend_on_the_thread_count():
    sets = wide("ma_cross", 300)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = evaluate_grid(BARS, "ma_cross", sets, backend="numba-api", memory_mb=1)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = evaluate_grid(BARS, "ma_cross", sets, backend="numba-api", memory_mb=1)
    finally:
        numba.set_num_threads(before)
    same(one, two)


def test_a_budget_too_small_for_one_set_and_a_bad_setting_are_named(monkeypatch):
    big = sweep_bars(200_000)  # 1.6 MB a row
    with pytest.raises(InputError, match=r"sweep memory: 1 MB holds 0 indicator rows of 200,000 values; one "
                                         r"parameter set needs 2: raise LQ_SWEEP_MEMORY_MB \(needs >= 7 MB\)"):
        evaluate_grid(big, "ma_cross", wide("ma_cross", 50), backend="numba", memory_mb=1)
    monkeypatch.setenv("LQ_SWEEP_MEMORY_MB", "lots")
    with pytest.raises(EnvVarError, match="LQ_SWEEP_MEMORY_MB must be a whole number of megabytes, got 'lots'"):
        memory_budget_mb()
    monkeypatch.setenv("LQ_SWEEP_MEMORY_MB", "512")
    assert memory_budget_mb() == 512
    monkeypatch.delenv("LQ_SWEEP_MEMORY_MB")
    assert 64 <= memory_budget_mb() <= 2048
