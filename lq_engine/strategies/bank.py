"""Bars for one series, and the per-series market returns the kernels stream.

The indicator bank (rows of every distinct indicator of a grid, row 0 zeros and row 1 the close)
is built by ``StrategySpec.indicator_rows``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lq_engine.strategies.borrow import contiguous


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


# rows of the market-returns table
R_OPEN = 0  # open prices: fills happen there
P_R, P_R2, P_D2 = 1, 2, 3  # prefix sums of r, r^2, min(r, 0)^2 of the close-to-close returns
N_RETS = 4


def market_returns(bars: Bars) -> np.ndarray:
    """Per-series rows shared by every set and backend: the open prices, and the running sums
    (sequential cumsum) of r, r^2 and min(r, 0)^2 of the close-to-close returns r_j =
    close[j]/close[j-1]-1 (column 0 holds r_0 = 0). A held long run of fixed units earns exactly
    those returns (equity = units * close), so kernels take its sums in O(1) when the run ends;
    a held short's returns depend on its entry price and are summed bar by bar."""
    n = bars.n
    out = np.zeros((N_RETS, n))
    out[R_OPEN] = bars.open
    if n > 1:
        r = np.zeros(n)
        r[1:] = bars.close[1:] / bars.close[:-1] - 1.0
        out[P_R] = np.cumsum(r)
        out[P_R2] = np.cumsum(r * r)
        out[P_D2] = np.cumsum(np.minimum(r, 0.0) ** 2)
    out.setflags(write=False)
    return out
