"""Parameter schemas, validation, grids and the numeric parameter table the kernels read.

A parameter is ``int``, ``float``, ``choice`` or ``bool``, with a valid range (``low``/``high``,
inclusive), a ``step`` or explicit ``grid`` values for the default grid, and ``log`` for samplers
that search a continuous range on a log scale. Validation runs before any kernel: unknown strategy
or parameter, wrong type, out-of-range value (a negative window) and violated constraints
(fast >= slow) raise ``ParamError`` naming the strategy, the parameter set index and the field.

``ParamTable`` is the columnar form of many validated sets (one float64 column per parameter:
ints and floats as themselves, bools as 0/1, string choices as their index): validating and
encoding 994 sets takes a fraction of a millisecond instead of a Python call per set.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lq_engine.errors import LQError

SIDES = ("long", "short", "both")
KINDS = ("int", "float", "choice", "bool")
_GRID_LIMIT = 10_000_000  # values of one axis in a default grid


class ParamError(LQError, ValueError):
    """A parameter set does not fit its strategy's schema (the message names the field)."""


def _is_number(v: Any) -> bool:
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer, np.floating))


def _same_kind(a: Any, b: Any) -> bool:
    """Both numbers, both bools or both strings (a choice value and a candidate)."""
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return isinstance(a, (bool, np.bool_)) and isinstance(b, (bool, np.bool_))
    if _is_number(a) or _is_number(b):
        return _is_number(a) and _is_number(b)
    return type(a) is type(b)


_NUMBER_TYPES = (int, float, np.integer, np.floating)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int" | "float" | "choice" | "bool"
    low: float | None = None  # inclusive
    high: float | None = None  # inclusive
    choices: tuple = ()
    default: Any = None
    step: float | None = None  # default-grid spacing over [low, high]
    log: bool = False  # samplers search [low, high] on a log scale
    grid: tuple | None = None  # explicit default-grid values (else from low/high/step or the choices)

    def __post_init__(self) -> None:
        where = f"parameter '{self.name}'"
        if self.kind not in KINDS:
            raise ParamError(f"{where}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ParamError(f"{where}: a choice needs at least one value")
        if self.kind in ("int", "float"):
            for b in ("low", "high"):
                v = getattr(self, b)
                if v is not None and not (_is_number(v) and not math.isnan(v)):
                    raise ParamError(f"{where}: {b} must be a number, got {v!r}")
            if self.low is not None and self.high is not None and self.low > self.high:
                raise ParamError(f"{where}: low {self.low} is above high {self.high}")
            if self.step is not None and not (_is_number(self.step) and self.step > 0):
                raise ParamError(f"{where}: step must be a positive number, got {self.step!r}")
            if self.kind == "int" and self.step is not None and float(self.step) != int(self.step):
                raise ParamError(f"{where}: an int parameter needs an integer step, got {self.step!r}")
            if self.log and not (self.low is not None and self.low > 0):
                raise ParamError(f"{where}: log=True needs low > 0, got low={self.low!r}")
        elif self.log:
            raise ParamError(f"{where}: log=True applies to int and float parameters only")

    # -- values ---------------------------------------------------------------------------------

    @property
    def numeric_choices(self) -> bool:
        """A choice whose values are all numbers reaches the kernel as the value, else as its index."""
        return self.kind == "choice" and all(_is_number(c) for c in self.choices)

    @property
    def kernel_type(self) -> str:
        """How ``decide`` sees the value: 'int', 'float' or 'bool'."""
        if self.kind == "choice":
            if self.numeric_choices:
                return "float" if any(isinstance(c, (float, np.floating)) for c in self.choices) else "int"
            return "int"
        return self.kind

    def constant_name(self, value: Any) -> str | None:
        """The name ``decide`` reads string choice ``value`` by: ``p.<PARAM>_<VALUE>``, upper-cased, each
        run of characters other than letters, digits and ``_`` made one ``_`` (None: the value has no
        letter or digit)."""
        word = re.sub(r"\W+", "_", str(value)).strip("_")
        return f"{self.name}_{word}".upper() if word else None

    @property
    def choice_constants(self) -> dict[str, int]:
        """A string choice's constants for ``decide``: name -> the index ``p.<param>`` holds for that
        value (``mode = lq.Choice("fast", "slow")``: ``p.MODE_FAST == 0``, ``p.MODE_SLOW == 1``).
        Empty for other kinds. (The declaration refuses two values with one name.)"""
        if self.kind != "choice" or self.numeric_choices:
            return {}
        out: dict[str, int] = {}
        for k, c in enumerate(self.choices):
            name = self.constant_name(c)
            if name is not None:
                out.setdefault(name, k)
        return out

    def check(self, value: Any, where: str) -> Any:
        if self.kind == "choice":
            for c in self.choices:  # True == 1 and 1 == 1.0 in Python: match the kind of value too
                if _same_kind(c, value) and c == value:
                    return c
            raise ParamError(f"{where}: parameter '{self.name}' must be one of {self.choices}, got {value!r}")
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise ParamError(f"{where}: parameter '{self.name}' must be true or false, got {value!r}")
            return bool(value)
        if not _is_number(value):
            raise ParamError(f"{where}: parameter '{self.name}' must be {self.kind}, got {type(value).__name__} "
                             f"{value!r}")
        if self.kind == "int":
            if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                raise ParamError(f"{where}: parameter '{self.name}' must be an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ParamError(f"{where}: parameter '{self.name}' must be finite, got {value!r}")
        if self.low is not None and value < self.low:
            raise ParamError(f"{where}: parameter '{self.name}' = {value} is below its minimum {self.low}")
        if self.high is not None and value > self.high:
            raise ParamError(f"{where}: parameter '{self.name}' = {value} is above its maximum {self.high}")
        return value

    def encode(self, value: Any) -> float:
        """The float64 the kernels read for a checked value."""
        if self.kind == "choice" and not self.numeric_choices:
            return float(self.choices.index(value))
        return float(value)

    def decode(self, x: float) -> Any:
        if self.kind == "int":
            return int(x)
        if self.kind == "bool":
            return bool(x)
        if self.kind == "choice":
            if self.numeric_choices:
                return next(c for c in self.choices if c == x)
            return self.choices[int(x)]
        return float(x)

    def grid_values(self, strategy: str = "") -> tuple:
        """The default grid of this parameter: ``grid``, the choices, (False, True), or low..high by step."""
        if self.grid is not None:
            return tuple(self.grid)
        if self.kind == "choice":
            return tuple(self.choices)
        if self.kind == "bool":
            return (False, True)
        where = f"strategy '{strategy}': parameter '{self.name}'" if strategy else f"parameter '{self.name}'"
        if self.low is None or self.high is None or (self.step is None and self.kind == "float"):
            raise ParamError(f"{where} has no default grid: give grid=[...] or a step with low and high")
        step = self.step if self.step is not None else 1
        count = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        if count > _GRID_LIMIT:
            raise ParamError(f"{where}: {count} grid values from low/high/step; give a coarser step or grid=[...]")
        if self.kind == "int":
            return tuple(range(int(self.low), int(self.high) + 1, int(step)))
        return tuple(float(np.round(self.low + k * step, 12)) for k in range(count))


@dataclass(frozen=True)
class Constraint:
    text: str  # e.g. "fast < slow"
    holds: Callable[[Mapping[str, Any]], bool]
    # optional vectorized form over encoded columns (name -> float64 array) -> bool array
    columns: Callable[[Mapping[str, np.ndarray]], np.ndarray] | None = None

    def mask(self, cols: Mapping[str, np.ndarray], rows: Callable[[], list[dict[str, Any]]]) -> np.ndarray:
        if self.columns is not None:
            return np.asarray(self.columns(cols), dtype=bool)
        return np.fromiter((bool(self.holds(p)) for p in rows()), dtype=bool)


def less(a: str, b: str) -> Constraint:
    """``a < b`` (vectorized over many parameter sets)."""
    return Constraint(f"{a} < {b}", lambda p: p[a] < p[b], lambda c: c[a] < c[b])


def less_equal(a: str, b: str) -> Constraint:
    """``a <= b`` (vectorized over many parameter sets)."""
    return Constraint(f"{a} <= {b}", lambda p: p[a] <= p[b], lambda c: c[a] <= c[b])


@dataclass(frozen=True)
class StrategySchema:
    name: str
    params: tuple[Param, ...]
    constraints: tuple[Constraint, ...] = ()
    default_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ParamError(f"strategy '{self.name}': unknown parameter {name!r}; known: {list(self.param_names)}")

    def validate(self, params: Mapping[str, Any], index: int | None = None) -> dict[str, Any]:
        """Normalized copy of one parameter set (defaults filled in); raises ``ParamError``."""
        where = f"strategy '{self.name}'" + (f", parameter set {index}" if index is not None else "")
        if not isinstance(params, Mapping):
            raise ParamError(f"{where}: expected a mapping of parameter name to value, got {type(params).__name__}")
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            raise ParamError(f"{where}: unknown parameter(s) {unknown}; known: {list(self.param_names)}")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in params:
                out[p.name] = p.check(params[p.name], where)
            elif p.default is not None:
                out[p.name] = p.default
            else:
                raise ParamError(f"{where}: missing parameter '{p.name}'")
        for c in self.constraints:
            if not c.holds(out):
                shown = ", ".join(f"{k}={v}" for k, v in out.items())
                raise ParamError(f"{where}: constraint '{c.text}' violated ({shown})")
        return out

    def satisfies(self, params: Mapping[str, Any]) -> bool:
        return all(c.holds(params) for c in self.constraints)

    def validate_all(self, param_sets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return self.table(param_sets).rows()

    def table(self, param_sets: Sequence[Mapping[str, Any]]) -> ParamTable:
        """Validate every set at once (column by column) into a ``ParamTable``.

        The first failing set is re-checked one by one, so the error is exactly ``validate``'s.
        """
        if isinstance(param_sets, ParamTable):
            return param_sets
        if isinstance(param_sets, Mapping) or isinstance(param_sets, (str, bytes)):
            raise ParamError(f"strategy '{self.name}': expected a list of parameter sets, got one mapping")
        sets = list(param_sets)
        names = self.param_names
        known = set(names)
        cols: dict[str, np.ndarray] = {}
        bad = -1
        for i, p in enumerate(sets):
            if not (type(p) is dict or isinstance(p, Mapping)) or not known.issuperset(p):  # (dict: fast path)
                bad = i
                break
        if bad < 0:
            for prm in self.params:
                try:
                    values = [p[prm.name] if prm.name in p else prm.default for p in sets]
                    cols[prm.name] = _encode_column(prm, values)
                except _ColumnError as e:
                    bad = e.row
                    break
        if bad >= 0:
            self.validate(sets[bad], bad)
            raise AssertionError(f"set {bad} failed column validation but passes validate()")  # pragma: no cover
        table = ParamTable(self, cols, len(sets))
        ok = np.ones(len(sets), dtype=bool)
        for c in self.constraints:
            ok &= c.mask(cols, table.rows)
        if not ok.all():
            i = int(np.argmin(ok))
            self.validate(sets[i], i)  # raises with the constraint named
        return table


class _ColumnError(Exception):
    def __init__(self, row: int) -> None:
        self.row = row


def _encode_column(p: Param, values: list) -> np.ndarray:
    """Checked, encoded float64 column; raises _ColumnError(first bad row)."""
    if p.kind in ("int", "float"):
        types = set(map(type, values))
        if not all(issubclass(t, _NUMBER_TYPES) and not issubclass(t, (bool, np.bool_)) for t in types):
            raise _ColumnError(next(i for i, v in enumerate(values) if not _is_number(v)))
        a = np.array(values, dtype=np.float64)
        bad = ~np.isfinite(a)
        if p.kind == "int":
            bad |= a != np.floor(a)
        if p.low is not None:
            bad |= a < p.low
        if p.high is not None:
            bad |= a > p.high
        if bad.any():
            raise _ColumnError(int(np.argmax(bad)))
        return a
    if p.kind == "bool":
        if not set(map(type, values)) <= {bool, np.bool_}:
            raise _ColumnError(next(i for i, v in enumerate(values) if not isinstance(v, (bool, np.bool_))))
        return np.array(values, dtype=np.float64)
    out = np.empty(len(values))
    for i, v in enumerate(values):
        for c in p.choices:
            if _same_kind(c, v) and c == v:
                out[i] = p.encode(c)
                break
        else:
            raise _ColumnError(i)
    return out


class ParamTable:
    """Validated parameter sets, columnar: ``matrix()`` for kernels, ``rows()`` / ``[k]`` as dicts."""

    def __init__(self, schema: StrategySchema, columns: Mapping[str, np.ndarray], n: int) -> None:
        self.schema = schema
        self.columns = dict(columns)
        self.n = n
        self._rows: list[dict[str, Any]] | None = None
        self._matrix: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n

    def matrix(self) -> np.ndarray:
        """(n_sets, n_params) float64 in schema order, read-only (made once)."""
        if self._matrix is None:
            m = np.empty((self.n, len(self.schema.params)))
            for j, p in enumerate(self.schema.params):
                m[:, j] = self.columns[p.name]
            m.setflags(write=False)
            self._matrix = m
        return self._matrix

    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            decoded = []
            for p in self.schema.params:
                col = self.columns[p.name]
                if p.kind == "int":
                    decoded.append(col.astype(np.int64).tolist())
                elif p.kind == "float":
                    decoded.append(col.tolist())
                elif p.kind == "bool":
                    decoded.append([bool(x) for x in col.tolist()])
                else:
                    decoded.append([p.decode(x) for x in col.tolist()])
            names = self.schema.param_names
            self._rows = [dict(zip(names, vals)) for vals in zip(*decoded)] if decoded else [{} for _ in range(self.n)]
        return self._rows

    def __getitem__(self, k: int) -> dict[str, Any]:
        return self.rows()[k]

    def __iter__(self):
        return iter(self.rows())

    def take(self, positions: np.ndarray) -> "ParamTable":
        """The sets at ``positions``, in that order (already validated: no check runs again)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = ParamTable(self.schema, {k: v[positions] for k, v in self.columns.items()}, len(positions))
        if self._rows is not None:
            out._rows = [self._rows[i] for i in positions.tolist()]
        return out


def _axes(schema: StrategySchema, grid: Mapping[str, Sequence[Any]]) -> tuple[list[str], list[list[Any]]]:
    unknown = sorted(set(grid) - set(schema.param_names))
    if unknown:
        raise ParamError(f"strategy '{schema.name}': unknown grid parameter(s) {unknown}; "
                         f"known: {list(schema.param_names)}")
    names, values = [], []
    for p in schema.params:
        vals = list(grid[p.name]) if p.name in grid else ([p.default] if p.default is not None else [])
        if not vals:
            raise ParamError(f"strategy '{schema.name}': grid has no values for parameter '{p.name}' (declare "
                             f"grid=[...] or a step, or set [strategies.{schema.name}.grid] in luminaquant.toml)")
        names.append(p.name)
        values.append([p.check(v, f"strategy '{schema.name}' grid") for v in vals])
    return names, values


def explicit_grid(schema: StrategySchema, grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the grid axes, keeping only sets that satisfy the constraints."""
    return grid_table(schema, grid).rows()


def grid_table(schema: StrategySchema, grid: Mapping[str, Sequence[Any]]) -> ParamTable:
    """The product of the grid axes as a ``ParamTable`` (constraint-filtered, product order)."""
    names, values = _axes(schema, grid)
    sizes = [len(v) for v in values]
    total = math.prod(sizes)
    if total > 50_000_000:
        raise ParamError(f"strategy '{schema.name}': the grid has {total:,} sets; sample it (sample_size) "
                         "or use a sampler (search)")
    enc = [np.array([schema.param(nm).encode(v) for v in vals]) for nm, vals in zip(names, values)]
    idx = np.indices(sizes).reshape(len(sizes), -1) if sizes else np.zeros((0, 1), dtype=np.int64)
    cols = {nm: e[i] for nm, e, i in zip(names, enc, idx)}
    n = idx.shape[1] if sizes else 1
    table = ParamTable(schema, cols, n)
    ok = np.ones(n, dtype=bool)
    for c in schema.constraints:
        ok &= c.mask(cols, table.rows)
    if not ok.all():
        table = ParamTable(schema, {k: v[ok] for k, v in cols.items()}, int(ok.sum()))
    return table


def sample_grid(
    schema: StrategySchema, grid: Mapping[str, Sequence[Any]], n: int, seed: int
) -> list[dict[str, Any]]:
    """``n`` distinct constraint-satisfying sets drawn uniformly from a (possibly huge) grid, seeded.

    The product is never materialized: flat indices are drawn and decoded mixed-radix. Returned in
    increasing flat-index order, so the same (grid, n, seed) always gives the same list.
    """
    if n <= 0:
        raise ParamError(f"strategy '{schema.name}': sample size must be positive, got {n}")
    names, values = _axes(schema, grid)
    sizes = [len(v) for v in values]
    total = math.prod(sizes)
    rng = np.random.default_rng(seed)

    def decode(k: int) -> dict[str, Any]:
        p = {}
        for name, vals, size in zip(reversed(names), reversed(values), reversed(sizes)):
            k, r = divmod(k, size)
            p[name] = vals[r]
        return {name: p[name] for name in names}

    chosen: dict[int, dict[str, Any]] = {}
    if total <= 4 * n or total <= 200_000:
        order = rng.permutation(total)
        for k in order:
            p = decode(int(k))
            if schema.satisfies(p):
                chosen[int(k)] = p
                if len(chosen) == n:
                    break
    else:
        misses = 0
        while len(chosen) < n and misses < 100 * n:
            k = int(rng.integers(0, total))
            if k in chosen:
                misses += 1
                continue
            p = decode(k)
            if schema.satisfies(p):
                chosen[k] = p
            else:
                misses += 1
    return [chosen[k] for k in sorted(chosen)]


__all__ = ["Constraint", "Param", "ParamError", "ParamTable", "SIDES", "StrategySchema", "explicit_grid", "grid_table",
           "less", "less_equal", "sample_grid"]
