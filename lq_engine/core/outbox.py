"""Outbox of order intents: an intent is committed before it is sent, so a crash never loses one.

Idempotency rests on the client order id: adding the same intent twice is a no-op, adding a
*different* intent under an existing id is an error. The lifecycle is PENDING (committed, not yet
sent) -> SENT -> ACKNOWLEDGED (the venue confirmed it). After a restart, ``pending()`` lists what
must be (re-)sent: everything not acknowledged, in the order it was added; the venue dedupes on
the client order id. The durable SQLite implementation lives elsewhere and follows this Protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol


class IntentStatus(str, Enum):
    PENDING = "PENDING"
    SENT = "SENT"
    ACKNOWLEDGED = "ACKNOWLEDGED"


class OutboxError(ValueError):
    pass


@dataclass(frozen=True)
class OrderIntent:
    client_order_id: str
    symbol: str
    side: int  # +1 buy, -1 sell
    quantity: float
    order_type: str = "MARKET"
    created_ns: int = 0
    details: dict[str, Any] = field(default_factory=dict)  # e.g. bracket prices; JSON-serializable

    def __post_init__(self) -> None:
        if not self.client_order_id:
            raise OutboxError("order intent: client_order_id must be non-empty")
        if self.side not in (1, -1):
            raise OutboxError(f"order intent {self.client_order_id}: side must be +1 or -1, got {self.side}")
        if not self.quantity > 0:
            raise OutboxError(f"order intent {self.client_order_id}: quantity must be > 0, got {self.quantity}")


@dataclass
class IntentRecord:
    intent: OrderIntent
    status: IntentStatus = IntentStatus.PENDING
    sent_ns: int | None = None
    acknowledged_ns: int | None = None
    venue_order_id: str | None = None
    send_attempts: int = 0


def client_order_id(strategy_id: str, sequence: int) -> str:
    """Deterministic id from the strategy and the event sequence that produced the decision."""
    return f"{strategy_id}-{sequence}"


class Outbox(Protocol):
    def add_intent(self, intent: OrderIntent) -> bool:
        """Commit ``intent``; True if new, False if this exact intent was already present."""
        ...

    def mark_sent(self, client_order_id: str, ts_ns: int) -> None: ...

    def mark_acknowledged(self, client_order_id: str, ts_ns: int, venue_order_id: str | None = None) -> None: ...

    def pending(self) -> list[IntentRecord]:
        """Records not yet acknowledged (PENDING or SENT), in the order they were added."""
        ...

    def get(self, client_order_id: str) -> IntentRecord: ...


class InMemoryOutbox:
    """The reference implementation (tests, backtests); not durable."""

    def __init__(self) -> None:
        self._records: dict[str, IntentRecord] = {}

    def add_intent(self, intent: OrderIntent) -> bool:
        existing = self._records.get(intent.client_order_id)
        if existing is not None:
            if existing.intent != intent:
                raise OutboxError(
                    f"client order id {intent.client_order_id!r} already holds a different intent "
                    f"({existing.intent}); ids must not be reused"
                )
            return False
        self._records[intent.client_order_id] = IntentRecord(intent)
        return True

    def get(self, client_order_id: str) -> IntentRecord:
        try:
            return self._records[client_order_id]
        except KeyError:
            raise OutboxError(f"unknown client order id {client_order_id!r}") from None

    def mark_sent(self, client_order_id: str, ts_ns: int) -> None:
        rec = self.get(client_order_id)
        if rec.status is IntentStatus.ACKNOWLEDGED:
            return  # a late re-send of an acknowledged intent changes nothing
        rec.status = IntentStatus.SENT
        rec.sent_ns = ts_ns
        rec.send_attempts += 1

    def mark_acknowledged(self, client_order_id: str, ts_ns: int, venue_order_id: str | None = None) -> None:
        rec = self.get(client_order_id)
        if rec.status is IntentStatus.ACKNOWLEDGED:
            return
        rec.status = IntentStatus.ACKNOWLEDGED
        rec.acknowledged_ns = ts_ns
        rec.venue_order_id = venue_order_id

    def pending(self) -> list[IntentRecord]:
        return [r for r in self._records.values() if r.status is not IntentStatus.ACKNOWLEDGED]
