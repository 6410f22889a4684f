"""Parity: event engine == replay bit for bit, for every discovered strategy (fractional targets,
state and the strategies' own exits included). The prefilter side (simplified replay == prefilter
kernels within 1e-9) is in test_prefilter_parity_sides.py."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from lq_engine.execution.config import ExecutionConfig
from lq_engine.replay.engine import replay
from lq_engine.replay.event_engine import run_event_engine
from lq_engine.execution.sizing import BracketSpec
from lq_engine.strategies.registry import list_strategies
from replay.bars import params_for, series





frac = st.one_of(st.none(), st.floats(0.002, 0.05))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list_strategies(portfolio=False)), st.sampled_from(["long", "short", "both"]),
       st.integers(0, 10_000), st.integers(0, 10_000), frac, frac, frac, st.sampled_from([None, 0.5, 0.01]),
       st.booleans())
def test_event_engine_matches_replay_bitwise(name, side, pick, seed, sl, tp, trail, cap, simplified):
    s = series(300, seed, vol=0.015, volume_scale=1e4)
    cfg = ExecutionConfig(liquidity_cap=cap)
    if simplified:
        cfg = cfg.simplified()
    br = BracketSpec(sl, tp, trail)
    p = params_for(name, pick, side)
    r = replay(name, p, s, cfg, br)
    e = run_event_engine(name, p, s, cfg, br)
    assert [(f.timestamp_ns, f.side, f.quantity, f.price) for f in e.fills] == [
        (int(t), int(sd), float(q), float(px))
        for t, sd, q, px in zip(r.fills.ts, r.fills.side, r.fills.quantity, r.fills.price)
    ]
    assert [f.fee for f in e.fills] == r.fills.fee.tolist()
    assert np.array_equal(np.array(e.equity), r.equity)
    assert e.targets == r.target.tolist()


def test_parity_covers_brackets_and_partial_fills():
    """The property above is not vacuous: this setting exercises every leg and carried remainders."""
    s = series(2000, 3, vol=0.015, volume_scale=2e3)
    cfg, br = ExecutionConfig(liquidity_cap=0.05), BracketSpec(0.01, 0.02, 0.015)
    r = replay("ma_cross", {"fast": 5, "slow": 20, "side": "both"}, s, cfg, br)
    reasons = set(r.fills.reason.tolist())
    assert {0, 1, 2, 3} <= reasons  # market, every bracket leg (a partly closed position is also resized: 4)
    assert (r.orders.status == 3).any() or (r.orders.filled < r.orders.quantity).any()
    e = run_event_engine("ma_cross", {"fast": 5, "slow": 20, "side": "both"}, s, cfg, br)
    assert np.array_equal(np.array(e.equity), r.equity)
    assert len(e.fills) == len(r.fills)
