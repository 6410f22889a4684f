"""Stage-1 search: which parameter sets stage 1 scores, and the batched sampler loop.

Methods (``OptimizeConfig.search``):
- ``grid``: the strategy's grid, exhaustively (or a seeded sample of ``sample_size`` / ``trials``
  sets of it);
- ``random``, ``tpe``, ``cmaes``, ``qmc``: samplers over the strategy's declared search space
  (``lq_engine.authoring.space``), continuous and log-scaled ranges included, each batch-native:
  random search draws seeded uniform points (NumPy, vectorized); TPE builds Optuna's Parzen
  estimators once per batch and scores all of the batch's candidates at once
  (``lq_engine.optimize.tpe``); QMC takes scrambled Sobol points (``scipy.stats.qmc.Sobol``); CMA-ES
  is the ``cmaes`` package's ``CMA``, one generation per batch. No Optuna study or trial is made;
- ``auto`` (the default): the exhaustive grid when the strategy has a grid of at most
  ``AUTO_GRID_MAX`` sets and no budget is given (or ``trials`` covers the whole grid); otherwise
  TPE, with ``trials`` (``AUTO_TRIALS`` when neither ``trials`` nor ``timeout`` is given).

The loop is batched: the sampler proposes ``batch_size`` sets, one kernel call per training window
scores the whole batch, and the results are told back in the order they were asked. The sampler
runs in the calling process only, all its randomness is seeded, and the scores are
bit-identical for any worker or thread count, so the same seed gives the same trials, scores and
winner. A ``timeout`` is checked between batches: the trials are then a prefix of the untimed
sequence.

Budget and N: ``trials`` counts distinct parameter sets evaluated; every one of them is stored in
``prefilter_scores`` and counts in the deflated Sharpe ratio's N, pruned ones included. A proposal
that repeats an evaluated set is told its known score and not evaluated again (not a new
configuration); a proposal violating the strategy's constraints is not evaluated and is told to the
sampler as infeasible (TPE files it as Optuna does a trial with a violated constraint), with a
score worse than any.

TPE, CMA-ES and QMC start from one batch of uniform random proposals (as Optuna's samplers did here:
TPE's ``n_startup_trials`` was the batch size), which also gives the report its random-search
baseline. CMA-ES needs a continuous space (no choice of several values).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from lq_engine.optimize.config import ConfigError, OptimizeConfig
from lq_engine.authoring.params import ParamError, grid_table
from lq_engine.authoring.space import SearchSpace, SpaceError, feasible_share
from lq_engine.strategies.spec import StrategySpec

SAMPLERS = ("random", "tpe", "cmaes", "qmc")
AUTO_GRID_MAX = 100_000  # auto: a grid up to this many sets is scored exhaustively
AUTO_TRIALS = 5_000  # auto / a sampler without trials or timeout: this many sets
UNBOUNDED = 10_000_000  # trial cap of a search bounded by its timeout only
INFEASIBLE_SCORE = -1e9  # what a sampler is told for a proposal that violates a constraint
STALE_BATCHES = 3  # stop when this many batches in a row bring no new parameter set


@dataclass(frozen=True)
class SearchSettings:
    """The search a stage 1 runs, resolved from the config (recorded with the result)."""

    method: str  # grid | random | tpe | cmaes | qmc
    seed: int
    trials: int | None = None  # grid: a seeded sample of this many grid sets (None: all)
    timeout: float | None = None
    batch_size: int | None = None  # samplers only
    prune_quantile: float | None = None
    requested: str = "auto"  # what the config asked for (``auto`` shows how it resolved)
    space: dict = field(default_factory=dict)  # samplers: the searched space (SearchSpace.describe)

    @property
    def sampler(self) -> bool:
        return self.method in SAMPLERS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    def text(self) -> str:
        """One line for tables and prose."""
        parts = [self.method + (" (auto)" if self.requested == "auto" else "")]
        if self.trials is not None:
            parts.append(f"trials={self.trials}")
        if self.timeout is not None:
            parts.append(f"timeout={self.timeout:g}s")
        if self.batch_size is not None:
            parts.append(f"batch={self.batch_size}")
        if self.prune_quantile is not None:
            parts.append(f"prune<q{self.prune_quantile:g}")
        parts.append(f"seed={self.seed}")
        return ", ".join(parts)


def batch_size_for(trials: int | None) -> int:
    """Default batch: about 40 batches over the budget, 8 to 256 sets each (64 without a budget)."""
    if trials is None:
        return 64
    return max(8, min(256, math.ceil(trials / 40)))


def grid_size(strategy: StrategySpec) -> int | None:
    """Sets in the strategy's grid after its constraints (None when it has no grid or a huge one)."""
    axes = strategy.schema.default_grid
    if any(len(v) == 0 for v in axes.values()):
        return None
    if math.prod(len(v) for v in axes.values()) > 50_000_000:
        return None
    try:
        return len(grid_table(strategy.schema, axes))
    except ParamError:
        return None


def resolve_search(strategy: StrategySpec, config: OptimizeConfig) -> SearchSettings:
    """The method and budgets stage 1 uses for ``strategy`` under ``config`` (the ``auto`` rule)."""
    method = config.search
    n_grid = grid_size(strategy) if method in ("auto", "grid") else None
    if method == "auto":
        budget_given = config.trials is not None or config.timeout is not None
        if config.sample_size is not None or (n_grid is not None and (
                (not budget_given and n_grid <= AUTO_GRID_MAX)
                or (config.timeout is None and config.trials is not None and n_grid <= config.trials))):
            method = "grid"
        else:
            method = "tpe"
    if method == "grid":
        trials = config.sample_size if config.sample_size is not None else config.trials
        if trials is not None and n_grid is not None and n_grid <= trials and config.sample_size is None:
            trials = None  # the budget covers the whole grid
        return SearchSettings("grid", config.seed, trials, None, None, config.prune_quantile, config.search)
    space = strategy.space
    if method == "cmaes" and space.categorical:
        raise ConfigError(f"optimize config: field 'search': 'cmaes' searches continuous spaces only; strategy "
                          f"'{strategy.name}' has choice parameter(s) {space.categorical} (fix them in "
                          f"[strategies.{strategy.name}.space] or use 'tpe')")
    feasible_share(strategy.schema, space, config.seed)  # SpaceError when no point satisfies the constraints
    trials = config.trials if config.trials is not None else (AUTO_TRIALS if config.timeout is None else None)
    batch = config.batch_size if config.batch_size is not None else batch_size_for(trials)
    return SearchSettings(method, config.seed, trials, config.timeout, batch, config.prune_quantile, config.search,
                          space.describe())


COMPLETE, PRUNED, INFEASIBLE = 0, 1, 2  # what a proposal is told (``tpe`` uses the same codes)


class _Sampler:
    """Proposes rows of samplers' values (one column per dimension, Optuna's internal
    representation: numbers, a choice's index) in batches and is told each proposal's outcome, in
    the order asked. The first batch of a model-based sampler is uniform random (the startup, also
    the report's random baseline); a space with nothing free gives its one point."""

    uniform_only = False

    def __init__(self, settings: SearchSettings, space: SearchSpace) -> None:
        self.space = space
        self.seed = settings.seed
        self.batch_size = settings.batch_size or batch_size_for(settings.trials)
        self.rng = np.random.default_rng(settings.seed)  # uniform draws (random search, startup batches)
        self.batches = 0

    def uniform(self, n: int) -> np.ndarray:
        return self.space.from_unit(self.rng.random((n, len(self.space.free))))

    def ask(self, n: int) -> np.ndarray:
        first = self.batches == 0
        self.batches += 1
        if first or self.uniform_only or not self.space.free:
            return self.uniform(n)
        return self.model(n)

    def model(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def tell(self, x: np.ndarray, values: np.ndarray, state: np.ndarray) -> None:
        """Outcomes of the rows ``x`` last asked: the value told (a score; ``INFEASIBLE_SCORE`` for an
        infeasible proposal) and ``COMPLETE`` / ``PRUNED`` (its running score when dropped) /
        ``INFEASIBLE``."""


class _Random(_Sampler):
    """Uniform random search: seeded draws over the space (log scale where declared), vectorized."""

    uniform_only = True


class _Qmc(_Sampler):
    """Scrambled Sobol points (``scipy.stats.qmc.Sobol``, seeded) over the unit cube of the free
    dimensions, mapped like random draws; continues the sequence batch after batch."""

    def __init__(self, settings: SearchSettings, space: SearchSpace) -> None:
        super().__init__(settings, space)
        from scipy.stats import qmc  # lazy: scipy.stats ~0.5 s, only the qmc sampler needs it

        rng = np.random.default_rng([settings.seed, 1])
        try:
            self.sobol = qmc.Sobol(d=max(1, len(space.free)), scramble=True, rng=rng)
        except TypeError:  # SciPy < 1.15 names it seed
            self.sobol = qmc.Sobol(d=max(1, len(space.free)), scramble=True, seed=rng)

    def model(self, n: int) -> np.ndarray:
        with warnings.catch_warnings():  # Sobol's balance wants powers of two; a batch is what it is
            warnings.simplefilter("ignore")
            return self.space.from_unit(self.sobol.random(n))


class _CmaEs(_Sampler):
    """CMA-ES (the ``cmaes`` package's ``CMA``) over the unit cube of the free dimensions (bounds
    [0, 1], mean 0.5, sigma 1/6, as Optuna's CmaEsSampler starts), ``popsize`` = batch size: a
    generation is asked whole, handed out in order and told (minimizing -score) once all of it is
    told, so a batch of ``popsize`` proposals is one generation. Startup proposals are not told to it."""

    def __init__(self, settings: SearchSettings, space: SearchSpace) -> None:
        super().__init__(settings, space)
        from cmaes import CMA  # lazy: only the cmaes sampler needs it

        d = max(1, len(space.free))
        self.popsize = max(2, self.batch_size)
        seed = int(np.random.SeedSequence([settings.seed, 2]).generate_state(1)[0] % (2**31 - 2)) + 1
        self.cma = CMA(mean=np.full(d, 0.5), sigma=1 / 6, bounds=np.tile([0.0, 1.0], (d, 1)), seed=seed,
                       population_size=self.popsize)
        self.queue: list[np.ndarray] = []  # asked from CMA, not yet handed out
        self.out: list[np.ndarray] = []  # handed out, not yet told
        self.done: list[tuple[np.ndarray, float]] = []  # told, not yet given to CMA
        self.modelled = False  # the last batch came from CMA (not the startup)

    def ask(self, n: int) -> np.ndarray:
        self.modelled = False
        return super().ask(n)

    def model(self, n: int) -> np.ndarray:
        self.modelled = True
        units = []
        for _ in range(n):
            if not self.queue:
                self.queue = [self.cma.ask() for _ in range(self.popsize)]
            units.append(self.queue.pop(0))
        self.out.extend(units)
        return self.space.from_unit(np.array(units))

    def tell(self, x: np.ndarray, values: np.ndarray, state: np.ndarray) -> None:
        if not self.modelled:
            return
        for v in values.tolist():
            self.done.append((self.out.pop(0), -v))
        while len(self.done) >= self.popsize:
            self.cma.tell(self.done[: self.popsize])
            self.done = self.done[self.popsize:]


class _Tpe(_Sampler):
    """Batch TPE (``lq_engine.optimize.tpe``): per batch, Optuna's Parzen estimators built once from
    the history (kept as arrays in Optuna's internal representation over the free dimensions, int
    ranges wider than ``RELAX_INT`` values modelled as continuous), ``batch x 24`` candidates drawn
    and scored at once, the best new candidate of each 24 proposed."""

    def __init__(self, settings: SearchSettings, space: SearchSpace) -> None:
        super().__init__(settings, space)
        from lq_engine.optimize import tpe  # lazy: tpe imports optuna (~1-3 s), which only this sampler needs

        self.tpe = tpe
        self.sub = SearchSpace(space.strategy, tuple(space.dims[i] for i in space.free))
        self.cols = list(space.free)
        self.names = list(self.sub.names)
        self.dists = {d.name: d.relaxed_distribution() for d in self.sub.dims}
        self.x = np.empty((0, len(self.cols)))
        self.values = np.empty(0)
        self.state = np.empty(0, dtype=np.int8)
        self.taken: set[bytes] = set()  # canonical rows proposed so far (bytes)

    def model(self, n: int) -> np.ndarray:
        xf = self.tpe.propose(self.x, self.values, self.state, self.names, self.dists, n, self.rng, self.taken,
                              self.sub.canonical)
        out = self.space.from_unit(np.zeros((n, len(self.cols))))  # fixed dimensions at their value
        out[:, self.cols] = xf
        return out

    def tell(self, x: np.ndarray, values: np.ndarray, state: np.ndarray) -> None:
        xf = x[:, self.cols]
        self.x = np.concatenate([self.x, xf])
        self.values = np.concatenate([self.values, np.asarray(values, dtype=np.float64)])
        self.state = np.concatenate([self.state, np.asarray(state, dtype=np.int8)])
        self.taken.update(r.tobytes() for r in np.ascontiguousarray(self.sub.canonical(xf)))


def _proposer(settings: SearchSettings, space: SearchSpace) -> _Sampler:
    kinds = {"random": _Random, "tpe": _Tpe, "cmaes": _CmaEs, "qmc": _Qmc}
    if settings.method not in kinds:
        raise ConfigError(f"optimize config: field 'search': unknown sampler {settings.method!r}; known: {SAMPLERS}")
    return kinds[settings.method](settings, space)


@dataclass(frozen=True)
class BatchScores:
    """What scoring a batch gives back, per new set: its objective (a pruned set: its running score
    when dropped) and whether it was pruned."""

    values: np.ndarray
    pruned: np.ndarray


@dataclass(frozen=True)
class SearchTrace:
    """How a sampler search went (the evaluated sets themselves are the stage-1 params, in order)."""

    settings: SearchSettings
    batch: np.ndarray  # per evaluated set: the batch that proposed it
    proposals: int  # sets the sampler proposed
    repeats: int  # proposals of a set already evaluated (told its score, not evaluated again)
    infeasible: int  # proposals violating a constraint (not evaluated)
    batches: int
    startup: int  # leading uniform-random proposals (the random baseline's sample)
    sampler_seconds: float  # in the sampler: set-up, ask and tell
    evaluate_seconds: float
    elapsed: float
    stop: str  # trials | timeout | exhausted

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("proposals", "repeats", "infeasible", "batches", "startup",
                                            "sampler_seconds", "evaluate_seconds", "elapsed", "stop")}
        d["settings"] = self.settings.as_dict()
        return d


def run_search(strategy: StrategySpec, settings: SearchSettings,
               evaluate: Callable[[list[dict[str, Any]]], BatchScores],
               clock: Callable[[], float] = time.perf_counter) -> tuple[list[dict[str, Any]], SearchTrace]:
    """Ask a batch, score the new valid sets with ``evaluate`` (one call per batch), tell every
    proposal its result in the order asked; until ``trials`` sets are evaluated, the ``timeout`` has
    passed (checked between batches) or the sampler brings nothing new. Returns the evaluated sets in
    evaluation order and the trace."""
    if not settings.sampler:
        raise ConfigError(f"run_search: {settings.method!r} is not a sampler")
    space = strategy.space
    schema = strategy.schema
    t = clock()
    proposer = _proposer(settings, space)
    sampler_s = clock() - t
    budget = settings.trials if settings.trials is not None else UNBOUNDED
    batch_size = settings.batch_size or batch_size_for(settings.trials)
    max_proposals = 10 * budget + 10 * batch_size
    params: list[dict[str, Any]] = []
    values: list[float] = []
    pruned: list[bool] = []
    batch_of: list[int] = []
    seen: dict[bytes, int] = {}  # canonical row -> set index
    proposals = repeats = infeasible = stale = batches = 0
    evaluate_s = 0.0
    t0 = clock()
    stop = "trials"
    while True:
        if len(params) >= budget:
            stop = "trials"
            break
        if settings.timeout is not None and batches > 0 and clock() - t0 >= settings.timeout:
            stop = "timeout"
            break
        if proposals >= max_proposals or stale >= STALE_BATCHES:
            stop = "exhausted"
            break
        n = min(batch_size, budget - len(params))
        t = clock()
        asked = proposer.ask(n)
        sampler_s += clock() - t
        proposals += n
        canon = space.canonical(asked)
        sets = space.decode(canon)
        fate: list[tuple[str, int]] = []  # per proposal: ("new"|"seen"|"bad", set index)
        new: list[dict[str, Any]] = []
        for p, row in zip(sets, canon):
            if not schema.satisfies(p):
                fate.append(("bad", -1))
                continue
            k = row.tobytes()
            if k in seen:
                fate.append(("seen", seen[k]))
                continue
            seen[k] = len(params) + len(new)
            fate.append(("new", seen[k]))
            new.append(p)
        if new:
            t = clock()
            scored = evaluate(new)
            evaluate_s += clock() - t
            params.extend(new)
            values.extend(float(v) for v in scored.values)
            pruned.extend(bool(x) for x in scored.pruned)
            batch_of.extend([batches] * len(new))
            stale = 0
        else:
            stale += 1
        told = np.empty(n)
        state = np.empty(n, dtype=np.int8)
        for j, (what, i) in enumerate(fate):
            if what == "bad":
                told[j], state[j] = INFEASIBLE_SCORE, INFEASIBLE
                continue
            repeats += what == "seen"
            told[j] = values[i] if math.isfinite(values[i]) else INFEASIBLE_SCORE
            state[j] = PRUNED if pruned[i] else COMPLETE
        infeasible += int(np.sum(state == INFEASIBLE))
        t = clock()
        proposer.tell(asked, told, state)
        sampler_s += clock() - t
        batches += 1
    trace = SearchTrace(settings, np.asarray(batch_of, dtype=np.int64), proposals, repeats, infeasible, batches,
                        min(batch_size, proposals) if settings.method != "random" else proposals,
                        sampler_s, evaluate_s, clock() - t0, stop)
    return params, trace


def best_so_far(values: np.ndarray, pruned: np.ndarray) -> np.ndarray:
    """Best finite objective among the complete (not pruned) sets up to each trial (NaN before any)."""
    v = np.where(pruned | ~np.isfinite(values), -np.inf, values)
    out = np.maximum.accumulate(v) if v.size else v
    return np.where(np.isneginf(out), np.nan, out)


def random_baseline(sample: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """Expected best of k uniform draws, for each k, estimated from the scores of uniform random
    proposals (``sample``): E[max_k] = sum_i s_(i) ((i/n)^k - ((i-1)/n)^k) over the sorted sample."""
    s = np.sort(np.asarray(sample, dtype=np.float64)[np.isfinite(sample)])
    n = s.size
    if n == 0:
        return np.full(len(ks), np.nan)
    i = np.arange(1, n + 1) / n
    return np.array([float(np.sum(s * (i ** k - (i - 1 / n) ** k))) for k in ks])


__all__ = ["AUTO_GRID_MAX", "AUTO_TRIALS", "BatchScores", "SAMPLERS", "SearchSettings", "SearchTrace", "SpaceError",
           "batch_size_for", "best_so_far", "grid_size", "random_baseline", "resolve_search",
           "run_search"]
