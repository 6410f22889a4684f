"""Every backend equals the python reference (hypothesis); compiled backends equal each other bit for bit."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lq_engine.kernels import metrics as M
from lq_engine.kernels.backends import run_accumulators, run_sweep
from lq_engine.prefilter.selection import PARITY_TOL, parity_error
from lq_engine.data.bars import Bars
from lq_engine.strategies import compile_sweep, default_grid
from kernels.series import random_bars

COMPILED = ["numba", "c", "rust"]
STRATS = ["ma_cross", "rsi", "bollinger", "donchian_atr"]
PPY = 525_600.0


def _params(name, seed, k=4):
    g = default_grid(name)
    rng = np.random.default_rng(seed)
    sides = ("long", "short", "both")
    return [dict(g[i], side=sides[int(rng.integers(3))]) for i in rng.choice(len(g), size=k, replace=False)]


def _check(sw, cost):
    ref = run_sweep("python", sw.bank, sw.rets, sw.ip, sw.fp, cost, PPY)
    accs = {}
    for b in COMPILED:
        accs[b] = run_accumulators(b, sw.bank, sw.rets, sw.ip, sw.fp, cost)
        assert parity_error(M.finalize(accs[b], PPY), ref) <= PARITY_TOL, b
    assert accs["c"].tobytes() == accs["numba"].tobytes()
    assert accs["rust"].tobytes() == accs["numba"].tobytes()
    return ref


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(STRATS), st.integers(1, 400), st.integers(0, 2**31),
       st.sampled_from([1e-3, 1.0, 100.0, 1e9]), st.floats(0.0005, 0.05), st.sampled_from([0.0, 0.001, 0.01]))
def test_backends_match_reference_on_random_series(name, n, seed, level, vol, cost):
    sw = compile_sweep(name, _params(name, seed), random_bars(n, seed, level=level, vol=vol))
    _check(sw, cost)


@pytest.mark.parametrize("name", STRATS)
def test_constant_prices(name):
    b = Bars.from_close(np.full(300, 50.0))
    ref = _check(compile_sweep(name, _params(name, 1), b), 0.001)
    assert np.all(ref["max_drawdown"] >= 0)


@pytest.mark.parametrize("name", STRATS)
def test_series_shorter_than_every_window_never_trades(name):
    b = random_bars(4, 2)
    p = [dict(x, side="both") for x in default_grid(name) if min(v for v in x.values() if isinstance(v, int)) > 4][:3]
    ref = _check(compile_sweep(name, p, b), 0.001)
    assert np.all(ref["trade_count"] == 0) and np.all(ref["total_return"] == 0)


@pytest.mark.parametrize("name", STRATS)
def test_single_bar(name):
    ref = _check(compile_sweep(name, _params(name, 3), random_bars(1, 3)), 0.001)
    for k in M.METRIC_NAMES:
        assert np.all(ref[k] == 0), k


def test_very_large_prices():
    b = random_bars(500, 5, level=1e12, vol=0.02)
    ref = _check(compile_sweep("bollinger", _params("bollinger", 5, 6), b), 0.001)
    assert np.all(np.isfinite(ref["sharpe"]))


def test_ma_sweep_trades_and_pays_fees():
    close = 100 * np.exp(np.cumsum(np.random.default_rng(42).normal(0, 0.001, 3000)))
    sw = compile_sweep("ma_cross", default_grid("ma_cross")[:50], Bars.from_close(close))
    no_fee = M.finalize(run_accumulators("numba", sw.bank, sw.rets, sw.ip, sw.fp, 0.0), PPY)
    fee = M.finalize(run_accumulators("numba", sw.bank, sw.rets, sw.ip, sw.fp, 0.001), PPY)
    assert np.all(fee["trade_count"] > 0)
    assert np.all(fee["total_return"] < no_fee["total_return"])
    np.testing.assert_array_equal(fee["turnover"], no_fee["turnover"])


_THREADS_SCRIPT = r"""
import sys, numpy as np, numba
from lq_engine.kernels.backends import run_accumulators
from lq_engine.data.bars import Bars
from lq_engine.strategies import compile_sweep, default_grid
close = 100 * np.exp(np.cumsum(np.random.default_rng(42).normal(0, 0.001, 5000)))
sw = compile_sweep("ma_cross", default_grid("ma_cross"), Bars.from_close(close))
out = []
for t in (1, 2):
    numba.set_num_threads(t)
    out.append(run_accumulators("numba", sw.bank, sw.rets, sw.ip, sw.fp, 0.001).tobytes())
    out.append(run_accumulators("c", sw.bank, sw.rets, sw.ip, sw.fp, 0.001, n_threads=t).tobytes())
    out.append(run_accumulators("rust", sw.bank, sw.rets, sw.ip, sw.fp, 0.001, n_threads=t).tobytes())
assert len(set(out)) == 1, "results differ across thread counts or backends"
print("identical", len(out[0]))
"""


def test_bit_identical_with_one_and_two_threads():
    res = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], capture_output=True, text=True,
                         env={**__import__("os").environ, "NUMBA_NUM_THREADS": "2"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("identical")
