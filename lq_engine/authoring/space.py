"""A strategy's search space: what a sampler searches (the grid is what exhaustive search scores).

The parameter declarations are the space. Each parameter is one dimension:
- ``int``: ``[low, high]`` by ``step`` (default 1); ``log=True`` searches it on a log scale (step 1);
- ``float``: ``[low, high]``, continuous, on a log scale with ``log=True``, else discretized by
  ``step`` when one is declared;
- ``choice`` / ``bool``: its values;
- a parameter without a range (no low/high) searches its grid values as a choice.

A project narrows the space per parameter with ``[strategies.NAME.space]`` in luminaquant.toml (or
``StrategySpec.with_space``), next to ``[strategies.NAME.grid]``:

    [strategies.ma_cross.space]
    fast = {low = 5, high = 100, log = true}   # a range inside the declared one (step, log optional)
    side = ["long"]                            # values: a choice (one value fixes the parameter)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from lq_engine.authoring.params import Param, ParamError, StrategySchema
from lq_engine.settings import range_problem

RELAX_INT = 64  # int ranges wider than this are modelled as continuous by model-based samplers


class SpaceError(ParamError):
    """A search space (declared or from [strategies.NAME.space]) cannot be searched; the message names it."""


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: str  # "int" | "float" | "choice"
    low: float | None = None
    high: float | None = None
    step: float | None = None  # None: continuous (float only)
    log: bool = False
    choices: tuple = ()

    @property
    def size(self) -> float:
        """Distinct values (``inf`` for a continuous float)."""
        if self.kind == "choice":
            return float(len(self.choices))
        if self.step is None:
            return math.inf
        return float(math.floor((self.high - self.low) / self.step + 1e-9) + 1)

    @property
    def fixed(self) -> bool:
        return self.size == 1

    def distribution(self):
        """The Optuna distribution of this dimension."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # lazy: optuna

        if self.kind == "choice":
            return CategoricalDistribution(self.choices)
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=1 if self.log else int(self.step))
        high = self.high
        if self.step is not None:  # Optuna wants high on the step lattice
            high = self.low + math.floor((self.high - self.low) / self.step + 1e-9) * self.step
        return FloatDistribution(float(self.low), float(high), log=self.log, step=self.step)

    def relaxed_distribution(self):
        """For TPE: an int range of more than ``RELAX_INT`` values as a float range covering each
        integer's half-step on either side (``canonical`` rounds back), modelled as continuous (a
        discrete dimension's likelihood needs a table of interval masses, one per distinct value and
        kernel, every batch)."""
        from optuna.distributions import FloatDistribution  # lazy: optuna ~1-3 s, only samplers need it

        if self.kind != "int" or self.size <= RELAX_INT:
            return self.distribution()
        if self.log:
            return FloatDistribution(float(self.low), float(self.high), log=True)
        half = 0.5 * self.step
        return FloatDistribution(self.low - half, self.high + half)

    def canonical(self, x: np.ndarray) -> np.ndarray:
        """Samplers' values (Optuna's internal representation: a number, a choice's index) as the
        parameter's values, float64: an int or a stepped float rounded to the nearest point of its
        step lattice inside [low, high], a continuous float clipped to [low, high], a choice's index.
        Equal parameter values give equal bits (a row's bytes key the evaluated sets)."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "choice":
            return np.clip(np.round(x), 0, len(self.choices) - 1) + 0.0
        if self.step is None:
            return np.clip(x, self.low, self.high) + 0.0
        k = np.clip(np.round((x - self.low) / self.step), 0, self.size - 1)
        v = self.low + k * self.step
        return (v if self.kind == "int" else np.round(v, 12)) + 0.0

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Points of [0, 1) spread uniformly over the dimension (over its log scale when ``log``), in
        canonical form: random search, QMC and CMA-ES propose points of the unit cube."""
        u = np.asarray(u, dtype=np.float64)
        if self.kind == "choice":
            return np.minimum(np.floor(u * len(self.choices)), len(self.choices) - 1)
        if self.log:  # an int's range reaches half a step beyond its ends, as Optuna samples a log int
            lo, hi = (self.low - 0.5, self.high + 0.5) if self.kind == "int" else (self.low, self.high)
            return self.canonical(np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
        if self.step is not None:
            return self.canonical(self.low + np.minimum(np.floor(u * self.size), self.size - 1) * self.step)
        return self.canonical(self.low + u * (self.high - self.low))

    def python(self, v: np.ndarray) -> list:
        """Canonical values as the parameter's Python values."""
        if self.kind == "int":
            return [int(x) for x in v.tolist()]
        if self.kind == "float":
            return [float(x) for x in v.tolist()]
        return [self.choices[int(x)] for x in v.tolist()]

    def uniform(self, rng: np.random.Generator, n: int) -> list:
        """``n`` uniform draws (on the log scale when ``log``): the feasibility probe."""
        if self.kind == "choice":
            return [self.choices[i] for i in rng.integers(0, len(self.choices), n)]
        if self.log:
            x = np.exp(rng.uniform(math.log(self.low), math.log(self.high), n))
            return [int(v) for v in np.clip(np.round(x), self.low, self.high)] if self.kind == "int" else x.tolist()
        if self.step is not None:
            k = rng.integers(0, int(self.size), n)
            vals = self.low + k * self.step
            return [int(v) for v in vals] if self.kind == "int" else [float(np.round(v, 12)) for v in vals]
        return rng.uniform(self.low, self.high, n).tolist()

    def describe(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"values": list(self.choices)}
        d: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step is not None:
            d["step"] = self.step
        if self.log:
            d["log"] = True
        return d


@dataclass(frozen=True)
class SearchSpace:
    strategy: str
    dims: tuple[Dimension, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dims)

    @property
    def size(self) -> float:
        """Points in the space before constraints (``inf`` when a dimension is continuous)."""
        return math.prod(d.size for d in self.dims)

    @property
    def categorical(self) -> list[str]:
        """Dimensions that are choices of more than one value (CMA-ES cannot search these)."""
        return [d.name for d in self.dims if d.kind == "choice" and not d.fixed]

    @property
    def free(self) -> tuple[int, ...]:
        """Positions of the dimensions that vary (samplers search these; a fixed one keeps its value)."""
        return tuple(i for i, d in enumerate(self.dims) if not d.fixed)

    def distributions(self) -> dict[str, Any]:
        return {d.name: d.distribution() for d in self.dims}

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Points ``u`` of the unit cube over the free dimensions, (n, free), as canonical rows over
        every dimension (a fixed one at its value)."""
        u = np.asarray(u, dtype=np.float64)
        if u.ndim == 1:
            u = u.reshape(-1, len(self.free))
        out = np.empty((u.shape[0], len(self.dims)))
        for i, d in enumerate(self.dims):
            out[:, i] = d.from_unit(np.zeros(u.shape[0]))  # a fixed dimension: its only value
        for j, i in enumerate(self.free):
            out[:, i] = self.dims[i].from_unit(u[:, j])
        return out

    def canonical(self, x: np.ndarray) -> np.ndarray:
        """Rows of samplers' values (one column per dimension) in canonical form (``Dimension.canonical``)."""
        x = np.asarray(x, dtype=np.float64)
        if not len(x) or not self.dims:
            return x.reshape(len(x), len(self.dims))
        return np.column_stack([d.canonical(x[:, i]) for i, d in enumerate(self.dims)])

    def decode(self, canonical: np.ndarray) -> list[dict[str, Any]]:
        """Canonical rows as parameter sets (schema order, Python values)."""
        cols = [d.python(canonical[:, i]) for i, d in enumerate(self.dims)]
        return [dict(zip(self.names, vals)) for vals in zip(*cols)] if cols else [{} for _ in range(len(canonical))]

    def describe(self) -> dict[str, dict[str, Any]]:
        return {d.name: d.describe() for d in self.dims}

    def sample(self, schema: StrategySchema, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """``n`` distinct parameter sets drawn uniformly over the space (log scale where declared),
        each satisfying the schema's constraints: the draws of a random search, as one grid. Seeded;
        fewer than ``n`` when the space holds fewer distinct feasible points (drawing stops after
        ``20 n + 1000`` draws)."""
        if n < 1:
            raise SpaceError(f"strategy {self.strategy!r}: sample size must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        out: list[dict[str, Any]] = []
        seen: set[bytes] = set()
        draws, limit = 0, 20 * n + 1000
        while len(out) < n and draws < limit:
            k = min(max(n - len(out), 64), limit - draws)
            canon = self.canonical(self.from_unit(rng.random((k, len(self.free)))))
            draws += k
            for p, row in zip(self.decode(canon), canon):
                key = row.tobytes()
                if key in seen or not schema.satisfies(p):
                    continue
                seen.add(key)
                out.append(p)
                if len(out) == n:
                    break
        return out


def _dimension(p: Param, strategy: str, override: Any, where: str | None = None) -> Dimension:
    where = where or f"strategy '{strategy}': search space of parameter '{p.name}'"
    if override is not None:
        if isinstance(override, Mapping):
            problem = range_problem(override)  # its form: the rule luminaquant.toml is checked by at load
            if problem:
                raise SpaceError(f"{where}: {problem}")
            if p.kind not in ("int", "float"):
                raise SpaceError(f"{where}: a {p.kind} parameter takes a list of values, not a range")
            lo = p.check(override["low"], where)  # its type and the declared bounds
            hi = p.check(override["high"], where)
            log = override.get("log", p.log)
            step = override.get("step", p.step)
            if p.kind == "int" and step is not None and float(step) != int(step):
                raise SpaceError(f"{where}: an int parameter needs an integer step, got {step!r}")
            if log and lo <= 0:
                raise SpaceError(f"{where}: log = true needs low > 0, got {lo}")
            return _numeric(p.name, p.kind, lo, hi, step, log)
        if isinstance(override, (list, tuple)):
            if not override:
                raise SpaceError(f"{where}: an empty list of values")
            vals = tuple(dict.fromkeys(p.check(v, where) for v in override))
            return Dimension(p.name, "choice", choices=vals)
        raise SpaceError(f"{where}: expected a {{low, high, step, log}} table or a list of values, got {override!r}")
    if p.kind == "choice":
        return Dimension(p.name, "choice", choices=tuple(p.choices))
    if p.kind == "bool":
        return Dimension(p.name, "choice", choices=(False, True))
    if p.low is None or p.high is None:
        if p.grid:
            return Dimension(p.name, "choice", choices=tuple(p.grid))
        raise SpaceError(f"{where}: no range to search; declare low and high, or set "
                         f"[strategies.{strategy}.space] {p.name} = {{low = ..., high = ...}} or a list of values")
    return _numeric(p.name, p.kind, p.low, p.high, p.step, p.log)


def _numeric(name: str, kind: str, lo: float, hi: float, step: float | None, log: bool) -> Dimension:
    if kind == "int":
        return Dimension(name, "int", int(lo), int(hi), 1 if log or step is None else int(step), log)
    return Dimension(name, "float", float(lo), float(hi), None if log else (float(step) if step else None), log)


def search_space(schema: StrategySchema, override: Mapping[str, Any] | None = None) -> SearchSpace:
    """The space a sampler searches: the declarations, narrowed by ``override`` per parameter."""
    override = dict(override or {})
    unknown = sorted(set(override) - set(schema.param_names))
    if unknown:
        raise SpaceError(f"strategy '{schema.name}': search space for unknown parameter(s) {unknown}; "
                         f"known: {list(schema.param_names)}")
    return SearchSpace(schema.name, tuple(_dimension(p, schema.name, override.get(p.name)) for p in schema.params))


def override_dimension(schema: StrategySchema, name: str, override: Any, where: str) -> Dimension:
    """The dimension that ``override`` (a {low, high, step, log} table or a list of values) makes of
    declared parameter ``name``; an error starts with ``where`` (luminaquant.toml's file, table and key:
    ``optimize.config.check_strategy_tables``)."""
    return _dimension(schema.param(name), schema.name, override, where)


def feasible_share(schema: StrategySchema, space: SearchSpace, seed: int = 0, n: int = 20_000) -> float:
    """Share of ``n`` seeded uniform draws from the space that satisfy the strategy's constraints;
    raises ``SpaceError`` when none does (a space with no valid point)."""
    if not schema.constraints:
        return 1.0
    rng = np.random.default_rng(seed)
    draws = {d.name: d.uniform(rng, n) for d in space.dims}
    cols = {name: np.array([schema.param(name).encode(v) for v in vals], dtype=np.float64)
            for name, vals in draws.items()}
    ok = np.ones(n, dtype=bool)
    for c in schema.constraints:
        ok &= c.mask(cols, lambda: [dict(zip(draws, vals)) for vals in zip(*draws.values())])
    if not ok.any():
        shown = ", ".join(f"{k}: {v}" for k, v in space.describe().items())
        rules = ", ".join(c.text for c in schema.constraints)
        raise SpaceError(f"strategy '{schema.name}': the search space has no parameter set satisfying its "
                         f"constraints ({rules}) in {n:,} draws; space: {shown}")
    return float(ok.mean())


def override_key(override: Mapping[str, Any] | None) -> Sequence:
    """A stable, hashable form of a space override (for versions and equality)."""
    if not override:
        return ()
    return tuple(sorted((k, repr(sorted(v.items())) if isinstance(v, Mapping) else repr(list(v)))
                        for k, v in override.items()))
