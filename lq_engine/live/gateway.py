"""The event engine's venue, as seen from the trader: the outbox between decision and venue.

``VenueGateway`` has the interface the event engine uses of ``SimulatedVenue`` (``submit``,
``cancel``, ``on_bar``, ``working_orders``, ``orders``), so an unmodified ``EventEngine`` runs
against it. A submit commits the intent with its idempotent client order id before sending it;
orders are known here only from the venue's execution reports (a local mirror, part of the
snapshot), never by reaching into the venue.
"""

from __future__ import annotations

from dataclasses import dataclass

from lq_engine.core.events import BarEvent, FillEvent
from lq_engine.execution.orders import Order, OrderStatus, TERMINAL
from lq_engine.live.crashpoints import crash_point
from lq_engine.live.trader_store import SqliteOutbox
from lq_engine.live.venue_service import DurableVenue, Report
from lq_engine.live.wire import event_from_dict, intent_from_order


@dataclass(slots=True)
class OrderView:
    """An order as the venue last reported it."""

    order_id: str
    status: OrderStatus
    symbol: str
    side: int
    quantity: float
    filled: float
    avg_fill_price: float
    parent_id: str | None
    sequence: int
    working: bool  # fills at the next open (market order or triggered exit remainder)

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    def to_dict(self) -> dict:
        return {"order_id": self.order_id, "status": self.status.value, "symbol": self.symbol, "side": self.side,
                "quantity": self.quantity, "filled": self.filled, "avg_price": self.avg_fill_price,
                "parent_id": self.parent_id, "sequence": self.sequence, "working": self.working}

    @classmethod
    def from_dict(cls, d: dict) -> OrderView:
        return cls(d["order_id"], OrderStatus(d["status"]), d["symbol"], d["side"], d["quantity"], d["filled"],
                   d["avg_price"], d["parent_id"], d["sequence"], d["working"])


class VenueGateway:
    def __init__(self, venue: DurableVenue, outbox: SqliteOutbox, run_id: str) -> None:
        self.venue = venue
        self.outbox = outbox
        self.run_id = run_id
        self.orders: dict[str, OrderView] = {}
        self.new_fills: list[FillEvent] = []  # since the last end-of-bar commit
        self.changed: set[str] = set()
        # the trader's own view of the last completed bar per symbol (the sizing's volatility
        # reference), as SimulatedVenue.prev_bar keeps it: the venue is another party
        self.prev_bars: dict[str, tuple[float, float, float]] = {}

    def client_order_id(self, order: Order) -> str:
        return f"{self.run_id}:{order.order_id}"

    def submit(self, order: Order, ts_ns: int) -> list:
        intent = intent_from_order(self.client_order_id(order), order, ts_ns)
        self.outbox.add_intent(intent)
        crash_point("intent_committed")
        self.outbox.mark_sent(intent.client_order_id, ts_ns)
        reports = self.venue.submit(intent, ts_ns)
        crash_point("sent")
        self.outbox.mark_acknowledged(intent.client_order_id, ts_ns, intent.client_order_id)
        return self._apply(reports)

    def cancel(self, order_id: str, ts_ns: int) -> list:
        return self._apply(self.venue.cancel(order_id, ts_ns))

    def on_bar(self, bar: BarEvent) -> list:
        events = self._apply(self.venue.on_bar(bar))
        self.prev_bars[bar.symbol] = (bar.high, bar.low, bar.close)
        if any(isinstance(e, FillEvent) for e in events):
            crash_point("fill_unrecorded")
        return events

    def prev_bar(self, symbol: str) -> tuple[float, float, float]:
        nan = float("nan")
        return self.prev_bars.get(symbol, (nan, nan, nan))

    def working_orders(self, symbol: str) -> list[OrderView]:
        return sorted((o for o in self.orders.values() if o.working and o.is_open and o.symbol == symbol),
                      key=lambda o: o.sequence)

    def open_orders(self, symbol: str | None = None) -> list[OrderView]:
        return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    def forget_closed(self) -> None:
        """Drop terminal orders from the mirror (the engine never asks about them again)."""
        self.orders = {k: v for k, v in self.orders.items() if v.is_open}

    def _apply(self, reports: list[Report]) -> list:
        events = []
        for r in reports:
            e = event_from_dict(r["event"])
            self.orders[e.order_id] = OrderView.from_dict(r["order"])
            self.changed.add(e.order_id)
            if isinstance(e, FillEvent):
                self.new_fills.append(e)
            events.append(e)
        return events
