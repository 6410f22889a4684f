"""Parameter schemas, validation and grids (explicit, default, seeded samples of huge grids).

Validation runs before any kernel: unknown strategy or parameter, wrong type, out-of-range value
(a negative window) and violated constraints (fast >= slow) raise ``ParamError`` naming the
strategy, the parameter set index and the field.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

SIDES = ("long", "short", "both")


class ParamError(ValueError):
    """A parameter set does not fit its strategy's schema."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int" | "float" | "choice"
    low: float | None = None  # inclusive
    high: float | None = None  # inclusive
    choices: tuple = ()
    default: Any = None

    def check(self, value: Any, where: str) -> Any:
        if self.kind == "choice":
            if value not in self.choices:
                raise ParamError(f"{where}: parameter '{self.name}' must be one of {self.choices}, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ParamError(f"{where}: parameter '{self.name}' must be {self.kind}, got {type(value).__name__} {value!r}")
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


@dataclass(frozen=True)
class Constraint:
    text: str  # e.g. "fast < slow"
    holds: Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class StrategySchema:
    name: str
    params: tuple[Param, ...]
    constraints: tuple[Constraint, ...] = ()
    default_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

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
        if isinstance(param_sets, Mapping):
            raise ParamError(f"strategy '{self.name}': expected a list of parameter sets, got one mapping")
        return [self.validate(p, i) for i, p in enumerate(param_sets)]


def _axes(schema: StrategySchema, grid: Mapping[str, Sequence[Any]]) -> tuple[list[str], list[list[Any]]]:
    unknown = sorted(set(grid) - set(schema.param_names))
    if unknown:
        raise ParamError(f"strategy '{schema.name}': unknown grid parameter(s) {unknown}; known: {list(schema.param_names)}")
    names, values = [], []
    for p in schema.params:
        vals = list(grid[p.name]) if p.name in grid else ([p.default] if p.default is not None else [])
        if not vals:
            raise ParamError(f"strategy '{schema.name}': grid has no values for parameter '{p.name}'")
        names.append(p.name)
        values.append([p.check(v, f"strategy '{schema.name}' grid") for v in vals])
    return names, values


def explicit_grid(schema: StrategySchema, grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the grid axes, keeping only sets that satisfy the constraints."""
    names, values = _axes(schema, grid)
    out = []
    for combo in itertools.product(*values):
        p = dict(zip(names, combo))
        if schema.satisfies(p):
            out.append(p)
    return out


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
