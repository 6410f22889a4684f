"""``optimize``: folds -> stage 1 -> stage 2 (top k) -> audit -> winner -> holdout once."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from lq_engine.prefilter.evaluate import backend_for
from lq_engine.optimize.config import ConfigError, OptimizeConfig, brackets_json
from lq_engine.optimize.folds import FoldPlan, make_folds
from lq_engine.optimize.gate import NOT_CHECKED, LookaheadGate, recheck_winner, scan_before_stage1
from lq_engine.optimize.inputs import DatasetView, view_of
from lq_engine.optimize.objectives import rank_order, spearman, top_k_recall
from lq_engine.optimize.overfit import Overfitting, overfitting
from lq_engine.optimize.pool import TaskRunner
from lq_engine.optimize.prefilter import Stage1Result, Stage1Scorer, parameter_grid, params_json, prefilter
from lq_engine.optimize.search import SearchSettings, resolve_search, run_search
from lq_engine.optimize.replay_stage import (
    Detail, ReplayBatch, choose_winner, pbo_block_bars, replay_candidates, score_holdout, winner_detail,
)
from lq_engine.optimize.verdicts import verdict_line
from lq_engine.replay.portfolio import replay_portfolio
from lq_engine.replay.round_trips import trips_frame
from lq_engine.strategies.registry import library_strategy, resolve
from lq_engine.strategies.spec import StrategySpec


GATE_TIMING_FIELDS = ("lookahead_seconds", "lookahead_share")  # in summary(), not in the stored table


@dataclass(frozen=True)
class Fidelity:
    """How well stage 1 predicted stage 2 on the audit set (top k + a seeded sample of the rest)."""

    k: int
    n_audited: int
    n_outside_top_k: int
    spearman_train: float  # stage-1 objective vs the same objective from full replays (train windows)
    spearman_validation: float  # stage-1 objective vs the stage-2 robust validation objective
    top_k_recall: float  # share of the replay's top k (train objective) that stage 1 also ranked top k
    table: pl.DataFrame


@dataclass(frozen=True)
class Winner:
    set_index: int
    params: dict[str, Any]
    stage1_rank: int
    stage1_objective: float
    validation_objective: float
    validation_median_sharpe: float


@dataclass(frozen=True)
class Benchmark:
    """The universe bought and held with inverse-volatility weights over the holdout (the shipped
    ``inverse_vol`` strategy at its defaults, full execution model): what the winner is shown against."""

    name: str
    params: dict[str, Any]
    ts: np.ndarray
    equity: np.ndarray
    metrics: dict[str, float]


@dataclass(frozen=True)
class OptimizeResult:
    dataset: str
    dataset_hash: str
    strategy: str
    timeframe: str
    calendar: str
    periods_per_year: float
    synthetic: bool
    config: OptimizeConfig
    plan: FoldPlan
    clock_bounds: dict[str, tuple[int, int]]  # window label -> (first ts, last ts) on the clock
    stage1: Stage1Result
    top: ReplayBatch
    audit: ReplayBatch
    candidates: pl.DataFrame  # one row per replayed set: both stages' objectives, stage-2 rank
    winner: Winner
    selection_detail: Detail  # the winner on train/validation windows (trades, equity)
    holdout: Detail  # the winner on the holdout, once per symbol
    overfitting: Overfitting
    fidelity: Fidelity
    timings: dict[str, float] = field(default_factory=dict)
    strategy_version: str = ""  # the strategy's source hash (and grid override): see StrategySpec.version
    param_names: tuple[str, ...] = ()
    portfolio: bool = False  # a portfolio strategy: one unit (PORTFOLIO) per window instead of one per symbol
    benchmark: Benchmark | None = None  # inverse-volatility buy-and-hold of the universe over the holdout
    lookahead: LookaheadGate | None = None  # the lookahead gate (before stage 1, the winner); None: older result

    @property
    def holdout_summary(self) -> dict[str, float]:
        t = self.holdout.table
        if t.height == 0:
            return {"symbols": 0}
        return {"symbols": t.height, "mean_sharpe": float(t["sharpe"].mean()),
                "median_sharpe": float(t["sharpe"].median()), "mean_total_return": float(t["total_return"].mean()),
                "worst_max_drawdown": float(t["max_drawdown"].max()), "trades": float(t["trade_count"].sum())}

    def tables(self) -> dict[str, pl.DataFrame]:
        """Every table worth storing (DuckDB), keyed by a suggested table name."""
        return {
            "prefilter_scores": self.stage1.scores,
            "prefilter_rankings": self.stage1.rankings,
            "replay_windows": pl.concat([self.top.table, self.audit.table], how="vertical_relaxed"),
            "replay_candidates": self.candidates,
            "winner_windows": pl.concat([self.selection_detail.table, self.holdout.table], how="vertical_relaxed"),
            "winner_trades": pl.concat([self.selection_detail.trades, self.holdout.trades], how="vertical_relaxed"),
            "winner_round_trips": self.round_trips(),
            "fidelity": self.fidelity.table,
            # wall-clock figures (the gate's seconds and share) stay out: same inputs, same tables
            "summary": pl.DataFrame([self.summary()]).drop(*GATE_TIMING_FIELDS),
            **({"winner_weights": pl.concat([d.weights for d in (self.selection_detail, self.holdout)
                                             if d.weights is not None], how="vertical_relaxed"),
                "winner_contributions": pl.concat([d.contributions for d in (self.selection_detail, self.holdout)
                                                   if d.contributions is not None], how="vertical_relaxed")}
               if self.portfolio else {}),
        }

    def round_trips(self) -> pl.DataFrame:
        """The winner's trades as round trips, selection windows then holdout (``replay.round_trips``)."""
        parts = [d.round_trips for d in (self.selection_detail, self.holdout)
                 if getattr(d, "round_trips", None) is not None]
        return pl.concat(parts, how="vertical_relaxed") if parts else trips_frame([])

    def summary(self) -> dict[str, Any]:
        """One flat row: the headline figures (also handy as Dagster metadata)."""
        o, f, h = self.overfitting, self.fidelity, self.holdout_summary
        row = {
            "dataset": self.dataset, "dataset_hash": self.dataset_hash, "strategy": self.strategy,
            "strategy_version": self.strategy_version,
            "synthetic": self.synthetic, "winner_set_index": self.winner.set_index,
            "winner_params": params_json(self.winner.params), "winner_stage1_rank": self.winner.stage1_rank,
            "validation_objective": self.winner.validation_objective,
            "holdout_mean_sharpe": h.get("mean_sharpe", float("nan")),
            "holdout_mean_total_return": h.get("mean_total_return", float("nan")),
            "dsr": o.dsr, "n_trials": o.n_trials, "pbo": o.pbo, "spearman_train": f.spearman_train,
            "spearman_validation": f.spearman_validation, "top_k_recall": f.top_k_recall, "top_k": f.k,
            "n_sets": self.stage1.n_sets, "backend": self.stage1.backend,
            # the stage-2 exit legs the winner was chosen and scored with (stage 1 ran without them)
            "brackets": brackets_json(self.config.brackets),
            # how stage 1 chose its sets: method, budgets, seed, space, and what the search did
            "search": search_json(self.stage1),
            "n_pruned": self.stage1.n_pruned,
            "benchmark_holdout_sharpe": self.benchmark.metrics["sharpe"] if self.benchmark else float("nan"),
            "benchmark_holdout_total_return": (self.benchmark.metrics["total_return"] if self.benchmark
                                               else float("nan")),
            "holdout_trades": self.holdout_trades,
            **self.gate_summary(),
        }
        row["verdicts"] = verdict_line(row)
        return row

    def gate_summary(self) -> dict[str, Any]:
        """The lookahead gate's fields of the summary: ``lookahead`` ("" when clean, else the verdict),
        the sets checked, the decision runs, the seconds it took (before stage 1 and the winner) and
        their share of the optimization's time (``timings``, the gate included)."""
        g = self.lookahead
        if g is None:
            return {"lookahead": NOT_CHECKED, "lookahead_sets": 0, "lookahead_runs": 0,
                    "lookahead_seconds": float("nan"), "lookahead_share": float("nan")}
        total = sum(self.timings.values())
        return {"lookahead": g.message(), "lookahead_sets": g.n_sets, "lookahead_runs": g.runs,
                "lookahead_seconds": g.seconds, "lookahead_share": g.seconds / total if total > 0 else float("nan")}

    @property
    def holdout_trades(self) -> int:
        """Round trips in the holdout, every symbol together (the trade count of older results)."""
        trips = getattr(self.holdout, "round_trips", None)
        return int(trips.height) if trips is not None else int(self.holdout_summary.get("trades", 0))


def _audit_sample(stage1: Stage1Result, k: int, config: OptimizeConfig) -> list[int]:
    """A seeded sample of the sets ranked below the top k, returned in stage-1 order."""
    rest = stage1.order[k:]
    m = min(config.audit_size, rest.size)
    if m == 0:
        return []
    pick = np.random.default_rng(config.seed).choice(rest.size, size=m, replace=False)
    return rest[np.sort(pick)].tolist()


def _candidates(stage1: Stage1Result, top: ReplayBatch, audit: ReplayBatch) -> pl.DataFrame:
    idx = top.set_indices + audit.set_indices
    val = np.concatenate([top.validation_objective, audit.validation_objective])
    s2 = np.full(len(idx), 0, dtype=np.int64)
    s2[rank_order(top.validation_objective)] = np.arange(1, len(top.set_indices) + 1)
    return pl.DataFrame({
        "set_index": idx, "role": ["top_k"] * len(top.set_indices) + ["audit"] * len(audit.set_indices),
        "params": [params_json(stage1.params[i]) for i in idx],
        "stage1_rank": stage1.ranks[idx] if idx else [], "stage1_objective": stage1.objective[idx] if idx else [],
        "stage2_train_objective": np.concatenate([top.train_objective, audit.train_objective]),
        "stage2_validation_objective": val,
        "validation_median_sharpe": np.concatenate([top.validation_median_sharpe, audit.validation_median_sharpe]),
        "stage2_rank": np.concatenate([s2[: len(top.set_indices)], np.zeros(len(audit.set_indices), np.int64)]),
    }, strict=False)


def _fidelity(stage1: Stage1Result, top: ReplayBatch, audit: ReplayBatch, candidates: pl.DataFrame) -> Fidelity:
    s1 = candidates["stage1_objective"].to_numpy()
    s2_train = candidates["stage2_train_objective"].to_numpy()
    s2_val = candidates["stage2_validation_objective"].to_numpy()
    k = len(top.set_indices)
    table = candidates.select("set_index", "role", "stage1_rank", "stage1_objective", "stage2_train_objective",
                              "stage2_validation_objective")
    return Fidelity(k, candidates.height, len(audit.set_indices), spearman(s1, s2_train),
                    spearman(s1, np.nan_to_num(s2_val, neginf=-1e300)), top_k_recall(s1, s2_train, k), table)


def optimize(dataset: Any, strategy: StrategySpec | str, config: OptimizeConfig = OptimizeConfig(),
             runner: TaskRunner | None = None) -> OptimizeResult:
    """Run the whole two-stage optimization of ``strategy`` (a name or a StrategySpec, resolved once
    here) over a frozen dataset.

    ``runner`` lets a caller share one worker pool across several calls; by default a pool of
    ``config.workers`` processes is made and closed here.
    """
    own = runner is None
    runner = runner or TaskRunner(config.workers)
    try:
        return _optimize(dataset, resolve(strategy), config, runner)
    finally:
        if own:
            runner.close()


def _optimize(dataset: Any, strategy: StrategySpec, config: OptimizeConfig, runner: TaskRunner) -> OptimizeResult:
    view, plan, search, backend, timings = prepare(dataset, strategy, config)
    stage1 = stage1_of(view, plan, search, backend, strategy, config, runner)
    return finish(view, plan, stage1, strategy, config, runner, timings)


def prepare(dataset: Any, strategy: StrategySpec, config: OptimizeConfig
            ) -> tuple[DatasetView, FoldPlan, SearchSettings, str, dict[str, float]]:
    """The dataset view, the folds, the stage-1 search and the backend (shared by both stages)."""
    t0 = time.perf_counter()
    view: DatasetView = view_of(dataset, config)
    if strategy.is_portfolio:
        if view.funding:
            raise ConfigError(f"optimize config: instrument 'perpetual': strategy '{strategy.name}' is a portfolio "
                              "strategy, and funding is modelled for single-series strategies only")
        strategy.check_data(view.panel)  # the universe suits the strategy, or nothing runs
    plan = make_folds(view.clock.shape[0], config)
    search = resolve_search(strategy, config)
    backend = backend_for(strategy, config.backend, bool(view.funding))  # C, Rust: rule vocabulary, spot only
    return view, plan, search, backend, {"prepare": time.perf_counter() - t0}


def stage1_of(view: DatasetView, plan: FoldPlan, search: SearchSettings, backend: str, strategy: StrategySpec,
              config: OptimizeConfig, runner: TaskRunner) -> Stage1Result:
    """The lookahead gate (``gate``), then the grid in one batch, or a sampler's batches, scored on
    every training window. The gate's scan travels with stage 1 (``Stage1Result.lookahead``)."""
    grid = None if search.sampler else parameter_grid(strategy, config, search.trials)
    scan = scan_before_stage1(view, plan, strategy, config, grid)
    t0 = time.perf_counter()
    if grid is not None:
        s1 = prefilter(view, strategy, grid, plan, config, runner, backend, search)
    else:
        scorer = Stage1Scorer(view, strategy, plan, config, runner, backend)
        _, trace = run_search(strategy, search, scorer.score)
        s1 = scorer.result(search, trace)
    # the contract stage 2 checks: the data and the strategy version this stage 1 scored
    return replace(s1, dataset_hash=view.content_hash, strategy_version=strategy.version, lookahead=scan,
                   seconds=time.perf_counter() - t0)


def search_json(stage1: Stage1Result) -> str:
    """The search settings and what the search did, as recorded with a result (JSON)."""
    rec: dict[str, Any] = {"evaluated": stage1.n_sets, "pruned": stage1.n_pruned}
    if stage1.search is not None:
        rec.update(stage1.search.as_dict())
    if stage1.trace is not None:
        t = stage1.trace
        rec.update(proposals=t.proposals, repeats=t.repeats, infeasible=t.infeasible, batches=t.batches,
                   stop=t.stop, sampler_seconds=round(t.sampler_seconds, 3), elapsed=round(t.elapsed, 3))
    return json.dumps(rec, sort_keys=True)


def finish(view: DatasetView, plan: FoldPlan, stage1: Stage1Result, strategy: StrategySpec, config: OptimizeConfig,
           runner: TaskRunner, timings: dict[str, float]) -> OptimizeResult:
    """Stage 2, the audit, the lookahead gate's re-check of the winner and the holdout, given stage 1."""
    if "stage1" not in timings and stage1.seconds == stage1.seconds:  # stage 1 ran elsewhere (its own run)
        timings["stage1"] = stage1.seconds
    t0 = time.perf_counter()
    k = config.top_k(stage1.n_sets)
    block = pbo_block_bars(view, plan, config, strategy)
    top = replay_candidates(view, strategy, stage1, stage1.order[:k].tolist(), "top_k", plan, config, runner, block)
    w = choose_winner(top)
    win_idx = top.set_indices[w]
    winner = Winner(win_idx, dict(stage1.params[win_idx]), int(stage1.ranks[win_idx]),
                    float(stage1.objective[win_idx]), float(top.validation_objective[w]),
                    float(top.validation_median_sharpe[w]))
    timings["stage2"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    audit = replay_candidates(view, strategy, stage1, _audit_sample(stage1, k, config), "audit", plan, config,
                              runner, block)
    candidates = _candidates(stage1, top, audit)
    fidelity = _fidelity(stage1, top, audit, candidates)
    timings["audit"] = time.perf_counter() - t0

    gate = lookahead_gate(view, plan, stage1, strategy, winner.params, config)  # before the holdout is read
    timings["gate"] = gate.seconds

    t0 = time.perf_counter()
    detail = winner_detail(view, strategy, winner.params, plan, config, runner)
    val = [s for s in detail.segments if s.kind == "validation"]  # DSR: averaged per timestamp (overfit)
    over = overfitting([s.ts[1:] for s in val], [s.equity[1:] / s.equity[:-1] - 1.0 for s in val], stage1,
                       len(top.set_indices) + len(audit.set_indices), top.val_returns, config.pbo_splits)
    holdout = score_holdout(view, strategy, winner.params, plan, config, runner)
    benchmark = benchmark_holdout(view, plan, config)
    timings["holdout"] = time.perf_counter() - t0

    bounds = {f"{w.kind}_{w.fold}" if w.fold >= 0 else w.kind: view.window_ts(w)
              for w in (*plan.selection_windows(), plan.holdout)}
    return OptimizeResult(view.name, view.content_hash, strategy.name, view.timeframe, view.calendar,
                          view.ppy, view.synthetic, config, plan, bounds, stage1, top, audit, candidates, winner,
                          detail, holdout, over, fidelity, timings, strategy.version, strategy.param_names,
                          strategy.is_portfolio, benchmark, gate)


def lookahead_gate(view: DatasetView, plan: FoldPlan, stage1: Stage1Result, strategy: StrategySpec,
                   params: dict[str, Any], config: OptimizeConfig) -> LookaheadGate:
    """Stage 1's gate scan (run here if this stage 1 has none: one stored before the gate existed)
    and the re-check of the winner's exact parameters."""
    before = stage1.lookahead
    if before is None:
        before = scan_before_stage1(view, plan, strategy, config, list(stage1.params))
    return LookaheadGate(before, recheck_winner(view, plan, strategy, params, config))


BENCHMARK_STRATEGY = "inverse_vol"


def benchmark_holdout(view: DatasetView, plan: FoldPlan, config: OptimizeConfig) -> Benchmark | None:
    """``inverse_vol`` at its defaults over the holdout window of every symbol (None if too short)."""
    a, b = plan.holdout.start, plan.holdout.stop
    if b - a < 3:
        return None

    spec = library_strategy(BENCHMARK_STRATEGY)  # also when [project] shipped_strategies leaves it out
    params = spec.default_params()
    res = replay_portfolio(spec, params, view.panel.window(a, b), config.execution, config.initial_cash, view.ppy)
    return Benchmark(spec.name, params, np.asarray(res.ts), np.asarray(res.equity), res.metrics)
