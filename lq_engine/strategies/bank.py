"""Bars for one series, the shared indicator bank, and per-bar market returns.

The bank is a 2-D float64 array: row 0 is zeros, row 1 is close, then one row per distinct
indicator key (e.g. one SMA row per window used anywhere in the grid). Rule programs index it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lq_engine.strategies import indicators as ind
from lq_engine.strategies.rules import CLOSE_ROW, ZERO_ROW


@dataclass(frozen=True)
class Bars:
    """One series as four aligned float64 arrays (frozen read-only arrays on the trial path)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    @property
    def n(self) -> int:
        return int(self.close.shape[0])

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


_INDICATORS = {
    "sma": lambda b, w: ind.sma(b.close, w),
    "zscore": lambda b, w: ind.rolling_zscore(b.close, w),
    "rsi": lambda b, p: ind.rsi(b.close, p),
    "prev_high": lambda b, w: ind.prev_highest(b.high, w),
    "prev_low": lambda b, w: ind.prev_lowest(b.low, w),
    "atr": lambda b, p: ind.atr(b.high, b.low, b.close, p),
}


class IndicatorBank:
    """Collects indicator rows by key, computing each distinct key once."""

    def __init__(self, bars: Bars):
        self.bars = bars
        self._rows: list[np.ndarray] = [np.zeros(bars.n), np.asarray(bars.close, dtype=np.float64)]
        self._keys: dict[tuple, int] = {("zero",): ZERO_ROW, ("close",): CLOSE_ROW}

    def row(self, kind: str, *args: int) -> int:
        key = (kind, *args)
        if key not in self._keys:
            self._keys[key] = len(self._rows)
            self._rows.append(np.asarray(_INDICATORS[kind](self.bars, *args), dtype=np.float64))
        return self._keys[key]

    @property
    def keys(self) -> dict[tuple, int]:
        return dict(self._keys)

    def array(self) -> np.ndarray:
        out = np.ascontiguousarray(np.vstack(self._rows))
        out.setflags(write=False)
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
