"""Stage 1: score the grid on every training window of every fold and symbol, rank it.

One task per symbol runs the batched kernel (``evaluate_grid``: every parameter set at once) on
each of that symbol's training windows. ``scores`` keeps every (set, fold, symbol) row so the
caller can store them all (the deflated Sharpe's N counts every configuration evaluated).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import polars as pl

from lq_engine.kernels import metrics as M
from lq_engine.optimize.config import ConfigError, OptimizeConfig
from lq_engine.optimize.folds import FoldPlan, Window, check_selection_window
from lq_engine.optimize.inputs import PORTFOLIO, DatasetView
from lq_engine.optimize.objectives import window_score
from lq_engine.optimize.pool import TaskRunner
from lq_engine.optimize.search import BatchScores, SearchSettings, SearchTrace
from lq_engine.optimize.tasks import PanelSpan, PrefilterTask, Span, run_prefilter
from lq_engine.authoring.params import ParamError, sample_grid
from lq_engine.strategies.spec import StrategySpec


def parameter_grid(strategy: StrategySpec, config: OptimizeConfig, sample: int | None = None) -> list[dict[str, Any]]:
    """The sets a grid search scores: the strategy's grid (its declared default, replaced per
    parameter by the project's ``[strategies.NAME.grid]``), or a seeded sample of ``sample`` sets of
    it (default ``config.sample_size``)."""
    axes = strategy.schema.default_grid
    sample = config.sample_size if sample is None else sample
    if sample is not None:
        sets = sample_grid(strategy.schema, axes, sample, config.seed)
    else:
        sets = strategy.grid(axes).rows()
    if not sets:
        raise ParamError(f"strategy {strategy.name!r}: the grid has no parameter set satisfying its constraints")
    return sets


def params_json(p: Mapping[str, Any]) -> str:
    return json.dumps(dict(p), sort_keys=True, separators=(",", ":"))


def param_columns(strategy: StrategySpec, params: Sequence[Mapping[str, Any]], index: Sequence[int]
                  ) -> dict[str, list]:
    """``params`` (JSON text) plus one column per parameter, for the sets at ``index``."""
    cols: dict[str, list] = {"params": [params_json(params[i]) for i in index]}
    for name in strategy.param_names:
        cols[name] = [params[i][name] for i in index]
    return cols


@dataclass(frozen=True)
class Stage1Result:
    params: list[dict[str, Any]]  # the evaluated sets; set_index is a position in this list
    scores: pl.DataFrame  # one row per (set, fold, symbol) training window
    rankings: pl.DataFrame  # one row per set, best first
    objective: np.ndarray  # per set (mean window score)
    order: np.ndarray  # set indices, best first
    trial_sharpes: np.ndarray  # per set: mean per-period (non-annualized) Sharpe over its windows
    backend: str
    pruned: np.ndarray | None = None  # per set: dropped after its first folds (early stopping)
    search: SearchSettings | None = None  # how the sets were chosen (None: a grid, before searches)
    trace: SearchTrace | None = None  # a sampler search: batches, proposals, timings
    # the contract stage 2 checks: the data and the strategy version stage 1 scored
    dataset_hash: str = ""
    strategy_version: str = ""
    lookahead: Any = None  # the lookahead gate's scan before this stage 1 (optimize.gate; None: not run)
    seconds: float = math.nan  # wall time of the scoring (the gate not included)
    # PBO's time groups (``pbo_groups``): per set and group, sums of r and r^2 (sets, S, 2) and returns
    # counted (sets, S), every symbol and training window of the set pooled; None: no groups
    group_sums: np.ndarray | None = None
    group_counts: np.ndarray | None = None
    group_edges: np.ndarray | None = None  # S + 1 timestamps: group g holds edges[g] <= ts < edges[g + 1]

    @property
    def n_pruned(self) -> int:
        return 0 if self.pruned is None else int(self.pruned.sum())

    @property
    def n_sets(self) -> int:
        return len(self.params)

    @property
    def ranks(self) -> np.ndarray:
        """1-based stage-1 rank of every set (by set_index)."""
        r = np.empty(self.n_sets, dtype=np.int64)
        r[self.order] = np.arange(1, self.n_sets + 1)
        return r


def symbol_windows(view: DatasetView, plan: FoldPlan, windows: Sequence[Window], symbol: str,
                   min_bars: int) -> list[tuple[Window, int, int]]:
    """(window, first row, end row) of ``symbol`` for each selection window holding enough bars."""
    out = []
    for w in windows:
        check_selection_window(plan, w)
        a, b = view.rows(symbol, w)
        if b - a >= min_bars:
            out.append((w, a, b))
    return out


def symbol_spans(view: DatasetView, plan: FoldPlan, windows: Sequence[Window], min_bars: int,
                 strategy: StrategySpec | None = None) -> Iterator[tuple[str, list[tuple[Window, int, int]], Any]]:
    """(symbol, its windows as in ``symbol_windows``, the span of rows covering them) for every symbol
    with at least one window: what one worker task of either stage gets. A portfolio strategy has one
    unit instead, the universe (label ``PORTFOLIO``), its windows on the clock and a ``PanelSpan``."""
    if strategy is not None and strategy.is_portfolio:
        wins = []
        for w in windows:
            check_selection_window(plan, w)
            if w.stop - w.start >= min_bars:
                wins.append((w, w.start, w.stop))
        if wins:
            lo, hi = min(a for _, a, _ in wins), max(b for _, _, b in wins)
            yield PORTFOLIO, wins, PanelSpan(lo, view.panel.window(lo, hi))
        return
    for sym in view.symbols:
        wins = symbol_windows(view, plan, windows, sym, min_bars)
        if wins:
            lo, hi = min(a for _, a, _ in wins), max(b for _, _, b in wins)
            yield sym, wins, Span.cut(view.series[sym], lo, hi, view.funding.get(sym))


def pbo_groups(view: DatasetView, plan: FoldPlan, splits: int) -> np.ndarray | None:
    """PBO's time groups as S + 1 edge timestamps: the clock span the training windows cover, cut
    into S (``splits``, lowered to the largest even number leaving every group 2 positions) contiguous
    groups of equal length. Dates define the groups, so symbols and overlapping training windows on
    the same dates fall in the same group (their returns are pooled there). None: fewer than 2 groups."""
    wins = plan.train_windows()
    lo, hi = min(w.start for w in wins), max(w.stop for w in wins)
    s = min(int(splits), ((hi - lo) // 2) // 2 * 2)
    if s < 2:
        return None
    pos = lo + (np.arange(s + 1) * (hi - lo)) // s
    clock = view.clock
    edges = clock[np.minimum(pos, clock.shape[0] - 1)].astype(np.int64)
    if hi >= clock.shape[0]:
        edges[-1] = int(clock[-1]) + 1
    return edges


def prefilter(view: DatasetView, strategy: StrategySpec, params: list[dict[str, Any]], plan: FoldPlan,
              config: OptimizeConfig, runner: TaskRunner, backend: str,
              search: SearchSettings | None = None) -> Stage1Result:
    """Score ``params`` (one batch) on the training windows of ``plan`` with the batched ``backend`` kernel."""
    scorer = Stage1Scorer(view, strategy, plan, config, runner, backend)
    scorer.score(params)
    return scorer.result(search)


class Stage1Scorer:
    """Scores batches of parameter sets on every training window (one kernel call per window and
    batch, one task per symbol), keeps every (set, window) score, and ranks them all at the end.

    Early stopping (``config.prune_quantile``): with two folds or more, a batch is scored fold by
    fold; after each fold but the last, a set whose mean window score so far is below that quantile
    of the same figure over every set scored to that fold (this batch and the earlier ones) is
    dropped. A dropped set keeps the scores it got, counts as evaluated, and ranks below every
    complete set.
    """

    def __init__(self, view: DatasetView, strategy: StrategySpec, plan: FoldPlan, config: OptimizeConfig,
                 runner: TaskRunner, backend: str) -> None:
        self.view, self.strategy, self.config, self.runner, self.backend = view, strategy, config, runner, backend
        self.jobs = list(symbol_spans(view, plan, plan.train_windows(), config.min_window_bars, strategy))
        self.edges = pbo_groups(view, plan, config.pbo_splits)
        self._gsums: list[np.ndarray] = []  # per batch: (sets, S, 2)
        self._gcounts: list[np.ndarray] = []  # per batch: (sets, S)
        if not self.jobs:
            raise ConfigError(f"dataset {view.name}: no symbol has min_window_bars={config.min_window_bars} bars "
                              "in any training window; use more data or a smaller min_window_bars")
        self.windows = [(sym, w, a, b) for sym, wins, _ in self.jobs for w, a, b in wins]
        folds = sorted({w.fold for _, w, _, _ in self.windows})
        prune = config.prune_quantile is not None and len(folds) > 1
        self.phases: list[list[int] | None] = [[f] for f in folds] if prune else [None]
        self.params: list[dict[str, Any]] = []
        self._metrics: list[dict[str, np.ndarray]] = []  # per batch: name -> (windows, sets), NaN where not scored
        self._mask: list[np.ndarray] = []  # per batch: (windows, sets) bool, scored
        self._pruned: list[np.ndarray] = []
        self._depth: dict[int, list[np.ndarray]] = {}  # phase -> running scores of every set that reached it

    def score(self, sets: list[dict[str, Any]]) -> BatchScores:
        """Score one batch; returns each set's objective (a pruned set's running score) and pruned flag."""
        n, nw = len(sets), len(self.windows)
        metrics = {name: np.full((nw, n), np.nan) for name in M.METRIC_NAMES}
        mask = np.zeros((nw, n), dtype=bool)
        alive = np.ones(n, dtype=bool)
        pruned = np.zeros(n, dtype=bool)
        total, count = np.zeros(n), np.zeros(n)
        ng = 0 if self.edges is None else len(self.edges) - 1
        gsums, gcounts = np.zeros((n, ng, 2)), np.zeros((n, ng))
        cfg = self.config
        for phase, folds in enumerate(self.phases):
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            sub = [sets[i] for i in idx.tolist()] if idx.size < n else list(sets)
            tasks, rows = [], []
            j = 0
            for sym, wins, span in self.jobs:
                mine = [(k, w, a, b) for k, (w, a, b) in enumerate(wins, start=j) if folds is None or w.fold in folds]
                j += len(wins)
                if mine:
                    tasks.append(PrefilterTask(self.strategy, sub, span, tuple((w.fold, a, b) for _, w, a, b in mine),
                                               cfg.prefilter_costs, self.backend, self.view.ppy, self.edges))
                    rows.append([k for k, _, _, _ in mine])
            for ks, outputs in zip(rows, self.runner.map(run_prefilter, tasks)):
                for k, m in zip(ks, outputs):
                    for name in M.METRIC_NAMES:
                        metrics[name][k, idx] = m[name]
                    mask[k, idx] = True
                    if ng:  # pooled over symbols and windows, in window order (deterministic)
                        gsums[idx] += m["group_sums"]
                        gcounts[idx] += m["group_counts"]
                    sc = window_score(m["sharpe"], m["trade_count"], cfg.min_trades, cfg.trade_penalty)
                    total[idx] += sc
                    count[idx] += 1
            if phase < len(self.phases) - 1:
                reached = idx[count[idx] > 0]
                running = total[reached] / count[reached]
                history = self._depth.setdefault(phase, [])
                history.append(running)
                pool = np.concatenate(history)
                finite = pool[np.isfinite(pool)]
                if finite.size:
                    cut = float(np.quantile(finite, cfg.prune_quantile))
                    drop = reached[~(running >= cut)]
                    alive[drop] = False
                    pruned[drop] = True
        self.params.extend(sets)
        self._metrics.append(metrics)
        self._mask.append(mask)
        self._pruned.append(pruned)
        self._gsums.append(gsums)
        self._gcounts.append(gcounts)
        score = window_score(metrics["sharpe"], metrics["trade_count"], cfg.min_trades, cfg.trade_penalty)
        return BatchScores(_masked_mean(score, mask), pruned)

    def result(self, search: SearchSettings | None = None, trace: SearchTrace | None = None) -> Stage1Result:
        """Every score so far as a ``Stage1Result`` (scores table, rankings, objective, trial Sharpes)."""
        view, strategy, cfg = self.view, self.strategy, self.config
        params = self.params
        n = len(params)
        if n == 0:
            raise ParamError(f"strategy {strategy.name!r}: the search evaluated no parameter set")
        mask = np.concatenate(self._mask, axis=1)
        metrics = {name: np.concatenate([b[name] for b in self._metrics], axis=1) for name in M.METRIC_NAMES}
        pruned = np.concatenate(self._pruned)
        batch = trace.batch if trace is not None else np.zeros(n, dtype=np.int64)
        score = window_score(metrics["sharpe"], metrics["trade_count"], cfg.min_trades, cfg.trade_penalty)
        objective = _masked_mean(score, mask)
        mean_sharpe = _masked_mean(metrics["sharpe"], mask)
        trial_sharpes = mean_sharpe / math.sqrt(view.ppy)
        obj = np.nan_to_num(objective, nan=-np.inf)
        order = np.lexsort((np.arange(n), -obj, pruned))  # complete sets first, best first, ties by index
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(1, n + 1)

        win_idx, set_idx = np.nonzero(mask)  # window-major, sets in order within a window
        m = set_idx.size
        cols: dict[str, Any] = {
            "dataset": [view.name] * m,
            "dataset_hash": [view.content_hash] * m,
            "strategy": [strategy.name] * m,
            "set_index": set_idx,
        }
        base = param_columns(strategy, params, range(n))
        for k, v in base.items():
            arr = np.empty(n, dtype=object)
            arr[:] = v
            cols[k] = arr[set_idx].tolist()
        meta = self.windows
        cols["fold"] = np.array([w.fold for _, w, _, _ in meta], dtype=np.int64)[win_idx]
        cols["symbol"] = np.array([s for s, _, _, _ in meta], dtype=object)[win_idx].tolist()
        cols["window"] = np.array([w.kind for _, w, _, _ in meta], dtype=object)[win_idx].tolist()
        cols["start_ts"] = np.array([int(view.unit_ts(s)[a]) for s, _, a, _ in meta], dtype=np.int64)[win_idx]
        cols["end_ts"] = np.array([int(view.unit_ts(s)[b - 1]) for s, _, _, b in meta], dtype=np.int64)[win_idx]
        cols["n_bars"] = np.array([b - a for _, _, a, b in meta], dtype=np.int64)[win_idx]
        for name in M.METRIC_NAMES:
            cols[name] = metrics[name][win_idx, set_idx]
        cols["score"] = score[win_idx, set_idx]
        scores = pl.DataFrame(cols)

        rk: dict[str, Any] = {"dataset": [view.name] * n, "strategy": [strategy.name] * n,
                              "set_index": order, "rank": rank[order]}
        for k, v in param_columns(strategy, params, order.tolist()).items():
            rk[k] = v
        rk["objective"] = objective[order]
        rk["mean_sharpe"] = mean_sharpe[order]
        rk["mean_trades"] = _masked_mean(metrics["trade_count"], mask)[order]
        rk["n_windows"] = mask.sum(axis=0)[order]
        rk["pruned"] = pruned[order]
        rk["batch"] = batch[order]
        grouped = self.edges is not None
        return Stage1Result(params, scores, pl.DataFrame(rk), objective, order, trial_sharpes, self.backend,
                            pruned, search, trace,
                            group_sums=np.concatenate(self._gsums) if grouped else None,
                            group_counts=np.concatenate(self._gcounts) if grouped else None,
                            group_edges=self.edges)


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per set (column), the mean over the windows it was scored on, summed in window order."""
    total = np.where(mask, values, 0.0).sum(axis=0)
    count = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
