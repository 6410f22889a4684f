"""Outbox of order intents: an intent is committed before it is sent, so a crash never loses one.

Idempotency rests on the client order id: adding the same intent twice is a no-op, adding a
*different* intent under an existing id is an error. The lifecycle is PENDING (committed, not yet
sent) -> SENT -> ACKNOWLEDGED (the venue confirmed it). After a restart, ``pending()`` lists what
must be (re-)sent: everything not acknowledged, in the order it was added; the venue dedupes on
the client order id. The outbox itself is durable, in the paper trader's SQLite database
(``live.trader_store.SqliteOutbox``); this module holds the records it stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


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
