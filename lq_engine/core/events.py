"""Events: small slotted records ordered by (timestamp_ns, sequence), plus columnar bar batches.

Every event carries ``timestamp_ns`` (int, UTC ns) and a ``sequence`` from the run's
``Sequencer``; (timestamp_ns, sequence) is a total order. Single events are plain slotted
classes (cheap to create on the event path); bulk market data travels as a ``BarBatch`` of numpy
columns and is put into replay order with one ``numpy.lexsort``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from lq_engine.core.sequencer import Sequencer


class EventKind(IntEnum):
    MARKET = 1
    ORDER_SUBMITTED = 2
    ORDER_ACCEPTED = 3
    ORDER_REJECTED = 4
    ORDER_CANCELLED = 5
    ORDER_EXPIRED = 6
    ORDER_TRIGGERED = 7
    FILL = 8


def topic_for(kind: EventKind) -> str:
    """Bus topic of an event kind: ``event.<KIND>`` (e.g. ``event.MARKET``, ``event.FILL``)."""
    return _TOPICS[kind]


_TOPICS = {k: f"event.{k.name}" for k in EventKind}


@dataclass(slots=True)
class BarEvent:
    """One closed bar of one symbol; ``timestamp_ns`` is the bar open (the lake's ``ts``)."""

    timestamp_ns: int
    sequence: int
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float

    kind = EventKind.MARKET


@dataclass(slots=True)
class OrderEvent:
    """A change of an order's state (submitted, accepted, rejected, cancelled, expired, triggered)."""

    timestamp_ns: int
    sequence: int
    kind: EventKind
    order_id: str
    symbol: str
    reason: str = ""


@dataclass(slots=True)
class FillEvent:
    """A (possibly partial) execution. ``side`` is +1 buy / -1 sell; ``fee`` is in account currency."""

    timestamp_ns: int
    sequence: int
    order_id: str
    symbol: str
    side: int
    quantity: float
    price: float
    fee: float
    liquidity: str  # "taker" or "maker"
    reason: str  # "market", "stop", "trailing_stop", "take_profit"

    kind = EventKind.FILL


def event_sort_key(event: BarEvent | OrderEvent | FillEvent) -> tuple[int, int]:
    return (event.timestamp_ns, event.sequence)


# ---------------------------------------------------------------------------------------------
# Columnar batches


@dataclass(frozen=True)
class BarBatch:
    """Bars of one or many symbols as aligned columns. ``symbol_id`` indexes ``symbols``."""

    symbols: tuple[str, ...]
    ts: np.ndarray  # int64 ns UTC, bar open
    symbol_id: np.ndarray  # int32
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    sequence: np.ndarray  # int64

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in ("symbol_id", "open", "high", "low", "close", "volume", "sequence"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"BarBatch: column {name!r} has {len(getattr(self, name))} rows, ts has {n}")
        if n and (self.symbol_id.min() < 0 or self.symbol_id.max() >= len(self.symbols)):
            raise ValueError(f"BarBatch: symbol_id outside 0..{len(self.symbols) - 1}")

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: np.ndarray) -> BarBatch:
        return BarBatch(
            self.symbols,
            self.ts[index],
            self.symbol_id[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            self.sequence[index],
        )

    def event(self, i: int) -> BarEvent:
        """Row ``i`` as a ``BarEvent`` (for the event engine)."""
        return BarEvent(
            int(self.ts[i]),
            int(self.sequence[i]),
            self.symbols[int(self.symbol_id[i])],
            float(self.open[i]),
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
        )


def bar_batch(
    symbol: str,
    ts: np.ndarray,
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    sequencer: Sequencer,
) -> BarBatch:
    """One symbol's bars as a batch; sequences are drawn from ``sequencer`` in row order."""
    n = len(ts)
    return BarBatch(
        (symbol,),
        np.asarray(ts, dtype=np.int64),
        np.zeros(n, dtype=np.int32),
        np.asarray(open, dtype=np.float64),
        np.asarray(high, dtype=np.float64),
        np.asarray(low, dtype=np.float64),
        np.asarray(close, dtype=np.float64),
        np.asarray(volume, dtype=np.float64),
        sequencer.next_block(n),
    )


def replay_order(ts: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    """Indices that put rows in (ts, sequence) order (stable; lexsort's last key is primary)."""
    return np.lexsort((sequence, ts))


def is_replay_ordered(ts: np.ndarray, sequence: np.ndarray) -> bool:
    """True when (ts, sequence) is strictly increasing row to row."""
    if len(ts) < 2:
        return True
    dts = np.diff(ts)
    return bool(np.all((dts > 0) | ((dts == 0) & (np.diff(sequence) > 0))))


def merge_bar_batches(batches: list[BarBatch], sequencer: Sequencer) -> BarBatch:
    """Merge bar streams of many symbols into one deterministic replay order.

    Rows are ordered by (ts, symbol name, original sequence) and then get fresh sequence numbers
    from ``sequencer`` in that order, so the merged stream is in (timestamp_ns, sequence) order
    and the result does not depend on the order the batches were loaded in.
    """
    symbols = tuple(sorted({s for b in batches for s in b.symbols}))
    code = {s: i for i, s in enumerate(symbols)}
    if not batches:
        empty_f = np.empty(0, dtype=np.float64)
        return BarBatch(symbols, np.empty(0, np.int64), np.empty(0, np.int32), *([empty_f] * 5), np.empty(0, np.int64))
    remapped = [np.asarray([code[s] for s in b.symbols], dtype=np.int32)[b.symbol_id] for b in batches]
    sid = np.concatenate(remapped)
    ts = np.concatenate([b.ts for b in batches])
    old_seq = np.concatenate([b.sequence for b in batches])
    order = np.lexsort((old_seq, sid, ts))
    merged = BarBatch(
        symbols,
        ts[order],
        sid[order],
        np.concatenate([b.open for b in batches])[order],
        np.concatenate([b.high for b in batches])[order],
        np.concatenate([b.low for b in batches])[order],
        np.concatenate([b.close for b in batches])[order],
        np.concatenate([b.volume for b in batches])[order],
        sequencer.next_block(len(ts)),
    )
    return merged
