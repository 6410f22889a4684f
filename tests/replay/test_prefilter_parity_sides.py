"""Fixed-unit accounting: simplified replay == prefilter kernel metrics (rtol 1e-9) for every
strategy and side, including a short that loses everything (bankrupt: flat for good)."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from lq_engine.execution.config import ExecutionConfig
from lq_engine.prefilter.evaluate import Costs, evaluate_grid
from lq_engine.data.bars import Bars
from lq_engine.replay.engine import replay
from lq_engine.strategies.registry import list_strategies
from replay.bars import params_for, prefilter_backends, series

RTOL = 1e-9
ATOL = 1e-12  # for metrics that are ~0
SIDES = ["long", "short", "both"]


def _assert_parity(name, p, s, fee, slip_bps):
    r = replay(name, p, s, ExecutionConfig().simplified(fee=fee, slippage_bps=slip_bps))
    for backend in prefilter_backends(name):
        g = evaluate_grid(s, name, [p], Costs(fee=fee, slippage=slip_bps * 1e-4), backend=backend)
        for k, v in g.metrics.items():
            assert np.isclose(r.metrics[k], v[0], rtol=RTOL, atol=ATOL), (backend, k, r.metrics[k], v[0])
    return r


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list_strategies(portfolio=False)), st.sampled_from(SIDES), st.integers(0, 10_000),
       st.integers(0, 10_000), st.integers(2, 500), st.sampled_from([0.003, 0.015, 0.04]), st.floats(0.0, 0.003),
       st.floats(0.0, 5.0))
def test_simplified_replay_matches_prefilter_for_every_side(name, side, pick, seed, n, vol, fee, slip_bps):
    _assert_parity(name, params_for(name, pick, side), series(n, seed, vol=vol), fee, slip_bps)


def test_short_is_fixed_units_not_rebalanced():
    """Held short from open p0: equity = V0 * (2 - p / p0) at every close, V0 = 1 - fee."""
    s = series(300, 11, vol=0.01)
    r = _assert_parity("ma_cross", {"fast": 5, "slow": 20, "side": "short"}, s, 0.001, 0.0)
    f = r.fills
    assert len(f) >= 2 and f.side[0] == -1
    j0, j1 = int(f.bar[0]), int(f.bar[1])
    v0 = r.initial_cash * (1 - 0.001)
    expect = v0 * (2.0 - s.close[j0:j1] / s.open[j0])
    np.testing.assert_allclose(r.equity[j0:j1], expect, rtol=1e-12)


def _frozen(symbol, close, open_):
    n = close.size
    hi, lo = np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return Bars.from_arrays(symbol, ts, open_, hi, lo, close, np.full(n, 1e6))


def test_bankrupt_short_stays_flat_in_both_engines():
    close = np.concatenate([np.linspace(100, 90, 40), [300.0], np.linspace(300, 320, 40)])
    open_ = np.concatenate([[close[0]], close[:-1]])
    s = _frozen("BUST", close, open_)
    r = _assert_parity("ma_cross", {"fast": 3, "slow": 10, "side": "both"}, s, 0.001, 0.0)
    assert r.equity.min() < 0  # the short lost more than its stake
    assert r.fills.position[-1] == 0.0  # closed, and the long was never opened (no equity left)
    close_fill = int(np.flatnonzero(r.fills.side == 1)[-1])  # buying the short back at the 300 open
    q, px = r.fills.quantity[close_fill], r.fills.price[close_fill]
    assert r.fills.fee[close_fill] == 0.001 * q * px > 0.0  # on the notional: not a rebate
    for backend in ("c", "rust"):  # the native kernels repeat the same close leg
        g = evaluate_grid(s, "ma_cross", [{"fast": 3, "slow": 10, "side": "both"}], Costs(fee=0.001, slippage=0.0),
                          backend=backend)
        for k, v in g.metrics.items():
            assert np.isclose(r.metrics[k], v[0], rtol=RTOL, atol=ATOL), (backend, k, r.metrics[k], v[0])
    assert np.all(r.equity[-30:] == r.equity[-1])
