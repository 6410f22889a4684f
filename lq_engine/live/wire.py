"""The venue's wire format: events and order states as JSON-able dicts (exact float round trip)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from lq_engine.core.events import EventKind, FillEvent, OrderEvent
from lq_engine.core.outbox import OrderIntent
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.orders import Bracket, Order


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def event_to_dict(e: OrderEvent | FillEvent) -> dict[str, Any]:
    if isinstance(e, FillEvent):
        return {"t": "fill", "ts": e.timestamp_ns, "seq": e.sequence, "order_id": e.order_id, "symbol": e.symbol,
                "side": e.side, "quantity": e.quantity, "price": e.price, "fee": e.fee, "liquidity": e.liquidity,
                "reason": e.reason}
    return {"t": "order", "ts": e.timestamp_ns, "seq": e.sequence, "kind": e.kind.name, "order_id": e.order_id,
            "symbol": e.symbol, "reason": e.reason}


def event_from_dict(d: dict[str, Any]) -> OrderEvent | FillEvent:
    if d["t"] == "fill":
        return FillEvent(d["ts"], d["seq"], d["order_id"], d["symbol"], d["side"], d["quantity"], d["price"],
                         d["fee"], d["liquidity"], d["reason"])
    return OrderEvent(d["ts"], d["seq"], EventKind[d["kind"]], d["order_id"], d["symbol"], d["reason"])


def order_state(o: Order, working: bool) -> dict[str, Any]:
    return {"order_id": o.order_id, "status": o.status.value, "symbol": o.symbol, "side": o.side,
            "quantity": o.quantity, "filled": o.filled, "avg_price": o.avg_fill_price, "parent_id": o.parent_id,
            "sequence": o.sequence, "working": working}


def intent_from_order(client_order_id: str, order: Order, created_ns: int) -> OrderIntent:
    """The outbox intent of one of the engine's NEW market orders (bracket levels and fixed fee kept)."""
    b = order.bracket
    details: dict[str, Any] = {"fixed_fee": order.fixed_fee}
    if order.resize:
        details["resize"] = True
    if b is not None:
        details.update(stop_loss=b.stop_loss, take_profit=b.take_profit, trailing_distance=b.trailing_distance)
    return OrderIntent(client_order_id, order.symbol, order.side, order.quantity, order.order_type.value,
                       created_ns, details)


def order_from_intent(intent: OrderIntent) -> Order:
    d = intent.details
    bracket = None
    if "stop_loss" in d:
        bracket = Bracket(d["stop_loss"], d["take_profit"], d["trailing_distance"])
    return Order(intent.client_order_id, intent.symbol, intent.side, intent.quantity, bracket=bracket,
                 fixed_fee=d.get("fixed_fee", math.nan), resize=bool(d.get("resize", False)))


def intent_to_dict(i: OrderIntent) -> dict[str, Any]:
    return asdict(i)


def intent_from_dict(d: dict[str, Any]) -> OrderIntent:
    return OrderIntent(**d)


def config_to_dict(c: ExecutionConfig) -> dict[str, Any]:
    return asdict(c)
