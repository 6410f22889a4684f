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
from lq_engine.optimize.config import OptimizeConfig
from lq_engine.optimize.folds import FoldPlan, Window, check_selection_window
from lq_engine.optimize.inputs import PORTFOLIO, DatasetView
from lq_engine.optimize.objectives import rank_order, window_score
from lq_engine.optimize.pool import TaskRunner
from lq_engine.optimize.tasks import PanelSpan, PrefilterTask, Span, run_prefilter
from lq_engine.strategies.params import sample_grid
from lq_engine.strategies.spec import StrategySpec


def parameter_grid(strategy: StrategySpec, config: OptimizeConfig) -> list[dict[str, Any]]:
    """The sets stage 1 scores: the strategy's grid (its declared default, replaced per parameter by
    the project's ``[strategies.NAME.grid]``), or a seeded sample of it."""
    axes = strategy.schema.default_grid
    if config.sample_size is not None:
        sets = sample_grid(strategy.schema, axes, config.sample_size, config.seed)
    else:
        sets = strategy.grid(axes).rows()
    if not sets:
        raise ValueError(f"strategy {strategy.name!r}: the grid has no parameter set satisfying its constraints")
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
    # the contract stage 2 checks: the data and the strategy version stage 1 scored
    dataset_hash: str = ""
    strategy_version: str = ""

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
            yield sym, wins, Span.cut(view.series[sym], lo, hi)


def prefilter(view: DatasetView, strategy: StrategySpec, params: list[dict[str, Any]], plan: FoldPlan,
              config: OptimizeConfig, runner: TaskRunner, backend: str) -> Stage1Result:
    """Score ``params`` on the training windows of ``plan`` with the batched ``backend`` kernel."""
    costs = config.prefilter_costs
    jobs, tasks = [], []
    for sym, wins, span in symbol_spans(view, plan, plan.train_windows(), config.min_window_bars, strategy):
        tasks.append(PrefilterTask(strategy, params, span, tuple((w.fold, a, b) for w, a, b in wins), costs,
                                   backend, view.ppy))
        jobs.append((sym, wins))
    if not tasks:
        raise ValueError(f"dataset {view.name}: no symbol has {config.min_window_bars} bars in any training window")
    outputs = runner.map(run_prefilter, tasks)

    n = len(params)
    blocks: list[dict[str, np.ndarray]] = []
    meta: list[tuple[str, Window, int, int]] = []
    for (sym, wins), metrics_list in zip(jobs, outputs):
        for (w, a, b), metrics in zip(wins, metrics_list):
            blocks.append(metrics)
            meta.append((sym, w, a, b))
    score = np.stack([window_score(m["sharpe"], m["trade_count"], config.min_trades, config.trade_penalty)
                      for m in blocks])  # (windows, sets)
    sharpe = np.stack([m["sharpe"] for m in blocks])
    objective = score.mean(axis=0)
    trial_sharpes = sharpe.mean(axis=0) / math.sqrt(view.ppy)
    order = rank_order(objective)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)

    idx = np.tile(np.arange(n), len(blocks))
    cols: dict[str, Any] = {
        "dataset": [view.name] * idx.size,
        "dataset_hash": [view.content_hash] * idx.size,
        "strategy": [strategy.name] * idx.size,
        "set_index": idx,
    }
    base = param_columns(strategy, params, range(n))
    for k, v in base.items():
        cols[k] = v * len(blocks)
    cols["fold"] = np.repeat([w.fold for _, w, _, _ in meta], n)
    cols["symbol"] = np.repeat([s for s, _, _, _ in meta], n)
    cols["window"] = np.repeat([w.kind for _, w, _, _ in meta], n)
    cols["start_ts"] = np.repeat([int(view.unit_ts(s)[a]) for s, _, a, _ in meta], n)
    cols["end_ts"] = np.repeat([int(view.unit_ts(s)[b - 1]) for s, _, _, b in meta], n)
    cols["n_bars"] = np.repeat([b - a for _, _, a, b in meta], n)
    for name in M.METRIC_NAMES:
        cols[name] = np.concatenate([m[name] for m in blocks])
    cols["score"] = score.reshape(-1)
    scores = pl.DataFrame(cols)

    rk: dict[str, Any] = {"dataset": [view.name] * n, "strategy": [strategy.name] * n,
                          "set_index": order, "rank": rank[order]}
    for k, v in param_columns(strategy, params, order.tolist()).items():
        rk[k] = v
    rk["objective"] = objective[order]
    rk["mean_sharpe"] = sharpe.mean(axis=0)[order]
    rk["mean_trades"] = np.stack([m["trade_count"] for m in blocks]).mean(axis=0)[order]
    rk["n_windows"] = np.full(n, len(blocks))
    return Stage1Result(params, scores, pl.DataFrame(rk), objective, order, trial_sharpes, backend)
