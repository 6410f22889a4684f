"""``StrategySpec``: one strategy, resolved and checked, as every driver receives it.

A run resolves a strategy once (``registry.resolve``) and hands this object on: to stage 1 and
stage 2, to worker processes (it pickles as a reference: a built-in module, a file plus the hash of
its source, or an importable class; the worker loads it again and refuses a file that changed),
to the report and to the paper trader.

What it offers the drivers:
- the parameter schema (``schema``, ``table``, ``default_params``, ``validated``, ``grid``);
- ``indicator_rows(table, bars)``: every distinct indicator row the sets need, computed once
  (``indicator_plan(table)``: which rows, before any bar, for callers reusing it over many series);
- ``decisions(params, bars)``: the target (and exit fractions) at every bar's close, compiled;
- ``kernels``: the compiled sweep and decision loop (``codegen``), cached on disk by source hash;
- ``rules``: the rule-vocabulary program, for the shipped four (``rule_programs``: C/Rust/numba-rule backends).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import numba

from lq_engine.data.bars import Bars
from lq_engine.data.resample import Resampled, first_short_spacing, on_base, resample
from lq_engine.authoring.declare import Declaration, IndicatorDecl, StrategyError, snake_case
from lq_engine.authoring.params import ParamError, ParamTable, StrategySchema, explicit_grid, grid_table
from lq_engine.authoring.space import SearchSpace, override_key, search_space
from lq_engine.errors import InputTypeError
from lq_engine.strategies.codegen import compile_strategy
from lq_engine.strategies.decide_errors import IndicatorError, indicator_error
from lq_engine.strategies.kernel_types import BarsTuple, Decisions, PanelTuple
from lq_engine.strategies.panel import check_universe, Panel
from lq_engine.strategies.rule_programs import RuleProgram, rule_program

EXIT_LEGS = ("stop_loss", "take_profit", "trailing")


@dataclass(frozen=True)
class SourceRef:
    """Where a strategy comes from, so that another process can load it again."""

    kind: str  # "file" (a project's strategies/ or a path), "module" (an importable module: built-ins,
    # entry points, test modules)
    location: str  # the file path, or the module name
    cls_name: str

    def describe(self) -> str:
        return f"{self.location}:{self.cls_name}"


@dataclass(frozen=True)
class IndicatorRows:
    """The distinct indicator rows of a set of parameter sets, computed once.

    ``bank``: (rows, bars) float64, read-only; row 0 is zeros and row 1 the close (the rule
    vocabulary's fixed rows), then one row per distinct (indicator, arguments). ``idx``: for each
    parameter set, the bank row of each indicator (declaration order).
    """

    bank: np.ndarray
    idx: np.ndarray
    keys: dict

    @property
    def n_bars(self) -> int:
        return int(self.bank.shape[1])


@dataclass(frozen=True)
class IndicatorPlan:
    """What ``StrategySpec.indicator_rows`` computes for a table of sets, before any bar: ``idx``
    (the bank row of each set's indicators, read-only), the bank's row count ``total``, and per
    indicator (declaration order) its distinct calls ``(key, args, inputs)`` and first bank row."""

    idx: np.ndarray
    total: int
    calls: tuple


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class StrategySpec:
    """A resolved strategy. Build it with ``StrategySpec.of(cls)`` or ``registry.resolve(name)``."""

    def __init__(self, decl: Declaration, name: str, source: SourceRef, source_hash: str,
                 grid: Mapping[str, Sequence[Any]] | None = None, space: Mapping[str, Any] | None = None) -> None:
        self.declaration = decl
        self.name = name
        self.source = source
        self.source_hash = source_hash
        self.description = decl.description
        default_grid = {p.name: _axis(p, name) for p in decl.params}
        schema = StrategySchema(name, decl.params, decl.constraints, default_grid)
        if grid:
            grid = {k: tuple(v) for k, v in grid.items()}
            unknown = sorted(set(grid) - set(schema.param_names))
            if unknown:
                raise ParamError(f"strategy '{name}': grid for unknown parameter(s) {unknown}; "
                                 f"known: {list(schema.param_names)}")
            schema = replace(schema, default_grid={**default_grid, **grid})
        self.schema = schema
        self.grid_override = dict(grid) if grid else None
        self.space_override = dict(space) if space else None
        self._space: SearchSpace | None = search_space(schema, self.space_override) if space else None
        self._kernels = None

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def of(cls, strategy_cls: type, name: str | None = None, grid: Mapping | None = None) -> StrategySpec:
        """The spec of a strategy class defined in an importable module (or loaded from a file by
        the registry, which passes its own source reference)."""
        decl = strategy_cls.declaration
        module = strategy_cls.__module__
        source = SourceRef("module", module, strategy_cls.__qualname__)
        return cls(decl, name or decl.name or snake_case(decl.cls_name), source, file_hash(decl.file), grid)

    def with_grid(self, grid: Mapping[str, Sequence[Any]] | None) -> StrategySpec:
        """The same strategy with another default grid (a project's ``[strategies.NAME.grid]``)."""
        if not grid:
            return self
        return StrategySpec(self.declaration, self.name, self.source, self.source_hash,
                            {**(self.grid_override or {}), **grid}, self.space_override)

    def with_space(self, space: Mapping[str, Any] | None) -> StrategySpec:
        """The same strategy with its search space narrowed per parameter (a project's
        ``[strategies.NAME.space]``: a {low, high, step, log} table or a list of values each)."""
        if not space:
            return self
        return StrategySpec(self.declaration, self.name, self.source, self.source_hash, self.grid_override,
                            {**(self.space_override or {}), **space})

    @property
    def space(self) -> SearchSpace:
        """What a sampler searches: the declarations, narrowed by ``space_override`` (built on first
        use: a strategy searched only by its grid need not have a searchable range)."""
        if self._space is None:
            self._space = search_space(self.schema, self.space_override)
        return self._space

    def __repr__(self) -> str:
        return f"<strategy {self.name} from {self.source.describe()} ({self.source_hash[:12]})>"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, StrategySpec)
                and (self.name, self.source_hash, self.grid_override, override_key(self.space_override))
                == (other.name, other.source_hash, other.grid_override, override_key(other.space_override)))

    def __hash__(self) -> int:
        return hash((self.name, self.source_hash))

    # -- what it declares ----------------------------------------------------------------------

    @property
    def file(self) -> str:
        return self.declaration.file

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.schema.param_names

    @property
    def indicators(self) -> tuple[IndicatorDecl, ...]:
        return self.declaration.indicators

    @property
    def has_exits(self) -> bool:
        return self.declaration.exits is not None

    @property
    def rules(self) -> RuleProgram | None:
        """``rules(row, p) -> (ip, fp)``: the rule-vocabulary program of one set (what the C, Rust and
        numba rule kernels run), or None: the shipped four have one (``rule_programs``), found by the
        module and class that define them."""
        if self.source.kind != "module":
            return None
        return rule_program(self.source.location, self.source.cls_name)

    @property
    def version(self) -> str:
        """What results of this strategy depend on: its source (and a project's grid and space overrides)."""
        if not self.grid_override and not self.space_override:
            return self.source_hash[:16]
        text = repr(sorted(self.grid_override.items())) if self.grid_override else ""
        if self.space_override:
            text += "|space" + repr(override_key(self.space_override))
        g = hashlib.sha256(text.encode()).hexdigest()
        return f"{self.source_hash[:16]}-{g[:8]}"

    # -- parameters ----------------------------------------------------------------------------

    def default_grid(self) -> list[dict[str, Any]]:
        return explicit_grid(self.schema, self.schema.default_grid)

    def grid(self, axes: Mapping[str, Sequence[Any]] | None = None) -> ParamTable:
        """The product of ``axes`` (default: the default grid; missing parameters take their default)."""
        return grid_table(self.schema, self.schema.default_grid if axes is None else axes)

    def table(self, param_sets: Sequence[Mapping[str, Any]] | ParamTable) -> ParamTable:
        return self.schema.table(param_sets)

    def default_params(self) -> dict[str, Any]:
        """Every parameter's declared default if they form a valid set, else the first default-grid set."""
        d = {p.name: p.default for p in self.schema.params}
        if all(v is not None for v in d.values()):
            try:
                return self.schema.validate(d)
            except ParamError:
                pass
        rows = self.grid().rows()
        if not rows:
            raise ParamError(f"strategy '{self.name}': the default grid has no set satisfying the constraints")
        return rows[0]

    def validated(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """``params`` validated, or the default set when None."""
        return self.schema.validate(dict(params)) if params is not None else self.default_params()

    # -- running it ----------------------------------------------------------------------------

    @property
    def kernels(self):
        """The compiled decision loop and sweep (generated once per source, cached on disk)."""
        if self._kernels is None:
            self._kernels = compile_strategy(self)
        return self._kernels

    @property
    def is_portfolio(self) -> bool:
        return self.declaration.portfolio

    def indicator_plan(self, table: ParamTable) -> IndicatorPlan:
        """Which distinct indicator calls ``table``'s sets need and where each lands in the bank. It
        depends on the sets only, not on the bars: a caller running the same sets over many series
        (the lookahead scan, the streaming paper decider) makes it once and passes it on."""
        idx = np.empty((len(table), len(self.indicators)), dtype=np.int64)
        plan = []
        total = 2
        for j, d in enumerate(self.indicators):
            cols = np.column_stack([table.columns[a] for a in d.params]) if d.params else np.zeros((len(table), 0))
            uniq, inverse = distinct_rows(cols)
            idx[:, j] = total + inverse
            prms = [self.schema.param(a) for a in d.params]
            calls = []
            for u in uniq:
                args = {a: prm.decode(x) for a, prm, x in zip(d.params, prms, u.tolist())}
                inputs = {a: (a, *(args[q] for q in self.indicator(a).params)) for a in d.args if a in d.inputs}
                calls.append(((d.name, *args.values()), args, inputs))
            plan.append((d, tuple(calls), total))
            total += len(uniq)
        idx.setflags(write=False)
        return IndicatorPlan(idx, total, tuple(plan))

    def indicator_rows(self, table: ParamTable, bars: Any, plan: IndicatorPlan | None = None,
                       memo: dict | None = None) -> IndicatorRows:
        """Every indicator once per distinct argument tuple across ``table``'s sets (over ``Bars``, or
        a ``Panel`` for a portfolio strategy: rows are then (symbols x bars)). ``plan``: this table's
        ``indicator_plan``, when the caller has it. ``memo``: a dict the caller keeps across calls
        on bars that share some of their arrays (``memo_indicator``)."""
        plan = self.indicator_plan(table) if plan is None else plan
        n = bars.n
        shape = (bars.n_symbols, n) if self.is_portfolio else (n,)
        # each value is written once, straight into its row (a series for a panel: into every symbol's)
        bank = np.empty((plan.total, *shape))  # (rows, bars), or (rows, symbols, bars) for a panel
        bank[0] = 0.0
        bank[1] = np.asarray(bars.close, dtype=np.float64)
        keys: dict[tuple, int] = {("zero",): 0, ("close",): 1}
        view = bars_view(bars)
        frames = self.higher_bars(view, [d for d, _, _ in plan.calls])  # timeframe -> its bars, if any
        values: dict[tuple, np.ndarray] = {}  # what each indicator returned, for the indicators taking it
        on_clock: dict[tuple, np.ndarray] = {}  # a higher-timeframe indicator on the base clock (its bank row)
        for j, (d, calls, first) in enumerate(plan.calls):  # inputs first
            # an input of a base indicator on a higher timeframe reaches it on the base clock
            work = [({a: (on_clock if self.indicator(a).timeframe != d.timeframe else values)[inputs[a]]
                      if a in inputs else args[a] for a in d.args}, args, bank[first + k])
                    for k, (_, args, inputs) in enumerate(calls)]
            if memo is None:
                def fn(c, d=d):
                    return self._indicator(d, view, *c, frames)
            else:
                def fn(c, d=d):
                    return memo_indicator(self, d, view, *c, memo, frames)
                work = [(*w, calls[k][0]) for k, w in enumerate(work)]

            def named(item, fn=fn, j=j, first=first):  # an indicator's error names the first set needing it
                try:
                    return fn(item[1])
                except IndicatorError as e:
                    sets = np.flatnonzero(plan.idx[:, j] == first + item[0])
                    e.name_params(table[int(sets[0])] if sets.size else None)
                    raise

            for k, value in enumerate(_map(named, list(enumerate(work)), bank[0].size)):
                keys[calls[k][0]] = first + k
                values[calls[k][0]] = value
                if d.timeframe:
                    on_clock[calls[k][0]] = _frozen_view(bank[first + k])
        bank.setflags(write=False)
        return IndicatorRows(bank, plan.idx, keys)

    def check_data(self, data: Any) -> Any:
        """``data`` as this strategy runs on it: a Panel (universe checked) or Bars."""
        if self.is_portfolio:
            if not isinstance(data, Panel):
                raise StrategyError(f"strategy '{self.name}' is a portfolio strategy: it runs on a universe's Panel, "
                                    f"not on {type(data).__name__}")
            d = self.declaration
            check_universe(data, self.name, d.min_symbols, d.max_symbols)
            return data
        if isinstance(data, Panel):
            raise StrategyError(f"strategy '{self.name}' trades one symbol at a time: give it one series, not a panel")
        return as_bars(data)

    def indicator(self, name: str) -> IndicatorDecl:
        return next(d for d in self.indicators if d.name == name)

    def higher_bars(self, view: Any, indicators: Sequence[IndicatorDecl]) -> dict[str, Resampled]:
        """The bars of every higher timeframe of ``indicators``, resampled from the base ``view``
        (``lq_engine.data.resample``: closed higher bars only, and which one each base bar sees).
        Refuses base bars closer together than the strategy's declared timeframe."""
        tfs = {d.timeframe_ns: d.timeframe for d in indicators if d.timeframe}
        if not tfs:
            return {}
        decl = self.declaration
        base = decl.timeframe_ns
        row = first_short_spacing(view.ts, base)
        if row is not None:
            from lq_engine.data.schema import format_ns  # polars: on this error path only

            raise StrategyError(f"{self.file}: strategy '{self.name}' declares timeframe = {decl.timeframe!r}, but bar "
                                f"row {row} ({format_ns(int(view.ts[row]))}) opens less than {decl.timeframe} after "
                                f"row {row - 1} ({format_ns(int(view.ts[row - 1]))}); run it on {decl.timeframe} bars "
                                "(or declare their timeframe)")
        return {tf: resample(view.ts, view.open, view.high, view.low, view.close, view.volume, h, base)
                for h, tf in sorted(tfs.items())}

    def _indicator(self, d: IndicatorDecl, view: Any, call: dict, args: dict, row: np.ndarray,
                   frames: Mapping[str, Resampled] | None = None) -> np.ndarray:
        """The value (as returned, read-only) of indicator ``d`` called with ``call``, also written into
        its bank ``row`` (``args``: the parameters it depends on, shown in errors). An indicator on a
        higher timeframe runs over those bars (``frames``: ``higher_bars`` of ``view``), returns one
        value per higher bar, and its row gets them on the base clock (``resample.on_base``)."""
        def shown() -> str:  # built on the error path only: this runs once per indicator row and run
            return f"{d.name}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"

        def where() -> str:
            return f"{self.file}: strategy '{self.name}', indicator {shown()}"

        higher = None
        if d.timeframe:
            higher = (frames or {}).get(d.timeframe)
            if higher is None:
                higher = self.higher_bars(view, [d])[d.timeframe]
            view = BarsTuple(higher.open, higher.high, higher.low, higher.close, higher.volume, higher.ts)
        try:
            out = d.fn(view, **call, **d.constants)
        except Exception as e:
            raise indicator_error(self, shown(), e, view) from e
        try:
            a = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            raise StrategyError(f"{where()} returned {type(out).__name__}, not an array of numbers") from None
        shape = row.shape if higher is None else (higher.n,)
        if a.shape != shape and not (self.is_portfolio and a.shape == shape[1:]):  # (or one series for a panel)
            want = "one value per bar" if len(shape) == 1 else "one row per symbol (or one series of bars)"
            if higher is not None:
                want = f"one value per {d.timeframe} bar"
            raise StrategyError(f"{where()} returned shape {a.shape}; it must return {want}, shape {shape}")
        row[...] = a if higher is None else on_base(a, higher.at)
        # what indicators taking it receive: the bank row itself when it holds the value as returned, so
        # the returned array is freed now (a wide grid kept every row twice: 2,300 rows x 80 kB); a higher
        # timeframe's indicator passes on its values per higher bar
        a = row.view() if higher is None and a.shape == row.shape else a.view()
        a.setflags(write=False)
        return a

    def decisions(self, params: Mapping[str, Any] | None, bars: Any) -> Decisions:
        """Targets (and exits) decided at every bar's close for one parameter set over ``bars``
        (``Bars``; a ``Panel`` for a portfolio strategy, whose targets are
        then weights, bars x symbols)."""
        b = self.check_data(bars)
        table = self.table([self.validated(params)])
        rows = self.indicator_rows(table, b)
        return self.kernels.decisions(self, b, rows, table)


class _Reading:
    """The bars handed to an indicator, noting which fields it reads (``memo_indicator``)."""

    __slots__ = ("_view", "read")

    def __init__(self, view: Any) -> None:
        self._view = view
        self.read: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._view, name)
        self.read.add(name)
        return value


def memo_indicator(spec: StrategySpec, d: IndicatorDecl, view: Any, call: dict, args: dict, row: np.ndarray,
                   key: tuple, memo: dict, frames: Mapping[str, Resampled] | None = None) -> np.ndarray:
    """``spec._indicator(d, view, call, args, row)``, or the value an earlier call of the same
    indicator returned when every bar field it read then is the very same array now, and so is
    every indicator value it takes as input (``memo``: key -> [(fields read, inputs, value, its bank row)]; the
    arrays are kept in it, so an identity cannot be reused). The lookahead scan changes one field
    of a segment per run: an indicator that never reads it is not computed again.

    Which fields it reads is noted through a proxy of the bars; an indicator the proxy cannot serve
    (a compiled function taking the bars, a tuple operation) runs on the real bars and counts as
    reading every field. Indicators are pure functions of the bars and their arguments (the
    strategy API's rule), which is what makes the reuse exact."""
    inputs = tuple(v for v in call.values() if isinstance(v, np.ndarray))
    for read, ins, value, on_base_row in memo.get(key, ()):
        if all(getattr(view, f) is a for f, a in read) and len(ins) == len(inputs) and all(
                x is y for x, y in zip(ins, inputs)):
            row[...] = on_base_row
            return value
    rec = _Reading(view)
    try:
        if d.timeframe:  # its bars are resampled from every field of the base bars
            raise _ReadsEverything
        value = spec._indicator(d, rec, call, args, row, frames)
        fields = rec.read
    except Exception:  # the real bars: the indicator's own error, or one the proxy cannot serve
        value = spec._indicator(d, view, call, args, row, frames)
        fields = set(view._fields)
    memo.setdefault(key, []).append((tuple((f, getattr(view, f)) for f in sorted(fields)), inputs, value,
                                     value if not d.timeframe else row.copy()))
    return value


class _ReadsEverything(Exception):
    """``memo_indicator``: a higher-timeframe indicator counts as reading every field of the bars."""


def _frozen_view(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.setflags(write=False)
    return v


def distinct_rows(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(cols, axis=0, return_inverse=True)`` (rows in lexicographic order, the inverse
    flat), about 4x faster: each column's values are ranked alone (1-D sorts) and the ranks combined
    column by column into one integer key, kept below ``len(cols)`` by re-ranking after each column.
    ``np.unique`` along an axis sorts the rows as structured records, ~0.15 ms per column for a
    1,000-set grid, paid by every indicator of every grid."""
    n, k = cols.shape
    if n == 0 or k == 0:
        return cols[:1], np.zeros(n, dtype=np.int64)
    key = np.zeros(n, dtype=np.int64)
    for c in range(k):
        _, rank = np.unique(cols[:, c], return_inverse=True)
        _, first, key = np.unique(key * (int(rank.max()) + 1) + rank, return_index=True, return_inverse=True)
    return cols[first], key.astype(np.int64, copy=False)


_POOL: dict[int, Any] = {}


POOL_MIN_VALUES = 200_000  # values in all (calls x values per call) below which threads cost more than they save


def _map(fn: Any, items: list, size: int) -> list:
    """``[fn(x) for x in items]``, on the kernels' threads when the calls compute enough values in all
    (``size`` per call) to pay for the hand-offs: one contiguous chunk of calls per thread, so a wide
    grid's 2,000 short moving averages cost 2 hand-offs, not 2,000 (the indicators of ``lq.ta``
    release the GIL, numpy mostly does). Results in order, and the first error in order is the one
    raised, as in a plain loop (a chunk's calls run in order; the chunks' results are read in order)."""
    if len(items) < 2 or len(items) * size < POOL_MIN_VALUES:  # (checked first: asking numba costs ~30 us)
        return [fn(x) for x in items]
    n = min(numba.get_num_threads(), len(items))
    if n < 2:
        return [fn(x) for x in items]
    if n not in _POOL:
        _POOL[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="lq-indicators")
    bounds = [len(items) * k // n for k in range(n + 1)]
    futures = [_POOL[n].submit(lambda part: [fn(x) for x in part], items[bounds[k]:bounds[k + 1]]) for k in range(n)]
    return [y for f in futures for y in f.result()]


def _axis(p, strategy: str) -> tuple:
    """A parameter's default-grid values; () when it has none (a float without step or grid): the
    grid then fails naming it, unless a project grid or a sampler supplies values."""
    try:
        return p.grid_values(strategy)
    except ParamError:
        return (p.default,) if p.default is not None else ()


def bars_view(bars: Any):
    """What indicators receive: ``bars.open``, ``.high``, ``.low``, ``.close``, ``.volume``, ``.ts``
    (and ``.mask`` for a panel)."""
    if hasattr(bars, "mask"):
        return PanelTuple(bars.open, bars.high, bars.low, bars.close, bars.volume, bars.ts, bars.mask)
    return BarsTuple(bars.open, bars.high, bars.low, bars.close, bars.volume, bars.ts)


def as_bars(x: Any) -> Bars:
    """``x`` if it is ``Bars`` (the one bar-series type); a strategy decides over nothing else."""
    if isinstance(x, Bars):
        return x
    raise InputTypeError(f"expected lq_engine.data.bars.Bars (or a Panel for a portfolio strategy), "
                         f"got {type(x).__name__}")
