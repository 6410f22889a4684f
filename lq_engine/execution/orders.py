"""Orders and their state machine.

States beyond the required seven, and why:
- TRIGGERED: a stop / trailing-stop / take-profit leg whose condition was met and which now
  executes like a market order; a remainder left by the liquidity cap stays TRIGGERED (or
  PARTIALLY_FILLED) until filled, and the state says it is no longer conditional.
- PENDING_CANCEL: a cancel request sent to a real venue and not yet confirmed (paper/live); a
  fill can still arrive meanwhile, and a rejected cancel returns the order to ACCEPTED.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum


class OrderStatus(str, Enum):
    NEW = "NEW"
    ACCEPTED = "ACCEPTED"
    TRIGGERED = "TRIGGERED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class OrderType(str, Enum):
    MARKET = "MARKET"
    STOP = "STOP"  # bracket stop-loss leg
    TAKE_PROFIT = "TAKE_PROFIT"  # bracket target leg (a resting limit)
    TRAILING_STOP = "TRAILING_STOP"  # bracket trailing leg


S = OrderStatus
_FILLED, _PARTIALLY_FILLED = S.FILLED, S.PARTIALLY_FILLED  # bound once: Enum class attribute access is slow
STATUS_VALUE: dict[OrderStatus, str] = {s: s.value for s in OrderStatus}  # ``.value`` is a slow property
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.TRIGGERED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED}),
    S.TRIGGERED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED}),
    S.PENDING_CANCEL: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


class InvalidTransitionError(ValueError):
    def __init__(self, order_id: str, source: OrderStatus, target: OrderStatus) -> None:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[source])) or "none: terminal state"
        super().__init__(f"order {order_id}: invalid transition {source.value} -> {target.value} (allowed: {allowed})")
        self.order_id = order_id
        self.source = source
        self.target = target


def check_transition(order_id: str, source: OrderStatus, target: OrderStatus) -> None:
    if target not in TRANSITIONS[source]:
        raise InvalidTransitionError(order_id, source, target)


@dataclass(frozen=True)
class Bracket:
    """Exits attached to an entry order, as absolute price levels (NaN = leg absent).

    ``trailing_distance`` is in price units: the trailing stop sits that far behind the most
    favourable price since entry.
    """

    stop_loss: float = math.nan
    take_profit: float = math.nan
    trailing_distance: float = math.nan

    def problem(self, side: int) -> str | None:
        """Why this bracket cannot belong to an entry on ``side``, or None."""
        for name in ("stop_loss", "take_profit", "trailing_distance"):
            v = getattr(self, name)
            if not (math.isnan(v) or (math.isfinite(v) and v > 0)):
                return f"bracket {name} must be a positive finite price or NaN, got {v!r}"
        sl, tp = self.stop_loss, self.take_profit
        if not math.isnan(sl) and not math.isnan(tp) and (sl >= tp if side > 0 else sl <= tp):
            return f"bracket stop_loss {sl} must be {'below' if side > 0 else 'above'} take_profit {tp}"
        if math.isnan(sl) and math.isnan(tp) and math.isnan(self.trailing_distance):
            return "bracket has no leg"
        return None


@dataclass(slots=True, eq=False)
class Order:
    order_id: str
    symbol: str
    side: int  # +1 buy, -1 sell
    quantity: float
    order_type: OrderType = OrderType.MARKET
    status: OrderStatus = OrderStatus.NEW
    filled: float = 0.0
    avg_fill_price: float = math.nan
    created_ns: int = 0
    sequence: int = 0  # submission order inside the venue; fills are processed in this order
    expire_ns: int | None = None  # good-till-time: expires at the first bar with ts >= expire_ns
    bracket: Bracket | None = None
    parent_id: str | None = None
    trigger_price: float = math.nan
    fixed_fee: float = math.nan  # "equity" cost basis: the fee of the whole order, fixed at submission
    resize: bool = False  # a same-side change of size: keeps the armed bracket, whose legs follow its fills
    reject_reason: str = field(default="")

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    def transition(self, target: OrderStatus) -> None:
        if target not in TRANSITIONS[self.status]:  # check_transition, inlined: on every order event
            raise InvalidTransitionError(self.order_id, self.status, target)
        self.status = target

    def record_fill(self, quantity: float, price: float) -> None:
        """Add a fill to the average price and move to PARTIALLY_FILLED or FILLED.

        A fill of at least the remaining quantity completes the order and sets ``filled`` to
        ``quantity`` exactly (no float residue from summing partials).
        """
        complete = quantity >= self.remaining
        total = self.filled + quantity
        if self.filled == 0.0:
            self.avg_fill_price = price
        else:
            self.avg_fill_price = (self.filled * self.avg_fill_price + quantity * price) / total
        self.filled = self.quantity if complete else total
        self.transition(_FILLED if complete else _PARTIALLY_FILLED)
