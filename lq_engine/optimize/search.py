"""Stage-1 search: which parameter sets stage 1 scores, and the batched sampler loop.

Methods (``OptimizeConfig.search``):
- ``grid``: the strategy's grid, exhaustively (or a seeded sample of ``sample_size`` / ``trials``
  sets of it);
- ``random``, ``tpe``, ``cmaes``, ``qmc``: Optuna's RandomSampler, TPESampler, CmaEsSampler and
  QMCSampler (scrambled Sobol) over the strategy's declared search space
  (``lq_engine.strategies.space``), continuous and log-scaled ranges included;
- ``auto`` (the default): the exhaustive grid when the strategy has a grid of at most
  ``AUTO_GRID_MAX`` sets and no budget is given (or ``trials`` covers the whole grid); otherwise
  TPE, with ``trials`` (``AUTO_TRIALS`` when neither ``trials`` nor ``timeout`` is given).

The loop is batched: the sampler proposes ``batch_size`` sets (Optuna ask, in-memory storage), one
kernel call per training window scores the whole batch, and the results are told back in the order
they were asked. The sampler runs in the calling process only and the scores are bit-identical for
any worker or thread count, so the same seed gives the same trials, scores and winner. A
``timeout`` is checked between batches: the trials are then a prefix of the untimed sequence.

Budget and N: ``trials`` counts distinct parameter sets evaluated; every one of them is stored in
``prefilter_scores`` and counts in the deflated Sharpe ratio's N, pruned ones included. A proposal
that repeats an evaluated set is told its known score and not evaluated again (not a new
configuration); a proposal violating the strategy's constraints is not evaluated and is told to the
sampler as infeasible (``Trial.set_constraint``) with a score worse than any.

TPE, CMA-ES and QMC start from one batch of uniform random proposals (TPE's ``n_startup_trials`` is
the batch size; CMA-ES and QMC infer the space from finished trials), which also gives the report
its random-search baseline. CMA-ES runs one generation per batch (``popsize`` = batch size) and
needs a continuous space (no choice of several values).
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
from lq_engine.strategies.params import ParamError, grid_table
from lq_engine.strategies.space import SearchSpace, SpaceError, feasible_share
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


def _optuna():
    """Optuna, quiet (a search makes thousands of trials and one study per TPE batch)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_sampler(settings: SearchSettings):
    """The seeded Optuna sampler of ``settings.method``."""
    optuna = _optuna()
    seed, batch = settings.seed, settings.batch_size
    warnings.filterwarnings("ignore", message="Constraints have been set, but CmaEsSampler")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if settings.method == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if settings.method == "tpe":
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=batch)
        if settings.method == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, popsize=max(2, batch), warn_independent_sampling=False)
        if settings.method == "qmc":
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed,
                                              warn_independent_sampling=False, warn_asynchronous_seeding=False)
    raise ConfigError(f"optimize config: field 'search': unknown sampler {settings.method!r}; known: {SAMPLERS}")


TPE_HISTORY = 256  # trials a TPE batch is proposed from: the best TPE_BELOW and a seeded sample of the rest
TPE_BELOW = 25  # = Optuna's default gamma cap: TPE's "good" group is these, exactly


class _Persistent:
    """Random, CMA-ES, QMC: one in-memory study for the whole search (their state lives in it)."""

    def __init__(self, settings: SearchSettings, space: SearchSpace) -> None:
        optuna = _optuna()
        self.dists = space.distributions()
        self.study = optuna.create_study(direction="maximize", sampler=make_sampler(settings),
                                         storage=optuna.storages.InMemoryStorage())

    def ask(self, n: int) -> list:
        return [self.study.ask(self.dists) for _ in range(n)]

    def tell(self, trial, value: float, pruned: bool, infeasible: bool) -> None:
        _tell(self.study, trial, value, pruned, infeasible)


class _BoundedTpe:
    """TPE, each batch proposed by a fresh in-memory study holding a bounded summary of the history:
    the ``TPE_BELOW`` best trials (exactly TPE's good group, as Optuna's gamma caps it at 25) and a
    seeded uniform sample of the others (their density estimated from a sample), ``TPE_HISTORY`` in
    all, in trial order. Stock Optuna refits on every past trial for every proposal (quadratic in
    the trials); this keeps a proposal's cost flat. Wide int ranges are modelled as continuous
    (``Dimension.relaxed_distribution``). With at most ``TPE_HISTORY`` trials it is plain TPE."""

    def __init__(self, settings: SearchSettings, space: SearchSpace) -> None:
        self.settings = settings
        self.dists = {d.name: d.relaxed_distribution() for d in space.dims}
        self.done: list = []  # FrozenTrials of every finished proposal, in order
        self.values: list[float] = []
        self.batch = 0
        self.study = None

    def _summary(self) -> list:
        n = len(self.done)
        if n <= TPE_HISTORY:
            return list(self.done)
        v = np.asarray(self.values)
        best = np.lexsort((np.arange(n), -v))[:TPE_BELOW]
        rest = np.setdiff1d(np.arange(n), best)
        rng = np.random.default_rng([self.settings.seed, self.batch])
        pick = rng.choice(rest, size=TPE_HISTORY - TPE_BELOW, replace=False)
        return [self.done[i] for i in np.sort(np.concatenate([best, pick]))]

    def ask(self, n: int) -> list:
        optuna = _optuna()
        seed = int(np.random.SeedSequence([self.settings.seed, self.batch]).generate_state(1)[0])
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.settings.batch_size or 1,
                                             constant_liar=True)
        self.study = optuna.create_study(direction="maximize", sampler=sampler,
                                         storage=optuna.storages.InMemoryStorage())
        self.study.add_trials(self._summary())
        self.batch += 1
        return [self.study.ask(self.dists) for _ in range(n)]

    def tell(self, trial, value: float, pruned: bool, infeasible: bool) -> None:
        frozen = _tell(self.study, trial, value, pruned, infeasible)
        self.done.append(frozen)
        self.values.append(-np.inf if (pruned or infeasible) else value)


def _tell(study, trial, value: float, pruned: bool, infeasible: bool):
    """Tell one proposal its outcome; returns the finished trial."""
    from optuna.trial import TrialState

    if infeasible:
        trial.set_constraint("constraints", 1.0)
        return study.tell(trial, INFEASIBLE_SCORE)
    if pruned:
        trial.report(value, 0)
        return study.tell(trial, state=TrialState.PRUNED)
    return study.tell(trial, value)


def _proposer(settings: SearchSettings, space: SearchSpace):
    return _BoundedTpe(settings, space) if settings.method == "tpe" else _Persistent(settings, space)


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
    proposals: int  # sets the sampler proposed (Optuna trials)
    repeats: int  # proposals of a set already evaluated (told its score, not evaluated again)
    infeasible: int  # proposals violating a constraint (not evaluated)
    batches: int
    startup: int  # leading uniform-random proposals (the random baseline's sample)
    sampler_seconds: float  # ask + tell
    evaluate_seconds: float
    elapsed: float
    stop: str  # trials | timeout | exhausted

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("proposals", "repeats", "infeasible", "batches", "startup",
                                            "sampler_seconds", "evaluate_seconds", "elapsed", "stop")}
        d["settings"] = self.settings.as_dict()
        return d


def _decode(space: SearchSpace, params: dict[str, Any]) -> dict[str, Any]:
    """Optuna's values as the strategy's (ints rounded to their step), in schema order."""
    return {d.name: d.value(params[d.name]) for d in space.dims}


def _key(p: dict[str, Any]) -> str:
    return json.dumps(p, sort_keys=True)


def run_search(strategy: StrategySpec, settings: SearchSettings,
               evaluate: Callable[[list[dict[str, Any]]], BatchScores],
               clock: Callable[[], float] = time.perf_counter) -> tuple[list[dict[str, Any]], SearchTrace]:
    """Ask a batch, score the new valid sets with ``evaluate`` (one call per batch), tell every
    proposal its result in the order asked; until ``trials`` sets are evaluated, the ``timeout`` has
    passed (checked between batches) or the sampler brings nothing new. Returns the evaluated sets in
    evaluation order and the trace."""
    if not settings.sampler:
        raise ValueError(f"run_search: {settings.method!r} is not a sampler")
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
    seen: dict[str, int] = {}
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
        fate: list[tuple[str, int]] = []  # per proposal: ("new"|"seen"|"bad", set index)
        new: list[dict[str, Any]] = []
        for trial in asked:
            p = _decode(space, trial.params)
            if not schema.satisfies(p):
                fate.append(("bad", -1))
                continue
            k = _key(p)
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
        t = clock()
        for trial, (what, i) in zip(asked, fate):
            if what == "bad":
                infeasible += 1
                proposer.tell(trial, INFEASIBLE_SCORE, False, True)
                continue
            repeats += what == "seen"
            proposer.tell(trial, values[i] if math.isfinite(values[i]) else INFEASIBLE_SCORE, pruned[i], False)
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
           "batch_size_for", "best_so_far", "grid_size", "make_sampler", "random_baseline", "resolve_search",
           "run_search"]
