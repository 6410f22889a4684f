"""Runtime cache: latest market state per symbol, orders by id, positions and the account.

Writes are on the hot path of the event engine: they store plain tuples (one allocation, no
per-field work) and come from a compiled base class (``cache_store``: a CPython extension type, or
its pure-Python twin without a compiler); reads build named views. ``snapshot()`` gives a plain,
JSON-serializable, versioned structure and ``RuntimeCache.restore`` rebuilds an equal cache from it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from lq_engine.core.cache_store import store_base

SNAPSHOT_VERSION = 1


class SnapshotVersionError(ValueError):
    pass


class MarketState(NamedTuple):
    symbol: str
    timestamp_ns: int
    sequence: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def time(self) -> datetime:
        """Bar open time as an aware UTC datetime (derived from timestamp_ns, microsecond precision)."""
        return datetime.fromtimestamp(self.timestamp_ns / 1e9, tz=UTC)


class OrderRecord(NamedTuple):
    order_id: str
    state: str
    symbol: str
    side: int
    quantity: float
    filled: float
    avg_price: float


class Position(NamedTuple):
    symbol: str
    quantity: float  # signed: > 0 long, < 0 short
    avg_price: float


class Account(NamedTuple):
    cash: float
    equity: float


_TERMINAL = frozenset({"FILLED", "CANCELLED", "REJECTED", "EXPIRED"})


_SLOTS = ("_positions", "cash", "equity", "meta")


@lru_cache(maxsize=None)
def _concrete() -> type:
    """The class ``RuntimeCache()`` really instantiates: ``RuntimeCache`` on top of the store base
    that ``LQ_CACHE_STORE`` selects. Chosen (and the compiled store built) on first use, not at import."""
    store, _ = store_base()
    return type("RuntimeCache", (RuntimeCache, store), {"__slots__": _SLOTS, "__module__": __name__,
                                                       "__qualname__": "RuntimeCache"})


def __getattr__(name: str) -> Any:
    """``CacheStore`` (the store base in use) and ``CACHE_STORE`` (its description), resolved on use."""
    if name == "CacheStore":
        return store_base()[0]
    if name == "CACHE_STORE":
        return store_base()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RuntimeCache:
    """``update_bar(symbol, timestamp_ns, sequence, open, high, low, close, volume)`` and
    ``update_order(order_id, state, symbol, side=0, quantity=0.0, filled=0.0, avg_price=nan)`` come
    from the store base; the rest reads and snapshots its ``_market`` and ``_orders`` dicts.

    The store base (compiled or pure Python, ``cache_store.store_base``) is picked when the first
    cache is made: ``RuntimeCache(...)`` returns an instance of a subclass of this class and of that
    base (``_concrete``), so ``isinstance(x, RuntimeCache)`` holds for every cache."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> "RuntimeCache":
        if cls is RuntimeCache:
            cls = _concrete()
        return super().__new__(cls)

    def __init__(self, cash: float = 0.0) -> None:
        super().__init__()
        self._positions: dict[str, tuple[float, float]] = {}
        self.cash = float(cash)
        self.equity = float(cash)
        self.meta: dict[str, Any] = {}

    # -- market --------------------------------------------------------------------------------

    def market(self, symbol: str) -> MarketState:
        row = self._market.get(symbol)
        if row is None:
            raise KeyError(f"no market state for symbol {symbol!r}")
        return MarketState(symbol, *row)

    def last_close(self, symbol: str) -> float:
        return self._market[symbol][5]

    def symbols(self) -> list[str]:
        return sorted(self._market)

    # -- orders --------------------------------------------------------------------------------

    def order(self, order_id: str) -> OrderRecord:
        row = self._orders.get(order_id)
        if row is None:
            raise KeyError(f"unknown order id {order_id!r}")
        return OrderRecord(order_id, *row)

    def order_count(self) -> int:
        return len(self._orders)

    def has_order(self, order_id: str) -> bool:
        return order_id in self._orders

    def orders(self) -> list[OrderRecord]:
        return [OrderRecord(k, *v) for k, v in self._orders.items()]

    def open_orders(self, symbol: str | None = None) -> list[OrderRecord]:
        return [
            OrderRecord(k, *v)
            for k, v in self._orders.items()
            if v[0] not in _TERMINAL and (symbol is None or v[1] == symbol)
        ]

    # -- positions and account -------------------------------------------------------------

    def set_position(self, symbol: str, quantity: float, avg_price: float) -> None:
        if quantity == 0.0:
            self._positions.pop(symbol, None)
        else:
            self._positions[symbol] = (quantity, avg_price)

    def position(self, symbol: str) -> Position:
        qty, px = self._positions.get(symbol, (0.0, math.nan))
        return Position(symbol, qty, px)

    def positions(self) -> list[Position]:
        return [Position(s, *v) for s, v in sorted(self._positions.items())]

    def set_account(self, cash: float, equity: float) -> None:
        self.cash = cash
        self.equity = equity

    def account(self) -> Account:
        return Account(self.cash, self.equity)

    # -- snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A plain dict of lists/dicts/str/int/float (JSON-serializable; floats may be NaN)."""
        return {
            "version": SNAPSHOT_VERSION,
            "market": {s: list(v) for s, v in self._market.items()},
            "orders": {k: list(v) for k, v in self._orders.items()},
            "positions": {s: list(v) for s, v in self._positions.items()},
            "account": {"cash": self.cash, "equity": self.equity},
            "meta": dict(self.meta),
        }

    @classmethod
    def restore(cls, snapshot: dict[str, Any]) -> RuntimeCache:
        version = snapshot.get("version") if isinstance(snapshot, dict) else None
        if version != SNAPSHOT_VERSION:
            raise SnapshotVersionError(
                f"runtime cache snapshot version {version!r} is not supported (this build reads version "
                f"{SNAPSHOT_VERSION}); migrate the snapshot or start from a fresh cache"
            )
        for key in ("market", "orders", "positions", "account", "meta"):
            if key not in snapshot:
                raise ValueError(f"runtime cache snapshot: missing field {key!r}")
        cache = cls()
        for s, v in snapshot["market"].items():
            if len(v) != 7:
                raise ValueError(f"runtime cache snapshot: market[{s!r}] has {len(v)} fields, expected 7")
            cache._market[s] = (int(v[0]), int(v[1]), *map(float, v[2:]))
        for k, v in snapshot["orders"].items():
            if len(v) != 6:
                raise ValueError(f"runtime cache snapshot: orders[{k!r}] has {len(v)} fields, expected 6")
            cache._orders[k] = (str(v[0]), str(v[1]), int(v[2]), float(v[3]), float(v[4]), float(v[5]))
        for s, v in snapshot["positions"].items():
            cache._positions[s] = (float(v[0]), float(v[1]))
        cache.cash = float(snapshot["account"]["cash"])
        cache.equity = float(snapshot["account"]["equity"])
        cache.meta = dict(snapshot["meta"])
        return cache
