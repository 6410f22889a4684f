"""Lookahead check: a decision at bar i may depend on bars 0..i only.

The strategy runs on the full series, then at each cut point on (a) the truncation
``series.head(cut)`` and (b) the same series with another future: every price from the cut on
scaled up, then down (``ALTERNATIVE_FUTURES``). Every target decided before the cut (bars
0..cut-1) and, for (a), every order the replay sends before the cut must be the same. A difference
means the strategy (or an indicator) peeked at later bars; the report names the first bar whose
decision changed. (b) catches a ``decide`` that reads ``close[i + 1]``: with the arrays cut short
that read would land outside them, with another future it sees a different price.

A custom decision source (``decisions``: series -> target per bar, e.g. a new indicator or rule not
yet registered) goes through the same machinery: its targets are compared cut by cut and executed by
the event engine, whose fills are compared too.
"""

from __future__ import annotations

import datetime as _dt
import time as _time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lq_engine.authoring.declare import StrategyError
from lq_engine.authoring.params import ParamError
from lq_engine.data.bars import Bars
from lq_engine.errors import InputError, InputTypeError
from lq_engine.execution.config import ExecutionConfig
from lq_engine.replay.engine import replay
from lq_engine.replay.event_engine import EventEngine, TargetsDecider
from lq_engine.strategies.kernel_types import position_records
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.spec import StrategySpec


ALTERNATIVE_FUTURES = (1.5, 0.5)  # price factors applied from the cut on


@dataclass(frozen=True)
class CutResult:
    cut: int
    first_target_diff: int | None  # first bar < cut whose target differs, None if none
    first_fill_diff: int | None  # first fill (before the cut) that differs, None if none
    future: float | None = None  # the alternative future (price factor) that changed it; None: truncation

    @property
    def ok(self) -> bool:
        return self.first_target_diff is None and self.first_fill_diff is None


@dataclass(frozen=True)
class LookaheadReport:
    strategy: str
    params: dict[str, Any]
    n_bars: int
    cuts: list[CutResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.cuts)

    @property
    def first_bad_bar(self) -> int | None:
        """The earliest bar whose decision changed when later bars were removed or changed."""
        bars = [c.first_target_diff for c in self.cuts if c.first_target_diff is not None]
        return min(bars) if bars else None

    def summary(self) -> str:
        head = f"lookahead check {self.strategy} {self.params} over {self.n_bars} bars, {len(self.cuts)} runs: "
        if self.ok:
            return head + "OK (no decision or fill before a cut changes when later bars are removed)"
        first = self.first_bad_bar
        lines = [head + "FAILED" + (f": the decision at bar {first} changed when bars after it changed"
                                   if first is not None else "")]
        for c in self.cuts:
            if not c.ok:
                how = "truncated" if c.future is None else f"prices from bar {c.cut} on x{c.future:g}"
                lines.append(f"  cut {c.cut} ({how}): first target change at bar {c.first_target_diff}, "
                             f"first fill change at fill {c.first_fill_diff}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def default_series(n: int = 600, seed: int = 7) -> Bars:
    """Synthetic (labelled as such) 1-minute bars with gaps, for the check when no data is given."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    op = np.concatenate(([close[0]], close[:-1] * np.exp(rng.normal(0.0, 0.003, n - 1))))
    hi = np.maximum(op, close) * (1 + np.abs(rng.normal(0.0, 0.004, n)))
    lo = np.minimum(op, close) * (1 - np.abs(rng.normal(0.0, 0.004, n)))
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return Bars.from_arrays("SYNTHETIC", ts, op, hi, lo, close, rng.uniform(100.0, 1000.0, n))


def _first_diff(a: np.ndarray, b: np.ndarray) -> int | None:
    m = min(a.shape[0], b.shape[0])
    d = np.flatnonzero(a[:m] != b[:m])
    if d.size:
        return int(d[0])
    return None if a.shape[0] == b.shape[0] else m


DecisionSource = Callable[[Bars], "np.ndarray | Sequence[int]"]


@dataclass(frozen=True)
class _Run:
    target: np.ndarray
    fill_bar: np.ndarray
    fills: np.ndarray  # (ts, side, quantity, price) per fill


def other_future(series: Bars, cut: int, factor: float) -> Bars:
    """``series`` with every price from bar ``cut`` on multiplied by ``factor`` (a valid other future)."""
    def f(a: np.ndarray) -> np.ndarray:
        out = np.array(a, dtype=np.float64)
        out[cut:] *= factor
        return out

    return Bars.from_arrays(series.symbol, series.ts, f(series.open), f(series.high), f(series.low), f(series.close),
                              series.volume)


def _strategy_run(strategy: StrategySpec | str, params: Mapping[str, Any] | None, config: ExecutionConfig):
    def run(series: Bars) -> tuple[_Run, dict[str, Any]]:
        r = replay(strategy, params, series, config)
        f = r.fills
        return _Run(r.target, f.bar, np.column_stack([f.ts, f.side, f.quantity, f.price])), dict(r.params)

    return run


def _source_run(decisions: DecisionSource, config: ExecutionConfig):
    def run(series: Bars) -> tuple[_Run, dict[str, Any]]:
        targets = np.asarray(decisions(series))
        if targets.shape != (series.n,):
            raise InputError(f"lookahead check: the decision source returned shape {targets.shape} for {series.n} bars")
        engine = EventEngine(series.symbol, TargetsDecider(targets), config).run(series)
        bar_of = {ts: i for i, ts in enumerate(series.ts.tolist())}
        fills = np.array([(f.timestamp_ns, f.side, f.quantity, f.price) for f in engine.fills], dtype=np.float64)
        return _Run(np.array(engine.targets, dtype=np.int8),
                    np.array([bar_of[f.timestamp_ns] for f in engine.fills], dtype=np.int64),
                    fills.reshape(-1, 4)), {}  # a custom source has no registered parameters

    return run


def check_lookahead(
    strategy_name: Any,
    params: Mapping[str, Any] | None = None,
    bars: Bars | None = None,
    cuts: Sequence[int] | int = 8,
    config: ExecutionConfig = ExecutionConfig(),
    decisions: DecisionSource | None = None,
) -> LookaheadReport:
    """``cuts``: explicit cut points, or how many evenly spaced ones to use.

    ``strategy_name``: a strategy name or StrategySpec. ``decisions``: check this decision source
    (series -> target per bar, decided at each bar's close) instead (the name is then only a label).
    """
    if decisions is None:
        strategy_name = resolve(strategy_name)
    label = getattr(strategy_name, "name", strategy_name)
    series = bars if bars is not None else default_series()
    run = _strategy_run(strategy_name, params, config) if decisions is None else _source_run(decisions, config)
    full, used_params = run(series)
    if isinstance(cuts, int):
        points = sorted({int(x) for x in np.linspace(2, series.n - 1, cuts)})
    else:
        points = sorted(int(c) for c in cuts)
    out = []
    for cut in points:
        if not 1 <= cut <= series.n:
            raise InputError(f"lookahead cut {cut} outside 1..{series.n}")
        part, _ = run(series.head(cut))
        t_diff = _first_diff(full.target[:cut], part.target)
        f_full = full.fills[full.fill_bar < cut]
        f_part = part.fills
        f_diff = None
        if f_full.shape != f_part.shape:
            f_diff = _first_diff(f_full[:, 0], f_part[:, 0]) if f_full.size and f_part.size else 0
        else:
            rows = np.flatnonzero(~np.all(f_full == f_part, axis=1))
            f_diff = int(rows[0]) if rows.size else None
        out.append(CutResult(cut, t_diff, f_diff))
        if cut < series.n:
            for factor in ALTERNATIVE_FUTURES:
                alt, _ = run(other_future(series, cut, factor))
                out.append(CutResult(cut, _first_diff(full.target[:cut], alt.target[:cut]), None, factor))
    return LookaheadReport(label, used_params, series.n, out)


# =================================================================================================
# The lookahead scan: decisions only, every bar field perturbed on its own, portfolios included.
# =================================================================================================
#
# ``lookahead_scan`` is what the optimizer's gate, ``lq check lookahead`` and ``lq strategy check``
# run. It compares DECISIONS (targets and exit fractions; a portfolio's weight rows and rebalance
# flags) computed by the strategy's compiled decision loop, never fills, so one run costs an
# indicator pass and one loop over a bounded segment of the data.

SCAN_FIELDS = ("open", "high", "low", "close", "volume")
SCAN_SCALES = (1.5, 0.5)  # each field from the cut on is scaled (up at one cut, down at the next), then shuffled
PAD = 64  # NaN bars written in memory behind every 1-D array a truncated run gives the decision loop
GATE_SAMPLE = 8  # seeded grid sets added to the gate's chosen ones


@dataclass(frozen=True)
class LookaheadFailure:
    params: dict[str, Any]  # the parameter set
    bar: int  # first bar (index in the series or panel checked) whose decision changed
    cut: int  # bars from ``cut`` on were removed / changed
    how: str  # "truncated", "high x1.5", "close shuffled", "volume x0.5", ...
    symbol: str | None  # which symbol's series (single-symbol data), None for a panel
    ts: int | None = None  # the timestamp (ns UTC) of ``bar``

    def message(self) -> str:
        where = f", symbol {self.symbol}" if self.symbol else ""
        if self.ts is not None:
            where += f", bar {self.bar} is {_when(self.ts)}"
        return (f"lookahead: the decision at bar {self.bar} changed when later bars changed "
                f"(params {self.params}{where}; {self.how} after bar {self.cut - 1})")


def _when(ts: int) -> str:
    t = _dt.datetime.fromtimestamp(int(ts) / 1e9, _dt.timezone.utc)
    return t.strftime("%Y-%m-%d") if (t.hour, t.minute, t.second) == (0, 0, 0) else t.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class LookaheadScan:
    strategy: str
    n_sets: int
    runs: int  # decision runs made
    seconds: float
    failures: tuple[LookaheadFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def message(self) -> str:
        """The verdict line of the first failure ("" when every decision held)."""
        return self.failures[0].message() if self.failures else ""

    def summary(self) -> str:
        head = (f"lookahead scan {self.strategy}: {self.n_sets} parameter sets, {self.runs} decision runs, "
                f"{self.seconds:.2f} s: ")
        if self.ok:
            return head + ("OK (no decision before a cut changed when later bars were removed or any bar field "
                           "after it was scaled or shuffled)")
        return head + "FAILED\n" + "\n".join("  " + f.message() for f in self.failures)

    def __str__(self) -> str:
        return self.summary()


@dataclass
class _Unit:
    """One run's data: a single series (1-D fields, ``mask`` None) or a panel (symbols x bars)."""

    symbol: str | None
    ts: np.ndarray
    fields: dict[str, np.ndarray]  # open, high, low, close, volume
    mask: np.ndarray | None = None
    symbols: tuple[str, ...] = ()
    padded: bool = False  # ready for the loops as they are: read-only, C-contiguous and, for a series, with
    # ``PAD`` values behind them in memory (``segment``, ``_perturbed``)

    @property
    def n(self) -> int:
        return int(self.ts.shape[0])

    def segment(self, a: int, b: int) -> "_Unit":
        """Bars [a, b), copied (C-contiguous); a series' arrays padded (``_padded``) once here, so that
        the runs over the segment and its perturbed copies need no copy of their own."""
        if self.mask is None:
            return _Unit(self.symbol, _padded(self.ts[a:b], b - a, PAD),
                         {f: _padded(np.asarray(x[a:b], dtype=np.float64), b - a, PAD) for f, x in self.fields.items()},
                         padded=True)
        sl = (slice(None), slice(a, b))  # a panel: copied once, C-contiguous and read-only (no padding: a read
        return _Unit(self.symbol, _frozen(np.array(self.ts[a:b])),  # past a row's end lands in the next row)
                     {f: _frozen(np.array(x[sl], dtype=np.float64)) for f, x in self.fields.items()},
                     _frozen(np.array(self.mask[sl], dtype=np.bool_)), self.symbols, padded=True)


def _units(spec: StrategySpec, data: Any) -> list[_Unit]:
    """``data`` as the units a strategy runs on: a panel for a portfolio strategy, else each symbol's
    series (a Panel given to a single-symbol strategy is split into its symbols' real bars)."""
    def one(x: Any, symbol: str | None) -> _Unit:
        return _Unit(symbol, np.asarray(x.ts, dtype=np.int64), {f: np.asarray(getattr(x, f), dtype=np.float64)
                                                                 for f in SCAN_FIELDS})

    if spec.is_portfolio:
        if not isinstance(data, Panel):
            raise StrategyError(f"strategy '{spec.name}' is a portfolio strategy: check it on a universe's Panel, "
                                f"not on {type(data).__name__}")
        spec.check_data(data)
        return [_Unit(None, np.asarray(data.ts, dtype=np.int64),
                      {f: np.asarray(getattr(data, f), dtype=np.float64) for f in SCAN_FIELDS},
                      np.asarray(data.mask, dtype=np.bool_), tuple(data.symbols)).segment(0, data.n)]
    if isinstance(data, Panel):
        out = []
        for k, sym in enumerate(data.symbols):
            m = np.asarray(data.mask[k])
            if m.any():
                out.append(_Unit(sym, np.asarray(data.ts)[m], {f: np.asarray(getattr(data, f)[k])[m].astype(np.float64)
                                                               for f in SCAN_FIELDS}))
        return out

    def is_series(x: Any) -> bool:
        return isinstance(x, Bars)

    if isinstance(data, Mapping):  # symbol -> series (a DatasetView's ``series``)
        data = list(data.values())
    if is_series(data):
        return [one(data, getattr(data, "symbol", None))]
    if isinstance(data, (list, tuple)) and data and all(is_series(s) for s in data):
        return [one(s, getattr(s, "symbol", None)) for s in data]
    raise InputTypeError(f"lookahead scan of '{spec.name}': data must be Bars, a list of them or a Panel, "
                         f"got {type(data).__name__}")


@dataclass
class _Decided:
    """Decisions of every set over one run: ``rows`` (sets x bars x k: the target and exit fractions,
    or the weights and the rebalance flag), ``valid`` (per set: bars before its first invalid
    decision), ``err`` (per set: bar, code, value, symbol of that decision; code 0: none)."""

    rows: np.ndarray
    valid: np.ndarray
    err: np.ndarray
    raised: tuple[str | None, ...] = ()  # per set: the error its run raised (its rows are then meaningless)

    def failed(self, j: int) -> str | None:
        return self.raised[j] if self.raised else None


def _run_each(spec: StrategySpec, sets: list[dict], table: Any, u: _Unit, n: int | None = None, plan: Any = None,
              memo: dict | None = None, states: Any = None) -> _Decided:
    """``_run_decisions``, and when it raises (an indicator that cannot run on truncated or changed
    bars, e.g. a pair without a common date left), every set on its own, keeping what each raised."""
    try:
        return _run_decisions(spec, table, u, n, plan, memo, states)[0]
    except StrategyError:
        pass
    n = u.n if n is None else n
    parts, raised = [], []
    for p in sets:
        try:
            parts.append(_run_decisions(spec, spec.table([p]), u, n)[0])
            raised.append(None)
        except StrategyError as e:
            parts.append(None)
            raised.append(str(e).splitlines()[0])
    k = next((d.rows.shape[2] for d in parts if d is not None), 1)
    rows = np.full((len(sets), n, k), np.nan)
    valid = np.zeros(len(sets), dtype=np.int64)
    err = np.zeros((len(sets), 4))
    for j, d in enumerate(parts):
        if d is not None:
            rows[j], valid[j], err[j] = d.rows[0], d.valid[0], d.err[0]
    return _Decided(rows, valid, err, tuple(raised))


def _padded(x: np.ndarray, n: int, pad: int, freeze: bool = True) -> np.ndarray:
    """``x[:n]`` as the first n values of an array with ``pad`` more behind it in memory (NaN, or the
    clock continued for ts): a compiled read past the end sees them, deterministically. Read-only
    unless ``freeze`` is False."""
    if x.dtype == np.int64:
        step = int(x[n - 1] - x[n - 2]) if n > 1 else 60_000_000_000
        buf = np.empty(n + pad, dtype=np.int64)
        buf[:n] = x[:n]
        buf[n:] = x[n - 1] + step * np.arange(1, pad + 1, dtype=np.int64)
    else:
        buf = np.full(n + pad, np.nan)
        buf[:n] = x[:n]
    return _frozen(buf[:n]) if freeze else buf[:n]


def _frozen(a: np.ndarray) -> np.ndarray:
    """Read-only, as every driver hands arrays to the compiled loops (numba compiles read-only and
    writable arrays apart: a writable one would cost a second compile of the strategy's loop)."""
    a.setflags(write=False)
    return a


def _run_decisions(spec: StrategySpec, table: Any, u: _Unit, n: int | None = None, plan: Any = None,
                   memo: dict | None = None, states: Any = None) -> tuple[_Decided, Any]:
    """The decisions of every set of ``table`` over the first ``n`` bars of ``u`` (all by default),
    through the strategy's compiled decision loop (the ``codegen`` module's ``decision_loop`` /
    ``pdecision_loop``, called as ``Kernels.decisions`` calls them; the indicators of all the sets
    computed once), without raising at an invalid decision: the bars before it are kept (``valid``).

    ``plan``: the table's ``indicator_plan`` (made here when not given); ``memo``: indicator values
    kept across the runs over one segment and its perturbed copies (``spec.memo_indicator``);
    ``states``: the strategy's state record (reset by the loop at its start), reused by a caller
    making many runs one after the other.

    Perturbed bars need not be valid OHLC (a scaled high may fall below the close): nothing on this
    path validates bars (``Bars``/``Panel`` are built directly, not through ``Bars.checked``), so the
    strategy sees exactly the changed values. Returns the decisions and the indicator rows."""
    n = u.n if n is None else n
    kern = spec.kernels
    pmat = table.matrix()
    m = len(table)
    err = np.zeros((m, 4))
    if states is None:  # reset by the loop at its start: one record serves every set
        states = spec.declaration.state.new(1)
    if u.mask is None:
        if u.padded and n == u.n:  # a segment (or a perturbed copy): padded already
            f, ts = u.fields, u.ts
        else:
            f, ts = {name: _padded(u.fields[name], n, PAD) for name in SCAN_FIELDS}, _padded(u.ts, n, PAD)
        bars = Bars(f["open"], f["high"], f["low"], f["close"], f["volume"], ts)
        rows = spec.indicator_rows(table, bars, plan, memo)
        targets = np.zeros((m, n))
        exits = np.full((m, n, 3), np.nan) if spec.has_exits else np.full((m, 1, 3), np.nan)  # (unused)
        kern.call(spec, "decision_loop", bars.open, bars.high, bars.low, bars.close, bars.volume, bars.ts,
                  rows.bank, rows.idx, pmat, states, targets, exits, err)
        out = np.concatenate([targets[:, :, None], exits], axis=2) if spec.has_exits else targets[:, :, None]
    else:
        if u.padded and n == u.n:  # a segment (or a perturbed copy): its arrays are ready (and the
            f, ts, mask = u.fields, u.ts, u.mask  # same objects from run to run: the memo can see that)
        else:
            sl = (slice(None), slice(0, n))
            f = {name: _frozen(np.array(u.fields[name][sl], dtype=np.float64)) for name in SCAN_FIELDS}
            ts, mask = _frozen(np.array(u.ts[:n], dtype=np.int64)), _frozen(np.array(u.mask[sl], dtype=np.bool_))
        panel = Panel(u.symbols, ts, f["open"], f["high"], f["low"], f["close"], f["volume"], mask)
        rows = spec.indicator_rows(table, panel, plan, memo)
        s = panel.n_symbols
        out = np.empty((m, n, s + 1))
        weights = np.zeros((m, n + 1, s))
        row = np.zeros((m, n), dtype=np.int64)
        rebal = np.zeros((m, n), dtype=np.bool_)
        kern.call(spec, "pdecision_loop", panel.open, panel.high, panel.low, panel.close, panel.volume,
                  panel.ts, panel.mask, rows.bank, rows.idx, pmat, states, position_records(1, s), weights, row,
                  rebal, err)
        for j in range(m):
            out[j, :, :s] = weights[j][row[j]]
            out[j, :, s] = rebal[j]
    valid = np.where(err[:, 1] > 0, err[:, 0], n).astype(np.int64)
    return _Decided(out, valid, err), rows


def _first_changes(ref: _Decided, alt: _Decided, upto: int) -> np.ndarray:
    """Per set, the first bar < ``upto`` whose decision differs, or where one run stopped at an
    invalid decision and the other did not (-1: none)."""
    m = min(upto, ref.rows.shape[1], alt.rows.shape[1])
    a, b = ref.rows[:, :m], alt.rows[:, :m]
    r_end, a_end = np.minimum(ref.valid, upto), np.minimum(alt.valid, upto)
    if not np.any(a.view(np.int64) != b.view(np.int64)):  # bit for bit the same (the usual case): one pass
        return np.where(r_end != a_end, np.minimum(r_end, a_end), -1)
    diff = np.any((a != b) & ~(np.isnan(a) & np.isnan(b)), axis=2)  # sets x bars
    diff &= np.arange(m)[None, :] < np.minimum(r_end, a_end)[:, None]
    out = np.where(diff.any(axis=1), np.argmax(diff, axis=1), -1)
    return np.where((out < 0) & (r_end != a_end), np.minimum(r_end, a_end), out)


def _first_active(d: _Decided, j: int, portfolio: bool) -> int:
    """The first bar whose decision (of set j) is not 'flat, no exits' (n when none)."""
    rows = d.rows[j, : d.valid[j]]
    if portfolio:
        live = np.any(rows != 0.0, axis=1)  # weights, or the rebalance flag
    else:
        live = rows[:, 0] != 0.0
        if rows.shape[1] > 1:
            live |= ~np.all(np.isnan(rows[:, 1:]), axis=1)
    idx = np.flatnonzero(live)
    return int(idx[0]) if idx.size else d.rows.shape[1]


def _first_warm(rows: Any, j: int, n: int) -> int:
    """The first bar where every indicator of set ``j`` has a value (n when never)."""
    first = 0
    for r in np.asarray(rows.idx[j]).tolist():
        v = rows.bank[r]
        fin = np.isfinite(v) if v.ndim == 1 else np.isfinite(v).any(axis=0)
        idx = np.flatnonzero(fin)
        first = max(first, int(idx[0]) if idx.size else n)
    return first


FULL_KEEP_BARS = 50_000  # a run over all the data keeps its decisions (to serve as a segment's) up to this length
SURVEY_VALUES = 2_000_000  # decision values per chunk of sets in the run over all the data (bounds its memory)


def _survey(spec: StrategySpec, sets: list[dict], unit: _Unit, keep: bool
            ) -> tuple[_Decided | None, list[int], list[np.ndarray]]:
    """One run of every set over all of ``unit``, in chunks of sets (memory stays bounded on long
    data): per set the bar where it starts deciding (if it never does, where its indicators all have
    values; 0 when that is the last bar), and the bars whose decision differs from the previous one.
    Raises the strategy's own error for an invalid decision on the data itself. ``keep``: also return
    the decisions of all sets."""
    n = unit.n
    portfolio = spec.is_portfolio
    width = (unit.fields["close"].shape[0] + 1) if portfolio else 4
    chunk = max(1, SURVEY_VALUES // max(1, n * width))
    starts: list[int] = []
    changes: list[np.ndarray] = []
    kept = []
    for lo in range(0, len(sets), chunk):
        part = sets[lo:lo + chunk]
        d, rows = _run_decisions(spec, spec.table(part), unit)
        if (d.valid < n).any():  # an invalid decision on the data itself: the strategy's own error
            spec.kernels._check(spec, d.err, lambda j: dict(part[j]), unit.symbols)
        for j in range(len(part)):
            active = _first_active(d, j, portfolio)
            start = active if active < n else _first_warm(rows, j, n)
            starts.append(start if start < n - 1 else 0)
            r = d.rows[j]
            changes.append(np.flatnonzero(np.any((r[1:] != r[:-1]) & ~(np.isnan(r[1:]) & np.isnan(r[:-1])),
                                                 axis=1)) + 1)
        if keep:
            kept.append(d)
    full = None
    if keep:
        full = _Decided(np.concatenate([d.rows for d in kept]), np.concatenate([d.valid for d in kept]),
                        np.concatenate([d.err for d in kept]))
    return full, starts, changes


def _cut_points(changes: list[np.ndarray], starts: list[int], n: int, k: int, rng: np.random.Generator,
                units: int = 1, unit: int = 0) -> list[int]:
    """Cut points in [1, n - 1] shared by every set: one near the end, ``k - 1`` spread evenly after the
    earliest start (the first bar a set decides something), and one per set (up to ``2 k``) right after
    a bar, past that set's start, where its decision changed (where a peek at the next bar shows).
    With ``units`` series (each symbol on its own; this is series ``unit``) the cuts are dealt out
    among them, so that many symbols cost about as much as one: series u takes the spread cuts
    i = u, u + units, ... (at the fraction (i + 1) / k of its own span, so the symbols together cover
    the whole span once), its share of the ``2 k`` change cuts (at least one) and, for the last
    series, the cut near the end."""
    lo, hi = min(starts) + 1, n - 1
    if hi < lo or k < 1:
        return []
    out: set[int] = set()
    if unit == units - 1:
        out.add(max(lo, n - 2))
    out.update(int(round(lo + (hi - lo) * (i + 1) / k)) for i in range(unit, k - 1, units))
    most = max(1, 2 * k // units + (1 if unit < (2 * k) % units else 0))
    order = rng.permutation(len(changes))
    extra = 0
    for j in order.tolist():
        if extra >= most:
            break
        cand = changes[j] + 1  # cut right after the bar that changed
        cand = cand[(cand > starts[j]) & (cand <= hi)]
        if cand.size:
            c = int(cand[rng.integers(cand.size)])
            if c not in out:
                out.add(c)
                extra += 1
    return sorted(out)


def _perturbed(seg: _Unit, lc: int, field: str, how: Any, rng: np.random.Generator) -> _Unit:
    """``seg`` with ``field`` changed from bar ``lc`` on: scaled by ``how`` (a panel: every other symbol
    by the other factor, so that the symbols' order changes too), or shuffled (``how`` None; each
    symbol on its own)."""
    x = _padded(seg.fields[field], seg.n, PAD, freeze=False) if seg.padded and seg.mask is None \
        else seg.fields[field].copy()
    rows = [x] if seg.mask is None else [x[s] for s in range(x.shape[0])]
    for s, r in enumerate(rows):
        tail = r[lc:]
        if how is None:
            tail[:] = _shuffle(tail, rng)
        else:
            tail *= how if s % 2 == 0 else _other(how)
    if seg.padded:
        _frozen(x)
    return _Unit(seg.symbol, seg.ts, {**seg.fields, field: x}, seg.mask, seg.symbols, seg.padded)


def _other(how: float) -> float:
    return SCAN_SCALES[0] * SCAN_SCALES[1] / how


def _shuffle(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A seeded permutation of ``x`` that moves every value when it can (never the identity)."""
    p = rng.permutation(x.shape[0])
    if x.shape[0] > 1 and np.all(p == np.arange(x.shape[0])):
        p = np.roll(p, 1)
    return x[p]


def _how(field: str, how: Any, panel: bool) -> str:
    if how is None:
        return f"{field} shuffled"
    return f"{field} x{how:g}" + (f" (every other symbol x{_other(how):g})" if panel else "")


def trials(k: int) -> tuple[tuple[str, Any], ...]:
    """The runs at a series' k-th cut: truncated, then each field on its own scaled (x1.5 at even k,
    x0.5 at odd k: every cut but one of a series' goes both ways over the series' cuts) and shuffled.
    Both scales at every cut cost 5 runs more per cut (~45% of the gate) and caught nothing more in
    the cheat suite (tests/strategies/cheats) on any seed tried."""
    scale = SCAN_SCALES[k % 2]
    return (("truncated", None),) + tuple((f, h) for f in SCAN_FIELDS for h in (scale, None))


def lookahead_scan(strategy: StrategySpec | str, param_sets: Sequence[Mapping[str, Any]], data: Any, *, cuts: int = 4,
                   seed: int = 0, max_bars: int = 4000, stop_at_first: bool = True) -> LookaheadScan:
    """Check that no decision of ``strategy`` at bar i depends on bars after i, for every set of
    ``param_sets`` on ``data``: ``Bars`` (a frozen dataset's ``series``, ``Bars.from_arrays``), a list
    of them or a mapping symbol ->
    series (a ``DatasetView.series``: each symbol on its own), or a ``Panel`` (a portfolio strategy's
    universe, e.g. ``DatasetView.panel``; a single-symbol strategy then runs on each symbol's real
    bars, and ``bar`` counts that symbol's bars).

    Per series: one run of every set over all the data finds where each set starts deciding (or, if
    it never does, where its indicators all have values) and the bars where its decision changes.
    Then at the cut points (``_cut_points``: near the end, ``cuts - 1`` spread after the earliest
    start, and one right after a decision change per set, up to ``2 cuts``; shared out among the
    series when there are several) the decisions over a segment (twice the longest warm-up before
    the cut, at least 1,000 bars and at most ``max_bars`` unless the warm-up is longer; ``max_bars //
    8`` after it)
    are compared, bar by bar and exactly (NaN equals NaN), with the decisions on (a) the segment
    truncated at the cut (in memory, NaN follows its last bar: a compiled read past the end sees
    NaN, not other memory) and (b) the segment with one bar field (open, high, low, close, volume),
    from the cut on, scaled (x1.5 at one cut, x0.5 at the next: ``trials``) or shuffled (seeded), the
    others unchanged. A panel's
    symbols are scaled by alternating factors (so their order changes) and shuffled one by one. Any
    decision before the cut that differs is a failure naming the set, the bar, the cut and the change.

    ``stop_at_first``: return at the first failure; otherwise every set is checked to the end of the
    cuts, with one failure (its first) per failing set and series.
    """

    t0 = _time.perf_counter()
    spec = resolve(strategy)
    sets = [spec.validated(p) for p in param_sets]
    units = _units(spec, data)
    portfolio = spec.is_portfolio
    tail = max(2, max_bars // 8)
    runs = 0
    failures: list[LookaheadFailure] = []

    def done() -> LookaheadScan:
        return LookaheadScan(spec.name, len(sets), runs, _time.perf_counter() - t0, tuple(failures))

    if not sets:
        return done()
    table = spec.table(sets)
    plan = spec.indicator_plan(table)  # the sets' indicator calls, made once: every run below reuses them
    states = spec.declaration.state.new(1)
    sub_plans: dict[tuple[int, ...], tuple[Any, Any]] = {}
    for k_unit, unit in enumerate(units):
        rng = np.random.default_rng([seed, k_unit])
        n = unit.n
        if n < 3:
            continue
        full, starts, changes = _survey(spec, sets, unit, keep=n <= FULL_KEEP_BARS)
        runs += len(sets)
        failed: set[int] = set()
        smax = max(starts)  # bars before the cut: twice the longest warm-up (at least 1,000, at most
        lead = max(min(max_bars, max(1_000, 2 * smax)), smax + max_bars // 8)  # max_bars unless it is longer)
        for k_cut, c in enumerate(_cut_points(changes, starts, n, cuts, rng, len(units), k_unit)):
            a, b = max(0, c - lead), min(n, c + tail)
            memo: dict = {}  # indicator values over this segment, by the bar arrays they read
            if a == 0 and b == n and full is not None:
                seg, ref = unit, full
            else:
                seg = unit.segment(a, b)
                ref = _run_each(spec, sets, table, seg, plan=plan, memo=memo, states=states)
                runs += len(sets)
            lc = c - a
            # the sets still to check here: not failed yet, and able to run on this segment
            live = [j for j in range(len(sets)) if j not in failed and not ref.failed(j)]
            if not live:
                continue
            if len(live) < len(sets):
                ref = _Decided(ref.rows[live], ref.valid[live], ref.err[live])
            sub = [sets[j] for j in live]
            if len(live) == len(sets):
                sub_table, sub_plan = table, plan
            else:
                if tuple(live) not in sub_plans:
                    t = spec.table(sub)
                    sub_plans[tuple(live)] = (t, spec.indicator_plan(t))
                sub_table, sub_plan = sub_plans[tuple(live)]
            for field_, how in trials(k_cut + k_unit):
                if field_ == "truncated":
                    alt = _run_each(spec, sub, sub_table, seg, lc, sub_plan, states=states)
                    label = "truncated"
                else:
                    alt = _run_each(spec, sub, sub_table, _perturbed(seg, lc, field_, how, rng), plan=sub_plan,
                                    memo=memo, states=states)
                    label = _how(field_, how, portfolio)
                runs += len(sub)
                for jj, bar in enumerate(_first_changes(ref, alt, lc).tolist()):
                    j = live[jj]
                    if j in failed:
                        continue
                    if alt.failed(jj):  # it ran on the bars up to the cut, and not on these: a failure
                        if _first_active(ref, jj, portfolio) >= lc:  # unless nothing was decided before it
                            continue
                        bar = _first_active(ref, jj, portfolio)
                        said = f"{label} (the strategy raised: {alt.failed(jj)})"
                    elif bar < 0:
                        continue
                    else:
                        said = label
                    failures.append(LookaheadFailure(dict(sets[j]), a + bar, c, said, unit.symbol,
                                                     int(unit.ts[a + bar])))
                    failed.add(j)
                    if stop_at_first:
                        return done()
    return done()


def gate_sets(spec: StrategySpec, seed: int = 0, sample: int = GATE_SAMPLE) -> list[dict[str, Any]]:
    """The parameter sets a lookahead gate checks: the default set; every value of every ``Choice``
    and ``Bool`` parameter (each on a seeded grid set it keeps valid); for each numeric parameter a
    grid set at the smallest and one at the largest value its grid takes; the grid set with the
    longest warm-up (the most leading bars without a value in its indicators, measured on generated
    bars); and ``sample`` more seeded grid sets. Distinct, in that order, all valid."""
    spec = resolve(spec)
    schema = spec.schema
    table = spec.grid()
    rows = table.rows()
    if not rows:
        raise ParamError(f"strategy '{spec.name}': the default grid has no set satisfying the constraints")
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    seen: set[tuple] = set()

    def add(p: Mapping[str, Any]) -> bool:
        try:
            v = schema.validate(dict(p))
        except ParamError:
            return False
        key = tuple(sorted((k, repr(x)) for k, x in v.items()))
        if key not in seen:
            seen.add(key)
            out.append(v)
        return True

    add(spec.default_params())
    order = rng.permutation(len(rows)).tolist()
    for prm in schema.params:
        if prm.kind not in ("choice", "bool"):
            continue
        for value in (prm.choices if prm.kind == "choice" else (False, True)):
            for i in order:  # the first seeded grid set that stays valid with this value
                if add({**rows[i], prm.name: value}):
                    break
    for prm in schema.params:
        if prm.kind not in ("int", "float"):
            continue
        col = table.columns[prm.name]
        for x in (col.min(), col.max()):
            hit = np.flatnonzero(col == x)
            add(rows[int(hit[rng.integers(hit.size)])])
    add(rows[_longest_warmup(spec, table)])
    for i in order[:sample]:
        add(rows[i])
    return out


def _longest_warmup(spec: StrategySpec, table: Any, n: int = 2_000, candidates: int = 16) -> int:
    """The grid set whose indicators have the most leading bars without a value, on generated bars
    (ties: the first), among the ``candidates`` sets whose numeric parameters rank highest in their
    grid axes (summed): long windows make long warm-ups, and measuring every set of a large grid
    would cost more than the check."""
    if not spec.indicators or not len(table):
        return 0
    score = np.zeros(len(table))
    for prm in spec.schema.params:
        if prm.kind in ("int", "float"):
            col = table.columns[prm.name]
            _, rank = np.unique(col, return_inverse=True)
            score += rank / max(1, int(rank.max()))
    pick = np.argsort(-score, kind="stable")[:candidates]
    rows = table.rows()
    sub = spec.table([rows[int(i)] for i in pick])
    data = generated_panel(n, universe_size(spec)) if spec.is_portfolio else default_series(n)
    try:
        ind = spec.indicator_rows(sub, data)
    except Exception:  # an indicator that cannot run on generated bars: no measure, the top-ranked set
        return int(pick[0])
    bank = ind.bank
    fin = np.isfinite(bank) if bank.ndim == 2 else np.isfinite(bank).any(axis=1)
    warm = np.where(fin.any(axis=1), np.argmax(fin, axis=1), n)  # per bank row
    return int(pick[int(np.argmax(warm[ind.idx].max(axis=1)))])


def universe_size(spec: StrategySpec) -> int:
    """Symbols of a generated universe for a portfolio strategy: five (as the bundled universe; the
    compiled loops are specialized per universe size), within its ``min_symbols``/``max_symbols``."""
    d = spec.declaration
    k = max(d.min_symbols, 5)
    return min(k, d.max_symbols) if d.max_symbols is not None else k


def generated_panel(n: int = 3_000, n_symbols: int = 5, seed: int = 7) -> Any:
    """A SYNTHETIC universe (labelled as such) for the portfolio checks: daily bars of ``n_symbols``
    correlated random walks, one symbol starting late (a fifth in), one ending early, and about 5%
    of each symbol's bars missing (gaps)."""
    rng = np.random.default_rng(seed)
    day = 86_400_000_000_000
    t0 = 1_700_000_000_000_000_000
    common = np.cumsum(rng.normal(0.0, 0.01, n))
    out = []
    for k in range(n_symbols):
        x = 0.6 * common + np.cumsum(rng.normal(0.0, 0.012, n))
        close = 50.0 * (k + 1) * np.exp(x)
        op = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0.0, 0.003, n))
        hi = np.maximum(op, close) * (1 + np.abs(rng.normal(0.0, 0.004, n)))
        lo = np.minimum(op, close) * (1 - np.abs(rng.normal(0.0, 0.004, n)))
        keep = rng.uniform(size=n) >= 0.05
        if k == 1:
            keep[: n // 5] = False  # a late start
        if k == 2 and n_symbols > 2:
            keep[n - n // 10:] = False  # ends early
        keep[np.flatnonzero(keep)[:1]] = True
        ts = t0 + np.arange(n, dtype=np.int64) * day
        out.append(Bars.from_arrays(f"SYN{k:03d}", ts[keep], op[keep], hi[keep], lo[keep], close[keep],
                                      rng.uniform(1e3, 1e5, n)[keep]))
    return Panel.from_series(out)
