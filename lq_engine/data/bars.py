"""``Bars``: one bar series, the one type every driver reads (kernels, replay, event engine, live
feeds, the frozen dataset's per-symbol views).

A series is the symbol's name (empty for price-only inputs) and aligned read-only C-contiguous
arrays: four float64 prices, volume (float64) and ts (int64 ns UTC, bar open).

Two ways in, one check:

- ``Bars(...)`` builds cheaply and checks nothing: a strided field is copied once (the kernels read
  through raw pointers, see ``strategies.borrow``), a missing volume is 0 and a missing ts counts
  minutes from 0. The engine uses it for data it has already checked or made itself (a frozen
  dataset's views, windows, padded streaming buffers, perturbed copies).
- ``Bars.checked(...)`` (frozen arrays, no copy), ``Bars.from_arrays(...)`` (copies anything
  array-like) and ``bars.validated()`` (an existing ``Bars``) all run ``check_bars``, the one place
  where the rules live, and mark the result as checked, so that it is never scanned twice.
  ``replay`` and ``evaluate_grid`` take their input through it.

The indicator bank (rows of every distinct indicator of a grid, row 0 zeros and row 1 the close)
is built by ``StrategySpec.indicator_rows``; the market returns by ``kernels.returns``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from lq_engine.data.guards import require_frozen_array
from lq_engine.errors import LQError

PRICE_FIELDS = ("open", "high", "low", "close")
FIELDS = (*PRICE_FIELDS, "volume", "ts")  # the order of ``Bars``' positional arguments


class BarsError(LQError, ValueError):
    """A bar series breaks a rule; names the symbol (if any), the field and the row at fault."""

    def __init__(self, symbol: str, field: str, row: int | None, problem: str) -> None:
        self.symbol, self.field, self.row = symbol, field, row
        where = f"series {symbol}" if symbol else "series"
        at = f" row {row}" if row is not None else ""
        super().__init__(f"{where}: field '{field}'{at} {problem}")


def check_bars(symbol: str, fields: Mapping[str, Any]) -> None:
    """The rules of a bar series, the one place they live.

    ``fields``: some of open/high/low/close/volume/ts (the four prices at least). Each must be a
    frozen array (read-only, C-contiguous, 1-D, float64; ts int64: ``FrozenInputError`` otherwise),
    all as long as ``open``, at least one bar; prices finite and > 0, volume finite and >= 0, ts
    strictly increasing. Raises ``BarsError`` naming the symbol, the field and the first row at fault.
    """
    missing = [f for f in PRICE_FIELDS if fields.get(f) is None]
    if missing:
        raise BarsError(symbol, missing[0], None, f"is missing; a series needs {list(PRICE_FIELDS)}")
    where = f"series {symbol}: " if symbol else "series: "
    arrays = {f: require_frozen_array(fields[f], where + f, np.int64 if f == "ts" else np.float64)
              for f in FIELDS if fields.get(f) is not None}
    n = arrays["open"].shape[0]
    for f, a in arrays.items():
        if a.shape[0] != n:
            raise BarsError(symbol, f, None, f"has {a.shape[0]} rows, 'open' has {n}")
    if n == 0:
        raise BarsError(symbol, "open", None, "has no rows; a series needs at least one bar")
    for f, a in arrays.items():
        if f == "ts":
            step = np.diff(a) <= 0
            if step.any():
                from lq_engine.data.schema import format_ns  # here: schema imports polars (seconds), which
                # the kernels, the replay and the prefilter never need otherwise
                row = int(np.argmax(step)) + 1
                raise BarsError(symbol, f, row, f"is {format_ns(int(a[row]))}, not after row {row - 1} "
                                                f"({format_ns(int(a[row - 1]))}); ts must be strictly increasing")
            continue
        bad = ~np.isfinite(a) | ((a < 0) if f == "volume" else (a <= 0))
        if bad.any():
            row = int(np.argmax(bad))
            rule = "volume must be finite and >= 0" if f == "volume" else "prices must be finite and > 0"
            raise BarsError(symbol, f, row, f"is {float(a[row])}; {rule}")


def contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` if it is C-contiguous; else a read-only C-contiguous copy of it (a cut window, copied
    once where it is cut: ``Panel``, ``Bars``; see ``strategies.borrow`` for why the kernels need it)."""
    a = np.asarray(a)
    if a.flags.c_contiguous:
        return a
    out = np.ascontiguousarray(a)
    out.setflags(write=False)
    return out


def _frozen_copy(a: Any, dtype: type) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Bars:
    """One series as aligned read-only arrays: four float64 prices, volume (float64) and ts (int64 ns
    UTC, bar open), and the symbol's name. Without volume or ts (price-only inputs: tests,
    benchmarks) volume is 0 and ts counts minutes from 0. Built directly it is not checked; see the
    module docstring for the checked ways in."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray | None = None
    ts: np.ndarray | None = None
    symbol: str = field(default="", kw_only=True)
    _valid: bool = field(default=False, init=False, repr=False, compare=False)  # passed ``check_bars``

    def __post_init__(self) -> None:
        # C-contiguous by construction, as ``Panel`` (see ``borrow.borrowed``): a strided field is
        # copied once here
        for f in FIELDS:
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

    @property
    def is_validated(self) -> bool:
        """Whether these bars passed ``check_bars`` (``validated()`` does not scan them again)."""
        return self._valid

    def validated(self) -> Bars:
        """These bars, through ``check_bars`` (once: a checked series is returned as it is)."""
        if not self._valid:
            check_bars(self.symbol, {f: getattr(self, f) for f in FIELDS})
            object.__setattr__(self, "_valid", True)
        return self

    def head(self, m: int) -> Bars:
        """The first ``m`` bars as frozen copies (the data as it was known at bar m-1: nothing of the
        future lies behind them in memory). The head of checked bars is checked (a prefix of a valid
        series is valid) unless it is empty."""
        out = Bars(*(_frozen_copy(getattr(self, f)[:m], getattr(self, f).dtype) for f in FIELDS), symbol=self.symbol)
        if self._valid and out.n > 0:
            object.__setattr__(out, "_valid", True)
        return out

    @classmethod
    def checked(cls, open: Any, high: Any, low: Any, close: Any, volume: Any = None, ts: Any = None, *,
                symbol: str = "") -> Bars:
        """Frozen arrays (read-only, C-contiguous; no copy is made) as checked bars (``check_bars``)."""
        check_bars(symbol, {"open": open, "high": high, "low": low, "close": close, "volume": volume, "ts": ts})
        out = cls(open, high, low, close, volume, ts, symbol=symbol)
        object.__setattr__(out, "_valid", True)
        return out

    @classmethod
    def from_arrays(cls, symbol: str, ts: Any, open: Any, high: Any, low: Any, close: Any, volume: Any) -> Bars:
        """Copy plain arrays (anything numpy converts) into checked frozen bars (tests, benchmarks,
        in-memory data). Note the argument order: ts first, as a frozen dataset stores them."""
        return cls.checked(*(_frozen_copy(a, np.float64) for a in (open, high, low, close, volume)),
                           _frozen_copy(ts, np.int64), symbol=symbol)

    @classmethod
    def from_close(cls, close: np.ndarray) -> Bars:
        """Bars from closes alone: open = previous close (first open = first close). Not checked."""
        close = np.ascontiguousarray(close, dtype=np.float64)
        op = np.empty_like(close)
        if close.size:
            op[0] = close[0]
            op[1:] = close[:-1]
        out = cls(op, np.maximum(op, close), np.minimum(op, close), close.copy())
        for a in (out.open, out.high, out.low, out.close):
            a.setflags(write=False)
        return out
