"""``Panel``: a universe's symbols aligned on one clock, what a portfolio strategy sees.

Alignment rule (docs/how-to/portfolio.md): the clock is the sorted union of every symbol's bar
timestamps. ``mask[s, i]`` says whether symbol s has a bar at clock bar i. Where it has none, its
open, high, low and close hold its last close (NaN before its first bar) and its volume is 0: a
portfolio is marked at that last close, and nothing trades at a price that was carried forward
(a rebalance of that symbol waits for its next real bar). Symbols are in sorted order, the order
every driver uses to add up equity and to process legs.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from lq_engine.data.bars import contiguous
from lq_engine.authoring.declare import StrategyError

FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Panel:
    symbols: tuple[str, ...]
    ts: np.ndarray  # (T,) int64 ns, the clock
    open: np.ndarray  # (S, T) float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    mask: np.ndarray  # (S, T) bool: the symbol has a bar there

    def __post_init__(self) -> None:
        # C-contiguous by construction: the compiled kernels hand strategies pointer-and-shape views
        # (``borrow.borrowed``), which would misread a strided array (a window ``close[:, a:b]``).
        # A field that is not contiguous is copied once, here, and frozen like the rest.
        for f in ("ts", *FIELDS, "mask"):
            object.__setattr__(self, f, contiguous(getattr(self, f)))

    @property
    def n(self) -> int:
        return int(self.ts.shape[0])

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @classmethod
    def from_series(cls, series: Sequence[Any], clock: np.ndarray | None = None) -> Panel:
        """Align series (anything with symbol, ts, open, high, low, close, volume) on ``clock`` (default:
        the union of their timestamps); bars outside the clock are dropped."""
        series = sorted(series, key=lambda s: s.symbol)
        if not series:
            raise StrategyError("panel: no symbols")
        if clock is None:
            clock = np.unique(np.concatenate([np.asarray(s.ts, dtype=np.int64) for s in series]))
        clock = np.asarray(clock, dtype=np.int64)
        t, m = clock.shape[0], len(series)
        out = {f: np.full((m, t), np.nan) for f in FIELDS}
        out["volume"][:] = 0.0
        mask = np.zeros((m, t), dtype=np.bool_)
        for k, s in enumerate(series):
            ts = np.asarray(s.ts, dtype=np.int64)
            pos = np.searchsorted(clock, ts)
            inside = (pos < t) & (clock[np.minimum(pos, t - 1)] == ts)
            idx = pos[inside]
            mask[k, idx] = True
            for f in FIELDS:
                out[f][k, idx] = np.asarray(getattr(s, f), dtype=np.float64)[inside]
            # carry the last close forward over missing bars (prices only; volume stays 0)
            last = _forward_fill_index(mask[k])
            ok = last >= 0
            carried = ok & ~mask[k]
            c = out["close"][k]
            for f in ("open", "high", "low", "close"):
                out[f][k, carried] = c[last[carried]]
        arrays = {f: np.ascontiguousarray(a) for f, a in out.items()}
        for a in (*arrays.values(), mask, clock):
            a.setflags(write=False)
        return cls(tuple(s.symbol for s in series), clock, arrays["open"], arrays["high"], arrays["low"],
                   arrays["close"], arrays["volume"], mask)

    def window(self, a: int, b: int) -> Panel:
        """Clock bars [a, b): copied once into frozen C-contiguous arrays (a view only where it is
        contiguous already, e.g. a one-symbol panel or the whole clock)."""
        return Panel(self.symbols, self.ts[a:b], self.open[:, a:b], self.high[:, a:b], self.low[:, a:b],
                     self.close[:, a:b], self.volume[:, a:b], self.mask[:, a:b])

    def head(self, m: int) -> Panel:
        return self.window(0, m)

    def first_bars(self) -> np.ndarray:
        """Clock index of each symbol's first bar (T when it has none)."""
        any_ = self.mask.any(axis=1)
        return np.where(any_, np.argmax(self.mask, axis=1), self.n)


def _forward_fill_index(mask: np.ndarray) -> np.ndarray:
    """For each position, the index of the last True at or before it (-1 if none)."""
    idx = np.where(mask, np.arange(mask.shape[0]), -1)
    return np.maximum.accumulate(idx)


def check_universe(panel: Panel, strategy: str, min_symbols: int, max_symbols: int | None) -> None:
    """Refuse a universe the strategy cannot trade, naming the strategy and the symbols."""
    n = panel.n_symbols
    if n < min_symbols or (max_symbols is not None and n > max_symbols):
        want = f"exactly {min_symbols}" if max_symbols == min_symbols else (
            f"at least {min_symbols}" if max_symbols is None else f"{min_symbols} to {max_symbols}")
        raise StrategyError(f"strategy '{strategy}' needs {want} symbols; the universe has {n}: {list(panel.symbols)}")
    if max_symbols == 2 and n == 2:
        both = panel.mask[0] & panel.mask[1]
        if not both.any():
            a, b = panel.symbols
            raise StrategyError(f"strategy '{strategy}': the pair {a}/{b} has no date in common "
                                f"({a}: {_span(panel, 0)}; {b}: {_span(panel, 1)})")


def _span(panel: Panel, k: int) -> str:
    idx = np.flatnonzero(panel.mask[k])
    if not idx.size:
        return "no bars"
    def day(i: int) -> str:
        return _dt.datetime.fromtimestamp(int(panel.ts[i]) / 1e9, _dt.timezone.utc).strftime("%Y-%m-%d")

    return f"{day(idx[0])} to {day(idx[-1])}"
