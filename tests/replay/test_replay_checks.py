"""Hand-computed equity, determinism of event ids and fills, input errors, lookahead."""

import dataclasses
import math

import numpy as np
import polars as pl
import pytest

from lq_engine.core.bus import MessageBus
from lq_engine.core.events import BarEvent
from lq_engine.data.guards import FrozenInputError
from lq_engine.execution.config import ExecutionConfig
from lq_engine.data.bars import Bars
from lq_engine.replay.engine import replay
from lq_engine.replay.event_engine import EventEngine, PrecomputedDecider, StreamingDecider, run_event_engine
from lq_engine.replay.lookahead import check_lookahead
from lq_engine.execution.sizing import BracketSpec
from lq_engine.strategies.registry import list_strategies
from replay.bars import series

CLOSES = [10.0, 10.5, 11.0, 10.8, 11.5, 12.0, 11.0, 10.0, 9.5, 10.2, 11.0, 11.8, 12.5, 12.0, 11.0, 10.5]
OPENS = [10.0, 10.2, 10.6, 11.1, 10.9, 11.6, 11.9, 10.8, 10.1, 9.6, 10.4, 11.1, 11.7, 12.4, 11.8, 10.9]


def test_long_flat_ma_equity_by_hand():
    fee, cash0, fast, slow = 0.002, 1000.0, 2, 4
    n = len(CLOSES)
    hi = [max(o, c) + 0.1 for o, c in zip(OPENS, CLOSES)]
    lo = [min(o, c) - 0.1 for o, c in zip(OPENS, CLOSES)]
    s = Bars.from_arrays("HAND", np.arange(n) * 86_400_000_000_000, OPENS, hi, lo, CLOSES, [1e9] * n)
    cfg = ExecutionConfig(fee_taker=fee, fee_maker=fee, spread_bps=0.0, slippage_bps=0.0, slippage_vol_k=0.0,
                          liquidity_cap=None)
    r = replay("ma_cross", {"fast": fast, "slow": slow, "side": "long"}, s, cfg, initial_cash=cash0)

    def sma(i, w):
        return sum(CLOSES[i - w + 1: i + 1]) / w if i >= w - 1 else None

    cash, units, want, expected, trades = cash0, 0.0, 0, [], 0
    for i in range(n):
        if i > 0:
            if want == 1 and units == 0.0:  # buy at this open, fully invested, fee on notional
                units = cash / OPENS[i]
                cash -= units * OPENS[i] + units * OPENS[i] * fee
                trades += 1
            elif want == 0 and units > 0.0:  # sell at this open
                cash += units * OPENS[i] - units * OPENS[i] * fee
                units = 0.0
        expected.append(cash + units * CLOSES[i])
        f, sl = sma(i, fast), sma(i, slow)
        if f is not None and sl is not None:
            if want == 0 and f > sl:
                want = 1
            elif want == 1 and f < sl:
                want = 0
    assert trades >= 2
    np.testing.assert_allclose(r.equity, expected, rtol=1e-12)
    assert len(r.fills) == 2 * trades - (1 if units > 0 else 0)


def test_two_runs_same_event_ids_and_fill_hash():
    s = series(1500, 11, vol=0.015, volume_scale=3e3)
    cfg, br = ExecutionConfig(liquidity_cap=0.05), BracketSpec(0.01, 0.03, 0.02)
    p = {"window": 20, "entry_z": 1.5, "exit_z": 0.0, "side": "both"}
    a, b = (run_event_engine("bollinger", p, s, cfg, br) for _ in range(2))
    assert a.event_ids == b.event_ids and len(a.event_ids) > s.n
    assert all(x < y for x, y in zip(a.event_ids, a.event_ids[1:]))  # (ts, sequence) strictly increasing
    ra, rb = (replay("bollinger", p, s, cfg, br) for _ in range(2))
    assert len(ra.fills) > 10 and ra.fills.sha256() == rb.fills.sha256()


def test_run_makes_complete_bars_and_equals_stepping():
    """run() makes its bars without the dataclass __init__: every field is set, the bars a subscriber
    keeps are distinct and unchanged afterwards, and the run equals stepping the same bars one by one."""
    s = series(800, 4, vol=0.015, volume_scale=3e3)
    cfg, br = ExecutionConfig(liquidity_cap=0.05), BracketSpec(0.01, 0.02, 0.015)
    p = {"fast": 5, "slow": 20, "side": "both"}
    runs = []
    for how in ("run", "step"):
        bus = MessageBus()
        kept = []
        bus.subscribe("data.bars.*", kept.append)
        e = EventEngine(s.symbol, PrecomputedDecider("ma_cross", p, s), cfg, br, bus=bus)
        if how == "run":
            e.run(s)
        else:
            for t, o, h, lo, c, v in zip(s.ts.tolist(), s.open.tolist(), s.high.tolist(), s.low.tolist(),
                                         s.close.tolist(), s.volume.tolist()):
                e.step(BarEvent(t, e.sequencer.next(), s.symbol, o, h, lo, c, v))
        runs.append((e, [dataclasses.astuple(b) for b in kept]))
    (a, bars_a), (b, bars_b) = runs
    assert bars_a == bars_b and len(bars_a) == s.n and len({id(x) for x in bars_a}) == s.n
    assert [x[0] for x in bars_a] == s.ts.tolist() and [x[6] for x in bars_a] == s.close.tolist()
    assert len(a.fills) > 10
    bar_ids = [(x[0], x[1]) for x in bars_a]  # (timestamp_ns, sequence)
    assert a.event_ids == b.event_ids and len(a.event_ids) > s.n
    assert [i for i in a.event_ids if i in set(bar_ids)] == bar_ids
    assert np.array_equal(np.array(a.equity), np.array(b.equity)) and a.targets == b.targets
    assert a.bus.published_by_topic() == b.bus.published_by_topic() and a.state() == b.state()


def test_streaming_decider_matches_precomputed():
    """The live path (indicators from the bars seen so far) decides exactly like the batch path."""
    s = series(250, 5, vol=0.02)
    p = {"window": 20, "exit_window": 10, "atr_window": 14, "atr_k": 2.0, "side": "both"}
    live = EventEngine(s.symbol, StreamingDecider("donchian_atr", p)).run(s)
    assert live.targets == replay("donchian_atr", p, s).target.tolist()
    assert np.array_equal(np.array(live.equity), replay("donchian_atr", p, s).equity)


def test_bad_inputs_are_named():
    s = series(50, 1)
    with pytest.raises(FrozenInputError, match="polars"):
        Bars.checked(s.open, s.high, s.low, s.close, s.volume, pl.Series(s.ts.tolist()), symbol="X")
    with pytest.raises(FrozenInputError, match="writable"):
        Bars.checked(np.array(s.open), s.high, s.low, s.close, s.volume, s.ts, symbol="X")
    bad = np.array(s.low)
    bad[7] = math.nan
    bad.setflags(write=False)
    with pytest.raises(ValueError, match="field 'low' row 7"):
        Bars.checked(s.open, s.high, bad, s.close, s.volume, s.ts, symbol="X")
    with pytest.raises(ValueError, match="fast < slow"):
        replay("ma_cross", {"fast": 30, "slow": 20}, s)
    with pytest.raises(ValueError, match="stop_loss"):
        BracketSpec(stop_loss=1.5)


def _sides():
    from lq_engine.strategies.registry import resolve

    return [(n, s) for n in list_strategies(portfolio=False) for s in ("long", "both")
            if s == "long" or "side" in resolve(n).param_names]


@pytest.mark.parametrize("name, side", _sides())
def test_no_lookahead(name, side):
    from lq_engine.strategies.registry import default_grid

    params = default_grid(name)[len(default_grid(name)) // 2]
    if "side" in params:
        params = dict(params, side=side)
    report = check_lookahead(name, params, series(400, 9, vol=0.02), cuts=10)
    assert report.ok, report.summary()
    assert len({c.cut for c in report.cuts}) == 10 and "OK" in str(report)
    assert {c.future for c in report.cuts} == {None, 1.5, 0.5}  # truncations and alternative futures


def _sma(x: np.ndarray, w: int) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    c = np.cumsum(np.r_[0.0, x])
    out[w - 1:] = (c[w:] - c[:-w]) / w
    return out


def test_lookahead_check_catches_a_peeking_decision_source():
    """A deliberately biased source (an SMA shifted by -1: bar i sees close[i+1]) through the same
    check: it must fail, and at the last bar before a cut (the first bar whose future was removed)."""
    s = series(300, 4, vol=0.02)

    def honest(x):
        return np.where(x.close > np.nan_to_num(_sma(x.close, 10), nan=np.inf), 1, 0).astype(np.int8)

    def peeking(x):
        shifted = np.r_[_sma(x.close, 10)[1:], np.nan]  # indicator shifted by -1: uses close[i + 1]
        return np.where(x.close > np.nan_to_num(shifted, nan=np.inf), 1, 0).astype(np.int8)

    cuts = [60, 120, 180, 240]
    ok = check_lookahead("honest_sma", bars=s, cuts=cuts, decisions=honest)
    assert ok.ok, ok.summary()
    bad = check_lookahead("peeking_sma", bars=s, cuts=cuts, decisions=peeking)
    assert not bad.ok and "FAILED" in bad.summary()
    caught = [c for c in bad.cuts if not c.ok]
    assert caught, bad.summary()
    # the full run knew close[cut] at bar cut - 1; the truncated run did not: the first difference is there
    assert all(c.first_target_diff in (None, c.cut - 1) for c in bad.cuts)
    assert any(c.first_target_diff == c.cut - 1 for c in caught)


def test_lookahead_check_catches_peeking_at_the_next_open():
    """A source that peeks at the next bar's open (a price it could trade at) is caught as well."""
    s = series(200, 8, vol=0.02)

    def peeking(x):
        nxt = np.r_[x.open[1:], x.open[-1]]
        return np.where(nxt > x.close, 1, 0).astype(np.int8)

    report = check_lookahead("peek_open", bars=s, cuts=[50, 100, 150], decisions=peeking)
    assert not report.ok
    assert any(c.first_target_diff == c.cut - 1 for c in report.cuts)
    with pytest.raises(ValueError, match="shape"):
        check_lookahead("bad_shape", bars=s, cuts=[50], decisions=lambda x: np.zeros(3, np.int8))
