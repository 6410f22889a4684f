"""``FundingRates``: one symbol's funding events, and their mapping onto a bar clock (the rule is
explained in ``execution.funding``, which books them). numpy only: the replay imports it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lq_engine.errors import InputError


def _sum(rates: np.ndarray, lo: int, hi: int) -> float:
    s = 0.0
    for i in range(lo, hi):
        s += float(rates[i])
    return s


@dataclass(frozen=True)
class FundingRates:
    """One symbol's funding events: ``ts`` (int64 ns UTC, strictly increasing) and ``rate`` (float64,
    finite: the fraction of the position's value paid per funding interval)."""

    ts: np.ndarray
    rate: np.ndarray
    symbol: str = ""

    def __post_init__(self) -> None:
        ts = np.ascontiguousarray(self.ts, dtype=np.int64)
        rate = np.ascontiguousarray(self.rate, dtype=np.float64)
        where = f"funding rates {self.symbol}".rstrip()
        if ts.ndim != 1 or rate.shape != ts.shape:
            raise InputError(f"{where}: ts and rate must be 1-D and as long, got {ts.shape} and {rate.shape}")
        bad = np.flatnonzero(np.diff(ts) <= 0)
        if bad.size:
            raise InputError(f"{where}: field 'ts' row {int(bad[0]) + 1} is not after row {int(bad[0])}; "
                             "funding times must be strictly increasing")
        bad = np.flatnonzero(~np.isfinite(rate))
        if bad.size:
            raise InputError(f"{where}: field 'funding_rate' row {int(bad[0])} is {float(rate[bad[0]])}; "
                             "it must be finite")
        for a in (ts, rate):
            a.setflags(write=False)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "rate", rate)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def empty(cls, symbol: str = "") -> FundingRates:
        return cls(np.empty(0, dtype=np.int64), np.empty(0), symbol)

    def per_bar(self, bar_ts: np.ndarray) -> np.ndarray:
        """The funding rate applied at the start of each bar (0.0 where none): the sum of the rates of
        the funding times ``T`` with ``bar_ts[k - 1] < T <= bar_ts[k]``; bar 0 gets none."""
        bar_ts = np.asarray(bar_ts, dtype=np.int64)
        out = np.zeros(bar_ts.shape[0])
        if out.shape[0] < 2 or len(self) == 0:
            out.setflags(write=False)
            return out
        hi = np.searchsorted(self.ts, bar_ts, side="right")
        lo = np.empty_like(hi)
        lo[0] = hi[0]
        lo[1:] = hi[:-1]
        count = hi - lo
        one = count == 1
        out[one] = self.rate[hi[one] - 1]  # 0.0 + r == r: the same float as _sum
        for k in np.flatnonzero(count > 1):
            out[k] = _sum(self.rate, int(lo[k]), int(hi[k]))
        out.setflags(write=False)
        return out

    def between(self, prev_ts: int | None, ts: int) -> float:
        """The rate applied at the start of the bar opening at ``ts`` after a bar opening at ``prev_ts``
        (None: the first bar, no funding): ``per_bar`` one bar at a time."""
        if prev_ts is None or len(self) == 0:
            return 0.0
        lo = int(np.searchsorted(self.ts, prev_ts, side="right"))
        hi = int(np.searchsorted(self.ts, ts, side="right"))
        if hi - lo == 1:
            return float(self.rate[lo])
        return _sum(self.rate, lo, hi)
