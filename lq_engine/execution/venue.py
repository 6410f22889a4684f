"""The simulated venue: applies the execution model to one bar at a time and emits events.

Per bar of a symbol, in this order (docs/explanations/execution-model.md states the same as numbered rules; the compiled
replay follows the same steps with the same fillmath functions):
1. working orders whose ``expire_ns`` <= bar ts expire;
2. working orders (market orders and triggered exit remainders), in submission order, fill at the
   bar open as takers, each taking what is left of the bar's liquidity budget; a parent's first
   fill arms its bracket; a fill by a non-bracket order against a bracket's direction cancels that
   bracket, except a resize, whose fills change the legs' quantity instead;
3. armed brackets, in arming order, are checked against the bar (``bracket_trigger``): the
   triggered leg fills (capped; its remainder carries to the next open), the other legs and the
   parent's unfilled remainder are cancelled (one-cancels-other);
4. surviving trailing stops fold the bar's high/low into their extreme;
5. the bar's high/low/close become the volatility reference for the next bar's fills.

Each symbol's state (working orders, armed brackets, previous bar) sits in one ``_Book``: the usual
bar costs one dict lookup. An armed bracket keeps the band of prices it can trade in without any leg
triggering (``floor``, ``ceiling``): a bar inside it skips ``bracket_trigger``, and the trailing stop
is refolded only when the bar moves its extreme (otherwise ``trailing_update`` returns what is held).
"""

from __future__ import annotations

import math
from bisect import insort
from dataclasses import dataclass

from lq_engine.core.events import BarEvent, EventKind, FillEvent, OrderEvent
from lq_engine.core.sequencer import Sequencer
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.fillmath import PY, TRIGGER_NONE, TRIGGER_STOP, TRIGGER_TAKE_PROFIT, TRIGGER_TRAILING_STOP
from lq_engine.execution.orders import TERMINAL, Order, OrderStatus, OrderType

Event = OrderEvent | FillEvent

# the fill arithmetic's pure-Python twins (fillmath.PY: the compiled functions' own source, no numba
# dispatch per call, bit-identical results)
bracket_trigger = PY.bracket_trigger
capped_quantity = PY.capped_quantity
fill_fee = PY.fill_fee
liquidity_budget = PY.liquidity_budget
market_fill_price = PY.market_fill_price
market_order_fill = PY.market_order_fill
trailing_update = PY.trailing_update

# Enum members bound once: attribute access on an Enum class costs ~0.2 us in Python 3.11.
_K_ORDER_ACCEPTED = EventKind.ORDER_ACCEPTED
_K_ORDER_CANCELLED = EventKind.ORDER_CANCELLED
_K_ORDER_EXPIRED = EventKind.ORDER_EXPIRED
_K_ORDER_REJECTED = EventKind.ORDER_REJECTED
_K_ORDER_TRIGGERED = EventKind.ORDER_TRIGGERED
_S_ACCEPTED = OrderStatus.ACCEPTED
_S_CANCELLED = OrderStatus.CANCELLED
_S_EXPIRED = OrderStatus.EXPIRED
_S_NEW = OrderStatus.NEW
_S_REJECTED = OrderStatus.REJECTED
_S_TRIGGERED = OrderStatus.TRIGGERED
_T_MARKET = OrderType.MARKET
_T_STOP = OrderType.STOP
_T_TAKE_PROFIT = OrderType.TAKE_PROFIT
_T_TRAILING_STOP = OrderType.TRAILING_STOP

_REASON = {
    _T_MARKET: "market",
    _T_STOP: "stop",
    _T_TAKE_PROFIT: "take_profit",
    _T_TRAILING_STOP: "trailing_stop",
}
_LEG_SUFFIX = {_T_STOP: "SL", _T_TAKE_PROFIT: "TP", _T_TRAILING_STOP: "TS"}
_LEG_OF_TRIGGER = {
    TRIGGER_STOP: _T_STOP,
    TRIGGER_TAKE_PROFIT: _T_TAKE_PROFIT,
    TRIGGER_TRAILING_STOP: _T_TRAILING_STOP,
}


@dataclass(slots=True, eq=False)
class _ArmedBracket:
    parent: Order
    direction: int
    legs: dict[OrderType, Order]
    stop: float
    take_profit: float
    trail_distance: float
    extreme: float
    trail_stop: float
    # no leg triggers on a bar with floor < low, high < ceiling and the open strictly between (set_band)
    floor: float = -math.inf
    ceiling: float = math.inf

    def set_band(self) -> None:
        """Recompute ``floor``/``ceiling`` from the levels (call after any level changes).

        ``bracket_trigger`` fires a long's stop at the tighter of stop and trailing stop, i.e. when the
        open or low reaches either, and its target when the open or high reaches it (short: mirrored).
        NaN levels are absent legs; comparisons with a NaN bar value fail, so such a bar is never
        "inside" and goes through ``bracket_trigger``.
        """
        s, t, tp = self.stop, self.trail_stop, self.take_profit
        if self.direction > 0:
            floor = s if s == s else -math.inf
            if t == t and t > floor:
                floor = t
            self.floor, self.ceiling = floor, (tp if tp == tp else math.inf)
        else:
            ceiling = s if s == s else math.inf
            if t == t and t < ceiling:
                ceiling = t
            self.floor, self.ceiling = (tp if tp == tp else -math.inf), ceiling


class _Book:
    """One symbol's state at the venue."""

    __slots__ = ("working", "brackets", "prev_high", "prev_low", "prev_close")

    def __init__(self) -> None:
        self.working: list[Order] = []  # fill at the next open, in submission order
        self.brackets: list[_ArmedBracket] = []  # in arming order
        # the last bar seen (NaN before the first): the volatility reference of fills at the next open
        self.prev_high = self.prev_low = self.prev_close = math.nan


_NO_PREV = (math.nan, math.nan, math.nan)


def _by_sequence(order: Order) -> int:
    return order.sequence


class SimulatedVenue:
    def __init__(self, config: ExecutionConfig, sequencer: Sequencer) -> None:
        self.config = config
        self._seq = sequencer
        self.orders: dict[str, Order] = {}
        self._books: dict[str, _Book] = {}
        self._armed: dict[str, _ArmedBracket] = {}  # parent id -> bracket
        self._order_counter = 0
        self._cap = config.cap
        self._basis = config.basis_code

    # -- order entry ---------------------------------------------------------------------------

    def submit(self, order: Order, ts_ns: int) -> list[Event]:
        """Accept (working from the next bar on) or reject a NEW market order."""
        if order.status is not _S_NEW:
            raise ValueError(f"order {order.order_id}: only NEW orders can be submitted, it is {order.status.value}")
        problem = self._problem(order)
        if problem is not None:
            order.reject_reason = problem
            order.transition(_S_REJECTED)
            if order.order_id not in self.orders:
                self.orders[order.order_id] = order
            return [self._order_event(_K_ORDER_REJECTED, order, ts_ns, problem)]
        order.created_ns = ts_ns
        order.sequence = self._next_order_sequence()
        order.transition(_S_ACCEPTED)
        self.orders[order.order_id] = order
        self._book(order.symbol).working.append(order)
        return [self._order_event(_K_ORDER_ACCEPTED, order, ts_ns)]

    def cancel(self, order_id: str, ts_ns: int) -> list[Event]:
        order = self.orders.get(order_id)
        if order is None:
            raise KeyError(f"cancel: unknown order id {order_id!r}")
        events: list[Event] = []
        if order.parent_id is not None:
            armed = self._armed.get(order.parent_id)
            if armed is not None:
                armed.legs.pop(order.order_type, None)
                if order.order_type is _T_STOP:
                    armed.stop = math.nan
                elif order.order_type is _T_TAKE_PROFIT:
                    armed.take_profit = math.nan
                elif order.order_type is _T_TRAILING_STOP:
                    armed.trail_distance = armed.trail_stop = math.nan
                armed.set_band()
                if not armed.legs:
                    self._disarm(armed)
        self._cancel(order, ts_ns, "cancelled by request", events)
        return events

    def working_orders(self, symbol: str) -> list[Order]:
        """Orders that fill at the next bar's open, in fill order (market orders, triggered exit remainders)."""
        book = self._books.get(symbol)
        return [] if book is None else [o for o in book.working if o.status not in TERMINAL]

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    # -- bar processing ------------------------------------------------------------------------

    def prev_bar(self, symbol: str) -> tuple[float, float, float]:
        """(high, low, close) of the last bar of ``symbol`` seen (NaNs before the first): the
        volatility reference of fills at the next open."""
        book = self._books.get(symbol)
        return _NO_PREV if book is None else (book.prev_high, book.prev_low, book.prev_close)

    def on_bar(self, bar: BarEvent) -> list[Event]:
        sym = bar.symbol
        try:
            book = self._books[sym]
        except KeyError:
            book = self._book(sym)
        working = book.working
        brackets = book.brackets
        if not working:
            if not brackets:  # the common bar: nothing working, nothing armed
                book.prev_high, book.prev_low, book.prev_close = bar.high, bar.low, bar.close
                return []
            if len(brackets) == 1:  # one bracket held (the usual bar of a position)
                armed = brackets[0]
                high, low = bar.high, bar.low
                if armed.floor < low and high < armed.ceiling and armed.floor < bar.open < armed.ceiling:
                    # inside the band: nothing triggers -> steps 4, 5 only
                    d = armed.trail_distance
                    if d == d and (high > armed.extreme if armed.direction > 0 else low < armed.extreme):
                        armed.extreme, armed.trail_stop = trailing_update(armed.direction, armed.extreme, high,
                                                                          low, d)
                        armed.set_band()
                    book.prev_high, book.prev_low, book.prev_close = high, low, bar.close
                    return []
        events: list[Event] = []
        cfg = self.config
        ts = bar.timestamp_ns
        budget = None  # the bar's liquidity budget, computed when something fills

        if working:
            prev_high, prev_low, prev_close = book.prev_high, book.prev_low, book.prev_close
            budget = liquidity_budget(bar.volume, self._cap)
            for order in [o for o in working if o.expire_ns is not None and ts >= o.expire_ns]:
                working.remove(order)
                order.transition(_S_EXPIRED)
                events.append(self._order_event(_K_ORDER_EXPIRED, order, ts, "good-till-time reached"))
            for order in list(working):
                if order.status in TERMINAL:  # cancelled by an earlier fill in this loop (OCO)
                    continue
                qty = capped_quantity(order.quantity - order.filled, budget)
                if qty <= 0.0:
                    continue
                budget -= qty
                if order.parent_id is None:
                    price, fee = market_order_fill(
                        self._basis, bar.open, order.side, qty, order.quantity, order.fixed_fee, cfg.fee_taker,
                        cfg.spread_bps, cfg.slippage_bps, cfg.slippage_vol_k, prev_high, prev_low, prev_close,
                    )
                    self._fill(order, qty, price, fee, "taker", ts, events)
                else:  # a triggered exit's remainder, carried: taker at the open
                    price = market_fill_price(
                        bar.open, order.side, cfg.spread_bps, cfg.slippage_bps, cfg.slippage_vol_k,
                        prev_high, prev_low, prev_close,
                    )
                    self._fill(order, qty, price, fill_fee(qty, price, cfg.fee_taker), "taker", ts, events)
                if order.bracket is not None:
                    self._arm(order, qty, bar.open, ts, events)
                elif order.resize:
                    for armed in book.brackets:  # the legs follow the new size
                        for leg in armed.legs.values():
                            leg.quantity = leg.quantity + order.side * armed.direction * qty
                elif order.parent_id is None:
                    self._cancel_brackets_against(book, order.side, ts, events)
            working = book.working = [o for o in book.working if o.status not in TERMINAL]

        if brackets:
            high, low = bar.high, bar.low
            # a single bracket (the usual case) is iterated in place: disarming it ends the loop
            for armed in brackets if len(brackets) == 1 else list(brackets):
                if armed.floor < low and high < armed.ceiling and armed.floor < bar.open < armed.ceiling:
                    continue  # inside the band: bracket_trigger would say TRIGGER_NONE
                code, raw = bracket_trigger(
                    armed.direction, bar.open, high, low, armed.stop, armed.take_profit, armed.trail_stop
                )
                if code == TRIGGER_NONE:
                    continue
                leg = armed.legs[_LEG_OF_TRIGGER[code]]
                self._disarm(armed)
                leg.transition(_S_TRIGGERED)
                events.append(self._order_event(_K_ORDER_TRIGGERED, leg, ts, f"level {raw!r}"))
                for other in armed.legs.values():
                    if other is not leg:
                        self._cancel(other, ts, "one-cancels-other", events)
                if armed.parent.status not in TERMINAL:
                    self._cancel(armed.parent, ts, "bracket exit triggered", events)
                if budget is None:
                    budget = liquidity_budget(bar.volume, self._cap)
                qty = capped_quantity(leg.quantity - leg.filled, budget)
                if qty > 0.0:
                    budget -= qty
                    if code == TRIGGER_TAKE_PROFIT:
                        self._fill(leg, qty, raw, fill_fee(qty, raw, cfg.fee_maker), "maker", ts, events)
                    else:
                        price = market_fill_price(
                            raw, leg.side, cfg.spread_bps, cfg.slippage_bps, cfg.slippage_vol_k,
                            book.prev_high, book.prev_low, book.prev_close,
                        )
                        self._fill(leg, qty, price, fill_fee(qty, price, cfg.fee_taker), "taker", ts, events)
                if leg.status not in TERMINAL:
                    insort(book.working, leg, key=_by_sequence)
            for armed in brackets:
                if armed.trail_distance == armed.trail_distance:
                    armed.extreme, armed.trail_stop = trailing_update(
                        armed.direction, armed.extreme, high, low, armed.trail_distance
                    )
                    armed.set_band()

        book.prev_high, book.prev_low, book.prev_close = bar.high, bar.low, bar.close
        return events

    # -- internals -----------------------------------------------------------------------------

    def _book(self, symbol: str) -> _Book:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _Book()
        return book

    def _problem(self, order: Order) -> str | None:
        if order.order_id in self.orders:
            return f"duplicate order id {order.order_id!r}"
        if order.order_type is not _T_MARKET:
            return ("only MARKET orders can be submitted (bracket legs are created by the venue), "
                    f"got {order.order_type.value}")
        if order.side not in (1, -1):
            return f"side must be +1 or -1, got {order.side!r}"
        if not (math.isfinite(order.quantity) and order.quantity > 0.0):
            return f"quantity must be finite and > 0, got {order.quantity!r}"
        if self.config.cost_basis == "equity" and not (math.isfinite(order.fixed_fee) and order.fixed_fee >= 0.0):
            return f"cost basis 'equity' needs a finite fixed_fee >= 0 on each market order, got {order.fixed_fee!r}"
        if order.bracket is not None:
            return order.bracket.problem(order.side)
        return None

    def _next_order_sequence(self) -> int:
        self._order_counter += 1
        return self._order_counter

    def _order_event(self, kind: EventKind, order: Order, ts: int, reason: str = "") -> OrderEvent:
        return OrderEvent(ts, self._seq.next(), kind, order.order_id, order.symbol, reason)

    def _fill(self, order: Order, qty: float, price: float, fee: float, liq: str, ts: int, events: list) -> None:
        order.record_fill(qty, price)
        events.append(
            FillEvent(ts, self._seq.next(), order.order_id, order.symbol, order.side, qty, price, fee, liq,
                      "resize" if order.resize else _REASON[order.order_type])
        )

    def _cancel(self, order: Order, ts: int, reason: str, events: list) -> None:
        if not order.is_open:
            return
        order.transition(_S_CANCELLED)
        book = self._books.get(order.symbol)
        if book is not None and order in book.working:
            book.working.remove(order)
        events.append(self._order_event(_K_ORDER_CANCELLED, order, ts, reason))

    def _arm(self, parent: Order, qty: float, open_: float, ts: int, events: list) -> None:
        armed = self._armed.get(parent.order_id)
        if armed is not None:  # a later partial fill of the entry: the legs protect it too
            for leg in armed.legs.values():
                leg.quantity = parent.filled
            return
        b = parent.bracket
        assert b is not None
        legs: dict[OrderType, Order] = {}
        for leg_type, level in (
            (_T_STOP, b.stop_loss),
            (_T_TAKE_PROFIT, b.take_profit),
            (_T_TRAILING_STOP, b.trailing_distance),
        ):
            if math.isnan(level):
                continue
            leg = Order(
                f"{parent.order_id}-{_LEG_SUFFIX[leg_type]}", parent.symbol, -parent.side, parent.filled,
                leg_type, created_ns=ts, sequence=self._next_order_sequence(), parent_id=parent.order_id,
                trigger_price=level,
            )
            leg.transition(_S_ACCEPTED)
            self.orders[leg.order_id] = leg
            legs[leg_type] = leg
            events.append(self._order_event(_K_ORDER_ACCEPTED, leg, ts, "bracket leg armed"))
        extreme, trail_stop = math.nan, math.nan
        if not math.isnan(b.trailing_distance):
            extreme, trail_stop = trailing_update(parent.side, open_, open_, open_, b.trailing_distance)
        armed = _ArmedBracket(parent, parent.side, legs, b.stop_loss, b.take_profit, b.trailing_distance,
                              extreme, trail_stop)
        armed.set_band()
        self._armed[parent.order_id] = armed
        self._book(parent.symbol).brackets.append(armed)

    def _disarm(self, armed: _ArmedBracket) -> None:
        self._armed.pop(armed.parent.order_id, None)
        self._books[armed.parent.symbol].brackets.remove(armed)

    def _cancel_brackets_against(self, book: _Book, side: int, ts: int, events: list) -> None:
        for armed in [a for a in book.brackets if a.direction == -side]:
            self._disarm(armed)
            for leg in armed.legs.values():
                self._cancel(leg, ts, "position changed by an opposite order", events)
            self._cancel(armed.parent, ts, "position changed by an opposite order", events)
