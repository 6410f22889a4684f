"""Timeframes, and bars of a higher timeframe resampled from base bars and aligned back onto them.

This module is the one place of the multi-timeframe rule (``@lq.indicator(timeframe="4h")``,
docs/how-to/multi-timeframe.md). It is pure numpy and imports nothing heavy (the kernels' workers
read it; ``lq_engine.data.schema``, which loads polars, re-exports the timeframe parsing).

The rule, with ``b`` the strategy's base timeframe and ``H`` the higher one (a multiple of ``b``):

- Bins are anchored to the UTC epoch: the higher-timeframe bar ``k`` covers ``[k*H, (k+1)*H)`` and
  holds the base bars whose open time lies in it (first open, highest high, lowest low, last close,
  summed volume). A bin without base bars makes no bar: the higher series skips it.
- A base bar ``[t, t+b)`` has closed at ``t+b``. It sees the last higher bar that had closed by
  then: the last ``k`` with ``(k+1)*H <= t+b``. A bin with missing base bars (a gap, or the data
  ending mid-bin) still closes at ``(k+1)*H``: it is seen from the first base bar closing at or
  after that time, and never while it is still open.
- The first bin counts only if the series starts at its start (``ts[0] == k*H``): a window cut
  mid-bin would otherwise see a truncated first bar that the full series does not have.
- Base bars must be at least ``b`` apart (``first_short_spacing``): a bar opening less than ``b``
  after the one before would make ``t+b`` a time at which later bars already exist.

Each base bar's value is then the value of the higher bar it sees (forward-filled over the base
clock; NaN before the first one). The value of higher bar ``k`` depends on base bars opened
before ``(k+1)*H`` only, and the indicator sees only closed higher bars, so a base bar's value never
changes when bars after it change (tests/strategies/test_multi_timeframe.py checks it as a property).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from lq_engine.errors import InputError

NS_PER_SECOND = 1_000_000_000
_UNIT_NS = {"s": NS_PER_SECOND, "m": 60 * NS_PER_SECOND, "h": 3600 * NS_PER_SECOND,
            "d": 86400 * NS_PER_SECOND, "w": 7 * 86400 * NS_PER_SECOND}
_TIMEFRAME_RE = re.compile(r"^([1-9][0-9]*)([smhdw])$")


def timeframe_to_ns(timeframe: str) -> int:
    """``"1m"`` -> 60_000_000_000. Raises InputError for anything that is not ``<n><s|m|h|d|w>``."""
    m = _TIMEFRAME_RE.match(timeframe or "") if isinstance(timeframe, str) else None
    if not m:
        raise InputError(f"timeframe {timeframe!r} is not of the form <n><s|m|h|d|w>, e.g. '1m', '1h', '1d'")
    return int(m.group(1)) * _UNIT_NS[m.group(2)]


def ns_to_timeframe(interval_ns: int) -> str:
    """The canonical timeframe of an interval, or InputError if it is not a whole number of seconds."""
    if interval_ns <= 0 or interval_ns % NS_PER_SECOND:
        raise InputError(f"interval of {interval_ns} ns is not a positive whole number of seconds")
    for unit in ("w", "d", "h", "m", "s"):
        if interval_ns % _UNIT_NS[unit] == 0:
            return f"{interval_ns // _UNIT_NS[unit]}{unit}"
    raise AssertionError("unreachable")


def canonical_timeframe(timeframe: str) -> str:
    """``"60s"`` -> ``"1m"``; validates the spelling."""
    return ns_to_timeframe(timeframe_to_ns(timeframe.strip() if isinstance(timeframe, str) else timeframe))


@dataclass(frozen=True)
class Resampled:
    """The closed higher-timeframe bars of a base series, and which one each base bar sees.

    ``ts`` (bin open, int64 ns), ``open``/``high``/``low``/``close``/``volume``: one entry per closed
    higher bar (read-only). ``at``: per base bar, the index of the higher bar it sees, -1 for none."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    at: np.ndarray

    @property
    def n(self) -> int:
        return int(self.ts.shape[0])


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def first_short_spacing(ts: np.ndarray, base_ns: int) -> int | None:
    """The first row opening less than ``base_ns`` after the row before it, or None."""
    ts = np.asarray(ts, dtype=np.int64)
    short = np.diff(ts) < base_ns
    return int(np.argmax(short)) + 1 if short.any() else None


def seen_bins(ts: np.ndarray, base_ns: int, every_ns: int) -> np.ndarray:
    """The alignment rule: per base bar opened at ``ts``, the last bin ``k`` (of ``every_ns``,
    epoch-anchored) that had closed by the bar's close, ``(k+1)*H <= t+b``."""
    return np.floor_divide(np.asarray(ts, dtype=np.int64) + base_ns, every_ns) - 1


def resample(ts: np.ndarray, open: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
             volume: np.ndarray, every_ns: int, base_ns: int) -> Resampled:
    """The closed ``every_ns`` bars of a base series (bar opens ``ts``, int64 ns UTC, increasing) of
    timeframe ``base_ns``, and which one each base bar sees (the module's rule)."""
    ts = np.asarray(ts, dtype=np.int64)
    n = ts.shape[0]
    bins = np.floor_divide(ts, every_ns)
    if n:
        first = bins[0] + (1 if ts[0] != bins[0] * every_ns else 0)  # a first bin cut short is not a bar
        k0 = int(np.searchsorted(bins, first))
    else:
        k0 = 0
    kept = bins[k0:]
    starts = np.flatnonzero(np.concatenate(([True], kept[1:] != kept[:-1]))) if kept.size else np.zeros(0, np.int64)
    own = kept[starts]  # the bin number of each higher bar
    at = np.searchsorted(own, seen_bins(ts, base_ns, every_ns), side="right") - 1
    m = int(at[-1]) + 1 if n else 0  # closed higher bars: those the last base bar sees (``at`` increases)
    starts, own = starts[:m], own[:m]
    ends = np.searchsorted(kept, own, side="right") - 1  # the last base bar of each, relative to ``k0``

    def cut(a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)[k0:]

    if m:
        last = int(ends[-1]) + 1
        o, c = cut(open)[starts], cut(close)[ends]
        h = np.maximum.reduceat(cut(high)[:last], starts)
        lo = np.minimum.reduceat(cut(low)[:last], starts)
        v = np.add.reduceat(cut(volume)[:last], starts)
    else:
        o = c = h = lo = v = np.zeros(0)
    return Resampled(_frozen(own * every_ns), _frozen(o), _frozen(h), _frozen(lo), _frozen(c), _frozen(v),
                     _frozen(at.astype(np.int64, copy=False)))


def on_base(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Higher-timeframe ``values`` (one per closed higher bar) forward-filled onto the base clock:
    base bar i gets ``values[at[i]]``, NaN where it sees none."""
    values = np.asarray(values, dtype=np.float64)
    out = values[np.maximum(at, 0)] if values.shape[0] else np.full(at.shape[0], np.nan)
    return np.where(at >= 0, out, np.nan)


__all__ = ["NS_PER_SECOND", "Resampled", "canonical_timeframe", "first_short_spacing", "ns_to_timeframe", "on_base",
           "resample", "seen_bins", "timeframe_to_ns"]
