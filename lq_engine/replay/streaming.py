"""Decisions from the bars seen so far: the path the paper trader takes, on a live feed and on history.

A streaming decider appends each new bar to a growing buffer and makes the strategy's decisions over
the visible bars only (indicators and the compiled decision loop, from bar 0: O(n) per bar, so a
strategy's own state and every causal indicator come out exactly as in one pass over the series);
the newest decision is the one used. The future is not hidden by convention but by construction: it
is not in memory.

Reads past the end. The compiled decision loop reads the arrays through ``carray`` (no bounds
check), so a strategy reading ``bars.close[i + 1]`` at the newest bar reads whatever memory follows
the visible arrays. Everything handed to the kernels here is C-contiguous and followed by ``PAD``
elements of padding: NaN for prices, volume and the indicator bank, 0 for ``ts``, False for a panel's
mask. Such a read is then deterministic (it sees NaN), not a read of unrelated memory. Reads within
the visible block stay in it (``close[s, n]`` of a panel is symbol s+1's first bar; ``ind.x[n]`` is
the next bank row's first value); reads more than ``PAD`` elements past the end are not covered.
Without the JIT (``NUMBA_DISABLE_JIT=1``) the arrays are numpy arrays with bounds: such a read
raises ``IndexError``, reported as the strategy's error.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lq_engine.data.bars import Bars
from lq_engine.errors import InputError
from lq_engine.strategies.panel import FIELDS, Panel
from lq_engine.strategies.kernel_types import Decisions
from lq_engine.strategies.spec import IndicatorRows, StrategySpec

PAD = 4096  # elements of padding after every array handed to the kernels
_FILL = {np.dtype(np.float64): np.nan, np.dtype(np.int64): 0, np.dtype(np.bool_): False}


def padded(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous copy of ``a`` (same shape and dtype) followed in memory by ``PAD``
    elements of padding (NaN for floats)."""
    a = np.asarray(a)
    flat = np.empty(a.size + PAD, dtype=a.dtype)
    flat[a.size:] = _FILL[a.dtype]
    out = flat[:a.size].reshape(a.shape)
    out[...] = a
    out.setflags(write=False)
    return out


def _frozen(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.setflags(write=False)
    return v


class BarBuffer:
    """One symbol's bars, appended one at a time into buffers that double when full (amortized O(1)),
    always with at least ``PAD`` elements of padding after the last bar."""

    __slots__ = ("n", "_cols")

    def __init__(self, capacity: int = 256) -> None:
        self.n = 0
        self._cols = self._alloc(capacity + PAD)

    @staticmethod
    def _alloc(size: int) -> list[np.ndarray]:
        return [np.zeros(size, dtype=np.int64), *(np.full(size, np.nan) for _ in range(5))]

    def append(self, ts: int, open: float, high: float, low: float, close: float, volume: float) -> None:
        n = self.n
        cols = self._cols
        if n + 1 + PAD > cols[0].shape[0]:
            grown = self._alloc(2 * cols[0].shape[0])
            for new, old in zip(grown, cols):
                new[:n] = old[:n]
            self._cols = cols = grown
        for col, v in zip(cols, (ts, open, high, low, close, volume)):
            col[n] = v
        self.n = n + 1

    @property
    def last_ts(self) -> int | None:
        return int(self._cols[0][self.n - 1]) if self.n else None

    def bars(self) -> Bars:
        """The visible bars (read-only views into the buffers, padding after them)."""
        n = self.n
        ts, o, h, lo, c, v = (_frozen(col[:n]) for col in self._cols)
        return Bars(o, h, lo, c, v, ts)

    def rows(self) -> list[tuple]:
        """(ts, open, high, low, close, volume) of every bar so far."""
        return list(zip(*(col[:self.n].tolist() for col in self._cols)))


class PanelBuffer:
    """A universe's clock bars, appended one group at a time, aligned as ``Panel.from_series`` aligns
    them (a symbol without a bar carries its last close, NaN before its first bar, volume 0)."""

    __slots__ = ("symbols", "n", "_pos", "_ts", "_cols", "_mask", "_last")

    def __init__(self, symbols: Sequence[str], capacity: int = 256) -> None:
        self.symbols = tuple(sorted(symbols))
        self._pos = {s: k for k, s in enumerate(self.symbols)}
        self.n = 0
        self._alloc(capacity)
        self._last = [np.nan] * len(self.symbols)

    def _alloc(self, cap: int) -> None:
        m = len(self.symbols)
        ts, cols, mask = np.zeros(cap, dtype=np.int64), {f: np.full((m, cap), np.nan) for f in FIELDS}, \
            np.zeros((m, cap), dtype=np.bool_)
        if self.n:
            n = self.n
            ts[:n] = self._ts[:n]
            mask[:, :n] = self._mask[:, :n]
            for f in FIELDS:
                cols[f][:, :n] = self._cols[f][:, :n]
        self._ts, self._cols, self._mask = ts, cols, mask

    def append(self, ts: int, bars: Sequence[tuple[str, float, float, float, float, float]]) -> None:
        """One clock bar: (symbol, open, high, low, close, volume) of each symbol that has a bar then."""
        if not bars:
            raise InputError(f"panel buffer: the clock bar at ts {ts} has no symbol's bar")
        j = self.n
        if j == self._ts.shape[0]:
            self._alloc(2 * j)
        self._ts[j] = ts
        cols = self._cols
        seen = set()
        for sym, o, h, lo, c, v in bars:
            k = self._pos.get(sym)
            if k is None:
                raise InputError(f"panel buffer for {list(self.symbols)} got a bar of {sym!r}")
            if k in seen:
                raise InputError(f"panel buffer: two bars of {sym!r} at ts {ts}")
            seen.add(k)
            cols["open"][k, j], cols["high"][k, j], cols["low"][k, j] = o, h, lo
            cols["close"][k, j], cols["volume"][k, j] = c, v
            self._mask[k, j] = True
            self._last[k] = c
        for k in range(len(self.symbols)):
            if k not in seen:
                last = self._last[k]
                for f in ("open", "high", "low", "close"):
                    cols[f][k, j] = last
                cols["volume"][k, j] = 0.0
        self.n = j + 1

    @property
    def last_ts(self) -> int | None:
        return int(self._ts[self.n - 1]) if self.n else None

    def panel(self) -> Panel:
        """The visible clock bars as a Panel of padded C-contiguous copies."""
        n = self.n
        c = {f: padded(a[:, :n]) for f, a in self._cols.items()}
        return Panel(self.symbols, padded(self._ts[:n]), c["open"], c["high"], c["low"], c["close"], c["volume"],
                     padded(self._mask[:, :n]))

    def groups(self) -> list[tuple[int, list[tuple]]]:
        """(ts, [(symbol, open, high, low, close, volume), ...]) of every clock bar so far."""
        cols = [self._cols[f][:, :self.n].tolist() for f in FIELDS]
        mask = self._mask[:, :self.n].tolist()
        return [(t, [(s, *(c[k][j] for c in cols)) for k, s in enumerate(self.symbols) if mask[k][j]])
                for j, t in enumerate(self._ts[:self.n].tolist())]


def visible_bars(bars: Any, n: int) -> Bars:
    """The first ``n`` bars of a series (anything with ts/open/.../volume) as padded copies."""
    return Bars(*(padded(np.asarray(getattr(bars, f))[:n]) for f in ("open", "high", "low", "close", "volume", "ts")))


def visible_panel(panel: Panel, n: int) -> Panel:
    """The first ``n`` clock bars of ``panel`` as padded C-contiguous copies."""
    w = panel.head(n)
    return Panel(w.symbols, padded(w.ts), *(padded(getattr(w, f)) for f in FIELDS), padded(w.mask))


def decisions_over(spec: StrategySpec, table: Any, data: Bars | Panel, plan: Any = None) -> Decisions:
    """``spec.decisions`` for the one set of ``table`` over ``data`` (already padded), with the
    indicator bank padded too: ``StrategySpec.decisions`` without its checks of the parameters and the
    data, done once when a run starts (a pair checked for a common date on every prefix would be
    refused before its second symbol's first bar). ``plan``: the table's ``indicator_plan``, made once
    by a decider that calls this on every bar."""
    rows = spec.indicator_rows(table, data, plan)
    rows = IndicatorRows(padded(rows.bank), rows.idx, rows.keys)
    return spec.kernels.decisions(spec, data, rows, table)


def check_history(state: Any, n: int, last_ts: int | None) -> None:
    """The bars given back to a streaming decider are the ones its snapshot ``state`` saw."""
    if n != int(state["bars"]) or last_ts != state["last_ts"]:
        raise InputError(f"streaming decider: the snapshot saw {state['bars']} bar(s) up to ts {state['last_ts']}, "
                         f"the bars kept are {n} up to ts {last_ts}")
