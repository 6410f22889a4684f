import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lq_engine.kernels import metrics as M
from lq_engine.kernels.backends import metric_batch, python_backend, run_accumulators

EXPECTED = np.array([-0.16217684382677497, -0.0027145605341435397, 0.11830659973881791])


def reference_curve(bars: int) -> np.ndarray:
    r = np.random.default_rng(42).normal(0.0, 0.001, size=bars)
    return np.cumprod(1 + r) * 10000


def test_periods_per_year():
    assert M.periods_per_year("1m", "24/7") == 525_600
    assert M.periods_per_year("1d", "equities") == 252
    assert M.periods_per_year("1h", "equities") == 252 * 6.5
    assert M.periods_per_year("1d", "24/7") == 365
    with pytest.raises(ValueError, match="timeframe"):
        M.periods_per_year("one minute", "24/7")
    with pytest.raises(ValueError, match="calendar"):
        M.periods_per_year("1d", "lunar")


def test_metric_workload_reference_gives_the_expected_values():
    from lq_engine.kernels.backends.numba_backend import reference_three_pass

    assert reference_three_pass(reference_curve(10_000), 252.0) == tuple(EXPECTED)  # bit for bit
    got = python_backend.metric_eval(reference_curve(10_000))  # numpy pairwise sums
    np.testing.assert_allclose(got, EXPECTED, rtol=1e-14, atol=0)


@pytest.mark.parametrize("backend", ["numba", "c", "rust"])
def test_metric_workload_every_backend_gives_the_expected_values(backend):
    got = metric_batch(backend, reference_curve(10_000), 3)
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got, np.tile(EXPECTED, (3, 1)), rtol=1e-12, atol=0)


def test_deflated_sharpe_worked_example_of_the_paper():
    """Bailey & Lopez de Prado (2014): N=100 trials, V[SR]=1/2 annualized, best SR 2.5 annualized,
    T=1250 daily obs, skew -3, kurtosis 10 -> SR0 ~ 0.1132 (non-annualized), DSR ~ 0.9004."""
    sr, var = 2.5 / math.sqrt(250), 0.5 / 250
    dsr, sr0 = M.deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 100, var)
    # independent calculation from the formulas with statistics.NormalDist
    nd, g = NormalDist(), 0.5772156649015329
    sr0_ind = math.sqrt(var) * ((1 - g) * nd.inv_cdf(1 - 1 / 100) + g * nd.inv_cdf(1 - 1 / (100 * math.e)))
    z = (sr - sr0_ind) * math.sqrt(1249) / math.sqrt(1 + 3 * sr + 9 / 4 * sr**2)
    dsr_ind = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert sr0 == pytest.approx(sr0_ind, rel=1e-12)
    assert dsr == pytest.approx(dsr_ind, rel=1e-12)
    assert round(sr0, 4) == 0.1132
    assert abs(dsr - 0.9004) < 2e-4


def test_deflated_sharpe_falls_with_more_trials():
    r = np.random.default_rng(1).normal(0.001, 0.01, 1000)
    trials = np.random.default_rng(2).normal(0.0, 0.03, 10)
    d10, _ = M.deflated_sharpe_from_returns(r, trials)
    d1000, _ = M.deflated_sharpe_from_returns(r, np.random.default_rng(2).normal(0.0, 0.03, 1000))
    assert 0 <= d1000 < d10 <= 1


def _pbo_brute(m: np.ndarray, s: int) -> float:
    """Independent CSCV: explicit loops, rank by sorting."""
    t, n = m.shape
    bounds = [round(i * t / s) for i in range(s + 1)]
    bounds = [sum(len(x) for x in np.array_split(np.arange(t), s)[:i]) for i in range(s + 1)]
    groups = [list(range(bounds[i], bounds[i + 1])) for i in range(s)]

    def sr(rows, j):
        x = [m[r, j] for r in rows]
        mu = sum(x) / len(x)
        sd = math.sqrt(sum((v - mu) ** 2 for v in x) / (len(x) - 1))
        return mu / sd if sd > 0 else 0.0

    over = total = 0
    for train in itertools.combinations(range(s), s // 2):
        tr = [r for g in train for r in groups[g]]
        te = [r for g in range(s) if g not in train for r in groups[g]]
        is_ = [sr(tr, j) for j in range(n)]
        best = is_.index(max(is_))
        oos = [sr(te, j) for j in range(n)]
        rank = 1 + sorted(oos).index(oos[best])  # position among the strictly smaller ones
        w = rank / (n + 1)
        over += math.log(w / (1 - w)) <= 0
        total += 1
    return over / total


def test_pbo_matches_brute_force_on_a_small_matrix():
    m = np.random.default_rng(3).normal(0.0, 1.0, (40, 5))
    m[:, 2] += 0.2
    pbo, logits = M.probability_of_backtest_overfitting(m, n_splits=6)
    assert logits.size == math.comb(6, 3)
    assert pbo == pytest.approx(_pbo_brute(m, 6), abs=1e-12)


def test_pbo_noise_is_about_one_half_and_a_dominant_strategy_is_near_zero():
    rng = np.random.default_rng(4)
    # one noise matrix's PBO varies a lot (the splits share data); the average over many is ~0.5
    pbos = [M.probability_of_backtest_overfitting(rng.normal(0.0, 1.0, (200, 30)), 8)[0] for _ in range(12)]
    assert 0.35 <= float(np.mean(pbos)) <= 0.65
    dom = rng.normal(0.0, 1.0, (400, 40))
    dom[:, 7] += 0.8
    pbo_dom, _ = M.probability_of_backtest_overfitting(dom, n_splits=10)
    assert pbo_dom <= 0.02


def test_pbo_rejects_bad_shapes():
    with pytest.raises(ValueError, match="even"):
        M.probability_of_backtest_overfitting(np.zeros((40, 3)), n_splits=5)
    with pytest.raises(ValueError, match="N>=2"):
        M.probability_of_backtest_overfitting(np.zeros(40), n_splits=4)


def test_array_metrics_by_hand():
    r = np.array([0.1, -0.2, 0.05, 0.0])
    e = M.equity_curve(r)
    np.testing.assert_allclose(e, [1.0, 1.1, 0.88, 0.924, 0.924])
    assert M.max_drawdown(e) == pytest.approx(0.2)
    assert M.max_drawdown_duration(e) == 3
    s = M.summarize(r, np.array([1, 1, -1, 0.0]), np.array([-0.12, 0.05]), 252)
    assert s["trade_count"] == 2 and s["turnover"] == 4 and s["exposure"] == 0.75
    assert s["win_rate"] == 0.5 and s["profit_factor"] == pytest.approx(0.05 / 0.12)
    assert s["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert s["sortino"] == pytest.approx(r.mean() / math.sqrt(0.04 / 4) * math.sqrt(252))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 400), st.integers(0, 2**32 - 1), st.floats(1e-4, 0.05))
def test_streaming_accumulators_match_array_metrics(n, seed, vol):
    """A program that is always long makes the kernel stream the close-to-close returns; its
    finalized accumulators must equal the array metrics within the stated tolerance."""
    from kernels.series import random_bars
    from lq_engine.strategies import compile_sweep

    b = random_bars(n, seed, vol=vol)
    # rsi: enter below 99.99 (almost always), exit above 100 (never): long nearly throughout
    sw = compile_sweep("rsi", [{"period": 2, "lower": 99.99, "upper": 100.0}], b)
    sw2 = compile_sweep("bollinger", [{"window": 2, "entry_z": 0.5, "exit_z": 0.0, "side": "both"}], b)
    for s in (sw, sw2):
        acc = run_accumulators("numba", s.bank, s.rets, s.ip, s.fp, 0.002)
        got = M.finalize(acc, 525_600.0)
        ref = M.summarize(*python_backend.simulate(s.bank, s.rets, s.ip[0], s.fp[0], 0.002), 525_600.0)
        for name in M.METRIC_NAMES:
            a, e = got[name][0], ref[name]
            if math.isinf(e):
                assert a == e, name
            else:
                assert abs(a - e) <= M.STREAMING_ATOL + M.STREAMING_RTOL * abs(e), (name, a, e)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 3000), st.integers(0, 2**31), st.floats(1e-4, 0.05))
def test_metric_workload_backends_agree_on_random_curves(n, seed, vol):
    e = np.cumprod(1 + np.random.default_rng(seed).normal(0.0, vol, n)) * 100
    ref = python_backend.metric_eval(e)
    outs = {b: metric_batch(b, e, 2) for b in ("numba", "c", "rust")}
    for b, got in outs.items():
        np.testing.assert_allclose(got, np.tile(ref, (2, 1)), rtol=1e-9, atol=1e-12, err_msg=b)
    assert outs["c"].tobytes() == outs["numba"].tobytes() == outs["rust"].tobytes()
