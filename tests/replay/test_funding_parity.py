"""Perpetuals: every driver books the same funding. The replay, the event engine over a series and
the event engine stepped bar by bar (the paper trader's streaming path) agree bit for bit on fills,
equity and the funding ledger; the prefilter's simplified account agrees with the simplified replay
within ``RTOL``; the compiled loops equal their plain-Python reference on windows at offsets."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from lq_engine.core.events import BarEvent
from lq_engine.data.bars import Bars
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.funding import FundingRates, funding_per_bar
from lq_engine.execution.sizing import BracketSpec
from lq_engine.kernels import metrics as M
from lq_engine.kernels import simplified
from lq_engine.kernels.returns import market_returns
from lq_engine.prefilter.evaluate import Costs, evaluate_grid
from lq_engine.replay import kernel as K
from lq_engine.replay.engine import config_vector, no_exits, replay, replay_decisions
from lq_engine.replay.event_engine import EventEngine, PrecomputedDecider, run_event_engine
from lq_engine.strategies.kernel_types import Decisions
from lq_engine.strategies.registry import list_strategies, resolve
from replay.bars import params_for, series

RTOL, ATOL = 1e-9, 1e-12
MIN = 60_000_000_000


def funding_for(s: Bars, seed: int, every: int = 7, scale: float = 5e-4) -> FundingRates:
    """Funding every ``every`` minutes (some between bar opens, some exactly on them), random sign."""
    t = s.ts[0] + np.arange(every, (s.ts[-1] - s.ts[0]) // MIN + every, every, dtype=np.int64) * MIN
    t[::3] -= 20_000_000_000  # a third fall 20 s before a bar's open
    r = np.random.default_rng(seed).normal(1e-4, scale, t.size)
    return FundingRates(t, r, s.symbol)


def ledgers(name, p, s, cfg, br, f):
    r = replay(name, p, s, cfg, br, funding=f)
    e = run_event_engine(name, p, s, cfg, br, funding=f)
    st_ = EventEngine(s.symbol, PrecomputedDecider(name, p, s), cfg, br, funding=f)
    for k in range(len(s.ts)):
        st_.step(BarEvent(int(s.ts[k]), k, s.symbol, float(s.open[k]), float(s.high[k]), float(s.low[k]),
                          float(s.close[k]), float(s.volume[k])))
    return r, e, st_


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list_strategies(portfolio=False)), st.sampled_from(["long", "short", "both"]),
       st.integers(0, 10_000), st.integers(0, 10_000), st.sampled_from([None, 0.5]), st.booleans(),
       st.sampled_from([1, 5, 7, 480]))
def test_every_driver_books_the_same_funding(name, side, pick, seed, cap, with_brackets, every):
    s = series(300, seed, vol=0.015, volume_scale=1e4)
    f = funding_for(s, seed, every)
    cfg = ExecutionConfig(liquidity_cap=cap)
    br = BracketSpec(0.01, 0.02, None) if with_brackets else BracketSpec()
    p = params_for(name, pick, side)
    r, e, stepped = ledgers(name, p, s, cfg, br, f)
    for eng in (e, stepped):
        assert np.array_equal(np.array(eng.equity), r.equity)
        assert np.array(eng.funding_paid).tobytes() == r.funding.tobytes()
        assert [(x.timestamp_ns, x.side, x.quantity, x.price, x.fee) for x in eng.fills] == [
            (int(t), int(sd), float(q), float(px), float(fe))
            for t, sd, q, px, fe in zip(r.fills.ts, r.fills.side, r.fills.quantity, r.fills.price, r.fills.fee)]
    # the prefilter's account (generated kernel, and the python reference) on the simplified fills
    simple = replay(name, p, s, ExecutionConfig().simplified(fee=0.001, slippage_bps=1.0), funding=f)
    for backend in ("numba-api", "python"):
        g = evaluate_grid(s, name, [p], Costs(fee=0.001, slippage=1e-4), backend=backend, funding=f)
        for k, v in g.metrics.items():
            assert np.isclose(simple.metrics[k], v[0], rtol=RTOL, atol=ATOL), (backend, k, simple.metrics[k], v[0])


def test_funding_parity_is_not_vacuous():
    """The setting above moves money: funding is paid and received, equity differs from spot's by
    exactly the ledger (no fills change: sizing happens to be unaffected here), and the prefilter sees it."""
    s = series(400, 5, vol=0.015, volume_scale=1e6)
    f = funding_for(s, 5, 7, scale=2e-3)
    p = {"fast": 5, "slow": 20, "side": "both"}
    r, e, stepped = ledgers("ma_cross", p, s, ExecutionConfig(liquidity_cap=None), BracketSpec(), f)
    spot = replay("ma_cross", p, s, ExecutionConfig(liquidity_cap=None))
    assert r.funding_paid > 0 and r.funding_received > 0 and np.count_nonzero(r.funding) > 20
    assert not np.array_equal(r.equity, spot.equity)
    assert spot.funding is None and spot.funding_paid == 0.0
    assert np.array(stepped.funding_paid).tobytes() == r.funding.tobytes()
    costs = Costs(fee=0.001, slippage=0.0)
    perp = evaluate_grid(s, "ma_cross", [p], costs, backend="numba-api", funding=f).metrics["total_return"][0]
    flat = evaluate_grid(s, "ma_cross", [p], costs, backend="numba-api").metrics["total_return"][0]
    assert abs(perp - flat) > 1e-4


def test_funding_long_pays_short_receives_in_the_replay():
    """Held long through a positive rate: it pays position x close before x rate, exactly."""
    n = 6
    close = np.array([100.0, 101.0, 102.0, 103.0, 104.0, 105.0])
    ts = np.arange(n, dtype=np.int64) * 3_600_000_000_000
    s = Bars.from_arrays("PERP", ts, close, close * 1.01, close * 0.99, close, np.full(n, 1e9))
    f = FundingRates(np.array([ts[3]]), np.array([0.001]))
    for target, sign in ((1.0, 1.0), (-1.0, -1.0)):
        d = Decisions(np.array([target] * n), None)
        cfg = ExecutionConfig(fee_taker=0.0, spread_bps=0.0, slippage_bps=0.0, slippage_vol_k=0.0, liquidity_cap=None)
        r = replay_decisions(d, s, cfg, initial_cash=1000.0, funding=f)
        pos = r.fills.position[0]
        assert sign * pos > 0
        assert r.funding.tolist() == [0.0, 0.0, 0.0, pos * 102.0 * 0.001, 0.0, 0.0]
        assert np.isclose(r.equity[-1], 1000.0 + pos * (105.0 - 101.0) - pos * 102.0 * 0.001, rtol=1e-14)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["ma_cross", "perp_trend", "rsi_time_stop", "trend_vol_target"]), st.integers(0, 1000))
def test_compiled_loops_equal_their_plain_reference_on_windows(name, seed):
    """The compiled replay loop and the prefilter's account against their plain-Python functions
    (``py_func``: what NUMBA_DISABLE_JIT runs) on the first, a middle (offset) and the last window."""
    s = series(600, seed, vol=0.015, volume_scale=1e4)
    f = funding_for(s, seed, 5, scale=2e-3)
    p = params_for(name, seed, "both")
    spec = resolve(name)
    cfg = config_vector(ExecutionConfig(liquidity_cap=0.5), BracketSpec(0.02, None, 0.03))
    for a, b in ((0, 200), (137, 401), (400, 600)):
        w = Bars(*(np.ascontiguousarray(x[a:b]) for x in (s.open, s.high, s.low, s.close, s.volume, s.ts)),
                 symbol=s.symbol)
        d = spec.decisions(p, w)
        rates = funding_per_bar(f, w.ts)
        exits = d.exits if d.exits is not None else no_exits(b - a)
        outs = []
        for fn in (K.replay_loop, K.replay_loop.py_func):
            eq, ex, paid = np.empty(b - a), np.empty(b - a), np.zeros(b - a)
            fl, fts, nf, o, no = fn(w.ts, w.open, w.high, w.low, w.close, w.volume, d.targets, exits, cfg, 1e5, eq,
                                    ex, rates, paid)
            outs.append((eq.tobytes(), paid.tobytes(), fl[:nf].tobytes(), o[:no].tobytes()))
        assert outs[0] == outs[1]
        accs = []
        for fn in (simplified.account, simplified.account.py_func):
            acc = np.zeros(M.N_ACC)
            fn(w.open, w.high, w.low, w.close, market_returns(w), d.targets,
               exits, d.exits is not None, 0.001, 1e-4, acc, rates)
            accs.append(acc)
        np.testing.assert_allclose(accs[0], accs[1], rtol=1e-12, atol=1e-15)
