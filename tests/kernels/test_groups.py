"""Per-group return sums (``kernels.groups``, what PBO over every stage-1 trial reads): every stage-1
kernel streams the same sums of r and r^2 per time group as its reference computes from the returns,
and a wide accumulator row leaves the plain accumulators bit for bit as they were."""

from __future__ import annotations

import numpy as np
import pytest

from lq_engine.kernels import groups as G
from lq_engine.prefilter.bench import synthetic_panel
from lq_engine.prefilter.evaluate import Costs, evaluate_grid, evaluate_panel
from lq_engine.strategies import resolve
from lq_engine.data.bars import Bars

N = 1_200
# uneven groups, a one-bar group, and a last group ending at the last bar
ENDS = np.array([250, 600, 601, 900, N])


@pytest.fixture(scope="module")
def bars():
    close = 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0.0, 0.01, N)))
    return Bars.from_close(close)


def test_group_helpers_by_hand():
    assert G.group_counts(np.array([3, 5, 8])).tolist() == [2, 2, 3]  # bar 0 has no return
    r = np.array([0.1, -0.2, 0.3, 0.4])  # returns of bars 1..4
    np.testing.assert_allclose(G.sums_from_returns(r, np.array([2, 5])),
                               [[0.1, 0.01], [0.5, 0.04 + 0.09 + 0.16]], rtol=1e-15)


@pytest.mark.parametrize("name", ["ma_cross", "bollinger", "rsi_time_stop"])
def test_single_symbol_kernels_stream_the_reference_group_sums(bars, name):
    spec = resolve(name, project_grids=False)
    sets = spec.default_grid()[:24]
    got = evaluate_grid(bars, spec, sets, Costs(fee=0.001), "numba", 252.0, ENDS)
    ref = evaluate_grid(bars, spec, sets, Costs(fee=0.001), "python", 252.0, ENDS)
    plain = evaluate_grid(bars, spec, sets, Costs(fee=0.001), "numba", 252.0)
    assert got.group_sums.shape == (len(sets), len(ENDS), 2)
    np.testing.assert_allclose(got.group_sums, ref.group_sums, rtol=0, atol=1e-12)
    assert np.abs(got.group_sums).max() > 0  # something traded
    for k in got.metrics:  # asking for groups changes nothing else
        np.testing.assert_array_equal(got.metrics[k], plain.metrics[k])
    assert plain.group_sums is None


@pytest.mark.parametrize("name", ["xs_momentum", "pairs"])
def test_portfolio_kernel_streams_the_reference_group_sums(name):
    panel = synthetic_panel(6, N, 3, cointegrated=True)
    spec = resolve(name, project_grids=False)
    sets = spec.default_grid()[:8]
    got = evaluate_panel(panel, spec, sets, Costs(fee=0.001), 252.0, "numba", ENDS)
    ref = evaluate_panel(panel, spec, sets, Costs(fee=0.001), 252.0, "python", ENDS)
    np.testing.assert_allclose(got.group_sums, ref.group_sums, rtol=0, atol=1e-12)
    assert np.abs(got.group_sums).max() > 0


@pytest.mark.parametrize("backend", ["c", "rust"])
def test_native_kernels_stream_the_numba_group_sums_bit_for_bit(backend):
    """The C and Rust rule kernels' ``lq_sweep_groups`` mirror the numba kernel operation for
    operation (a native library without that export falls back to numba for per-group sums)."""
    from lq_engine.kernels.backends import native
    from lq_engine.kernels.backends import numba_backend
    from lq_engine.prefilter.selection import workload

    try:
        lib = native.load(backend)
    except Exception as e:  # no compiler here: nothing to compare
        pytest.skip(f"{backend} backend unavailable: {e}")
    sw = workload()
    ends = np.array([500, 1000, 1733, 2500, 3100, sw.bank.shape[1]])
    got = lib.sweep_groups(sw.bank, sw.rets, sw.ip, sw.fp, 0.001, 2, ends)
    np.testing.assert_array_equal(got, numba_backend.sweep(sw.bank, sw.rets, sw.ip, sw.fp, 0.001, ends))
    np.testing.assert_array_equal(got[:, :13], lib.sweep(sw.bank, sw.rets, sw.ip, sw.fp, 0.001, 2))
