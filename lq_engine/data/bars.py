"""``Bars``: one series as the kernels read it.

The indicator bank (rows of every distinct indicator of a grid, row 0 zeros and row 1 the close)
is built by ``StrategySpec.indicator_rows``; the market returns by ``kernels.returns``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` if it is C-contiguous; else a read-only C-contiguous copy of it (a cut window, copied
    once where it is cut: ``Panel``, ``Bars``; see ``strategies.borrow`` for why the kernels need it)."""
    a = np.asarray(a)
    if a.flags.c_contiguous:
        return a
    out = np.ascontiguousarray(a)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Bars:
    """One series as aligned read-only arrays: four float64 prices, volume (float64) and ts (int64 ns
    UTC, bar open). Without volume or ts (price-only inputs: tests, benchmarks) volume is 0 and ts
    counts minutes from 0."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray | None = None
    ts: np.ndarray | None = None

    def __post_init__(self) -> None:
        # C-contiguous by construction, as ``Panel`` (see ``borrow.borrowed``): a strided field is
        # copied once here
        for f in ("open", "high", "low", "close", "volume", "ts"):
            a = getattr(self, f)
            if a is not None:
                object.__setattr__(self, f, contiguous(a))
        n = self.close.shape[0]
        if self.volume is None:
            v = np.zeros(n)
            v.setflags(write=False)
            object.__setattr__(self, "volume", v)
        if self.ts is None:
            t = np.arange(n, dtype=np.int64) * 60_000_000_000
            t.setflags(write=False)
            object.__setattr__(self, "ts", t)

    @property
    def n(self) -> int:
        return int(self.close.shape[0])

    def head(self, m: int) -> "Bars":
        """The first ``m`` bars (views)."""
        return Bars(*(getattr(self, f)[:m] for f in ("open", "high", "low", "close", "volume", "ts")))

    @classmethod
    def from_close(cls, close: np.ndarray) -> "Bars":
        """Bars from closes alone: open = previous close (first open = first close)."""
        close = np.ascontiguousarray(close, dtype=np.float64)
        op = np.empty_like(close)
        if close.size:
            op[0] = close[0]
            op[1:] = close[:-1]
        out = cls(op, np.maximum(op, close), np.minimum(op, close), close.copy())
        for a in (out.open, out.high, out.low, out.close):
            a.setflags(write=False)
        return out
