import math

import pytest
from hypothesis import given, settings, strategies as st

from lq_engine.core.events import BarEvent, FillEvent, OrderEvent
from lq_engine.core.sequencer import Sequencer
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.orders import Bracket, Order, OrderStatus
from lq_engine.execution.portfolio import Portfolio
from lq_engine.execution.fillmath import PY, TRIGGER_NONE
from lq_engine.execution.venue import SimulatedVenue, _ArmedBracket

CFG = ExecutionConfig(fee_taker=0.001, fee_maker=0.0005, spread_bps=2.0, slippage_bps=1.0,
                      slippage_vol_k=0.05, liquidity_cap=None)


def bar(i, o, h, lo, c, v=1e9, sym="X"):
    return BarEvent(i, 1000 + i, sym, float(o), float(h), float(lo), float(c), float(v))


def fills(events):
    return [e for e in events if isinstance(e, FillEvent)]


def kinds(events):
    return [(e.order_id, e.kind.name) for e in events if isinstance(e, OrderEvent)]


def adverse(prev_h, prev_l, prev_c, cfg=CFG):
    return cfg.spread_bps * 0.5e-4 + cfg.slippage_bps * 1e-4 + cfg.slippage_vol_k * (prev_h - prev_l) / prev_c


def enter(venue, side, bracket, qty=10.0):
    """Bar 0 establishes the prev bar; the order is submitted after it and fills at bar 1's open."""
    venue.on_bar(bar(0, 100, 102, 98, 100))
    ev = venue.submit(Order("E", "X", side, qty, bracket=bracket), 0)
    assert kinds(ev) == [("E", "ORDER_ACCEPTED")]


def test_market_order_fills_at_next_open_with_costs_by_hand():
    v = SimulatedVenue(CFG, Sequencer())
    enter(v, 1, None)
    (f,) = fills(v.on_bar(bar(1, 100, 103, 99, 101)))
    assert f.price == pytest.approx(100 * (1 + 0.0022), rel=1e-14)
    assert f.fee == pytest.approx(10 * 100.22 * 0.001, rel=1e-14)
    assert (f.timestamp_ns, f.side, f.quantity, f.liquidity, f.reason) == (1, 1, 10.0, "taker", "market")
    assert v.orders["E"].status is OrderStatus.FILLED


def test_long_stop_gapped_through_fills_at_open():
    v = SimulatedVenue(CFG, Sequencer())
    enter(v, 1, Bracket(stop_loss=95.0, take_profit=110.0))
    v.on_bar(bar(1, 100, 101, 99, 100))
    ev = v.on_bar(bar(2, 90, 93, 89, 92))
    (f,) = fills(ev)
    assert f.order_id == "E-SL" and f.side == -1 and f.reason == "stop"
    assert f.price == pytest.approx(90 * (1 - adverse(101, 99, 100)), rel=1e-14)
    assert ("E-TP", "ORDER_CANCELLED") in kinds(ev)
    assert v.orders["E-TP"].status is OrderStatus.CANCELLED


def test_short_stop_gapped_through_fills_at_open():
    v = SimulatedVenue(CFG, Sequencer())
    enter(v, -1, Bracket(stop_loss=105.0, take_profit=90.0))
    v.on_bar(bar(1, 100, 101, 99, 100))
    (f,) = fills(v.on_bar(bar(2, 108, 109, 104, 106)))
    assert f.order_id == "E-SL" and f.side == 1
    assert f.price == pytest.approx(108 * (1 + adverse(101, 99, 100)), rel=1e-14)


def test_stop_and_target_in_one_bar_stop_wins_and_target_is_cancelled():
    v = SimulatedVenue(CFG, Sequencer())
    enter(v, 1, Bracket(stop_loss=95.0, take_profit=110.0))
    v.on_bar(bar(1, 100, 101, 99, 100))
    ev = v.on_bar(bar(2, 100, 111, 94, 105))
    (f,) = fills(ev)
    assert f.order_id == "E-SL" and f.price == pytest.approx(95 * (1 - adverse(101, 99, 100)), rel=1e-14)
    assert kinds(ev) == [("E-SL", "ORDER_TRIGGERED"), ("E-TP", "ORDER_CANCELLED")]


def test_take_profit_long_and_short_fill_at_target_with_maker_fee():
    for side, br, ohlc, target in ((1, Bracket(95.0, 110.0), (100, 111, 99, 105), 110.0),
                                   (-1, Bracket(105.0, 90.0), (100, 101, 89, 95), 90.0)):
        v = SimulatedVenue(CFG, Sequencer())
        enter(v, side, br)
        v.on_bar(bar(1, 100, 101, 99, 100))
        (f,) = fills(v.on_bar(bar(2, *ohlc)))
        assert f.reason == "take_profit" and f.liquidity == "maker" and f.price == target
        assert f.fee == pytest.approx(10 * target * 0.0005, rel=1e-14)
        assert v.orders["E-SL"].status is OrderStatus.CANCELLED


def test_trailing_stop_long_uses_earlier_extremes_only():
    v = SimulatedVenue(CFG, Sequencer())
    enter(v, 1, Bracket(trailing_distance=3.0))
    # entry bar: extreme starts at the open (100); its own high 104 must not tighten its check
    assert fills(v.on_bar(bar(1, 100, 104, 97.5, 103)))[0].order_id == "E"
    assert v.orders["E-TS"].is_open
    # now the level is 104 - 3 = 101
    (f,) = fills(v.on_bar(bar(2, 103, 103.5, 100.5, 101)))
    assert f.order_id == "E-TS" and f.reason == "trailing_stop"
    assert f.price == pytest.approx(101 * (1 - adverse(104, 97.5, 103)), rel=1e-14)


def test_trailing_stop_short():
    v = SimulatedVenue(CFG, Sequencer())
    enter(v, -1, Bracket(trailing_distance=2.0))
    v.on_bar(bar(1, 100, 100.5, 95, 96))  # extreme 95 after this bar -> level 97
    assert v.orders["E-TS"].is_open
    (f,) = fills(v.on_bar(bar(2, 96, 97.5, 95.5, 97)))
    assert f.order_id == "E-TS" and f.side == 1
    assert f.price == pytest.approx(97 * (1 + adverse(100.5, 95, 96)), rel=1e-14)


def test_partial_fills_under_liquidity_cap_carry_to_next_bars():
    cfg = ExecutionConfig(fee_taker=0.001, spread_bps=0.0, slippage_bps=0.0, slippage_vol_k=0.0, liquidity_cap=0.1)
    v = SimulatedVenue(cfg, Sequencer())
    v.submit(Order("A", "X", 1, 25.0), 0)
    v.submit(Order("B", "X", 1, 5.0), 0)
    f1 = fills(v.on_bar(bar(1, 100, 101, 99, 100, v=100)))
    assert [(f.order_id, f.quantity, f.price) for f in f1] == [("A", 10.0, 100.0)]
    assert v.orders["A"].status is OrderStatus.PARTIALLY_FILLED and v.orders["B"].status is OrderStatus.ACCEPTED
    f2 = fills(v.on_bar(bar(2, 102, 103, 101, 102, v=120)))
    assert [(f.order_id, f.quantity, f.price) for f in f2] == [("A", 12.0, 102.0)]
    f3 = fills(v.on_bar(bar(3, 104, 105, 103, 104, v=100)))
    assert [(f.order_id, f.quantity) for f in f3] == [("A", 3.0), ("B", 5.0)]
    assert v.orders["A"].status is OrderStatus.FILLED and v.orders["A"].filled == 25.0
    assert v.orders["A"].avg_fill_price == pytest.approx((10 * 100 + 12 * 102 + 3 * 104) / 25)
    assert v.open_orders() == []


def test_capped_stop_exit_carries_remainder_to_next_open():
    cfg = ExecutionConfig(spread_bps=0.0, slippage_bps=0.0, slippage_vol_k=0.0, liquidity_cap=0.5)
    v = SimulatedVenue(cfg, Sequencer())
    v.submit(Order("E", "X", 1, 10.0, bracket=Bracket(stop_loss=95.0)), 0)
    v.on_bar(bar(1, 100, 101, 99, 100, v=100))
    f = fills(v.on_bar(bar(2, 99, 99, 94, 95, v=8)))
    assert [(x.order_id, x.quantity, x.price) for x in f] == [("E-SL", 4.0, 95.0)]
    f = fills(v.on_bar(bar(3, 93, 94, 92, 93, v=100)))
    assert [(x.order_id, x.quantity, x.price, x.reason) for x in f] == [("E-SL", 6.0, 93.0, "stop")]
    assert v.orders["E-SL"].status is OrderStatus.FILLED


def test_expiry_rejection_cancel_and_opposite_order_cancels_bracket():
    v = SimulatedVenue(CFG, Sequencer())
    ev = v.submit(Order("BAD", "X", 1, -1.0), 0)
    assert kinds(ev) == [("BAD", "ORDER_REJECTED")] and "quantity" in ev[0].reason
    v.submit(Order("T", "X", 1, 1.0, expire_ns=5), 0)
    ev = v.on_bar(bar(5, 100, 101, 99, 100))
    assert kinds(ev) == [("T", "ORDER_EXPIRED")] and fills(ev) == []
    v.submit(Order("E", "X", 1, 1.0, bracket=Bracket(stop_loss=90.0, take_profit=120.0)), 5)
    v.on_bar(bar(6, 100, 101, 99, 100))
    v.submit(Order("C", "X", -1, 1.0), 6)
    ev = v.on_bar(bar(7, 100, 101, 99, 100))
    assert [f.order_id for f in fills(ev)] == ["C"]
    assert ("E-SL", "ORDER_CANCELLED") in kinds(ev) and ("E-TP", "ORDER_CANCELLED") in kinds(ev)
    v.submit(Order("L", "X", 1, 1.0), 7)
    assert kinds(v.cancel("L", 7)) == [("L", "ORDER_CANCELLED")]
    assert fills(v.on_bar(bar(8, 100, 101, 99, 100))) == []
    with pytest.raises(ValueError, match="only NEW"):
        v.submit(v.orders["L"], 8)


def test_portfolio_books_fills_with_the_compiled_accounting():
    v = SimulatedVenue(CFG, Sequencer())
    p = Portfolio(10_000.0)
    enter(v, 1, Bracket(stop_loss=95.0))
    for b in (bar(1, 100, 101, 99, 100), bar(2, 90, 93, 89, 92)):
        for f in fills(v.on_bar(b)):
            p.apply(f)
    entry, exit_ = v.orders["E"].avg_fill_price, v.orders["E-SL"].avg_fill_price
    fees = 10 * entry * 0.001 + 10 * exit_ * 0.001
    assert p.position("X") == 0.0
    assert p.cash == pytest.approx(10_000 + 10 * (exit_ - entry) - fees, rel=1e-12)
    assert p.equity({"X": 92.0}) == p.cash
    assert not math.isnan(p.realized_pnl) and p.realized_pnl == pytest.approx(10 * (exit_ - entry))


level = st.one_of(st.just(math.nan), st.floats(90.0, 110.0))
price = st.one_of(st.just(math.nan), st.floats(85.0, 115.0))


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from([1, -1]), level, level, level, price, price, price)
def test_bracket_band_never_hides_a_trigger(direction, stop, take_profit, trail_stop, open_, a, b):
    """A bar inside an armed bracket's band (the venue skips bracket_trigger for it) triggers nothing."""
    armed = _ArmedBracket(None, direction, {}, stop, take_profit, 1.0, math.nan, trail_stop)
    armed.set_band()
    high, low = max(a, b), min(a, b)
    if armed.floor < low and high < armed.ceiling and armed.floor < open_ < armed.ceiling:
        assert PY.bracket_trigger(direction, open_, high, low, stop, take_profit, trail_stop)[0] == TRIGGER_NONE
    if any(x == x for x in (stop, take_profit, trail_stop)):
        assert (armed.floor, armed.ceiling) != (-math.inf, math.inf)  # any leg narrows the band
