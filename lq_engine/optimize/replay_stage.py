"""Stage 2: replay candidates with the full execution model on train and validation windows,
pick the winner by the robust objective, then (elsewhere, once) score it on the holdout.

``replay_candidates`` and ``winner_detail`` see only ``FoldPlan.selection_windows()`` (guarded by
``check_selection_window``); ``score_holdout`` is the one function that reads the holdout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import polars as pl

from lq_engine.kernels import metrics as M
from lq_engine.optimize.config import OptimizeConfig
from lq_engine.optimize.folds import HOLDOUT, TRAIN, VALIDATION, FoldPlan, Window
from lq_engine.optimize.inputs import PORTFOLIO, DatasetView
from lq_engine.optimize.objectives import rank_order, robust_objective, window_score
from lq_engine.optimize.pool import TaskRunner
from lq_engine.optimize.prefilter import Stage1Result, param_columns, symbol_spans
from lq_engine.optimize.tasks import PanelSpan, ReplayOutput, ReplayTask, Span, run_replays
from lq_engine.replay.kernel import REASONS
from lq_engine.replay.round_trips import round_trips, trips_frame
from lq_engine.strategies.spec import StrategySpec


@dataclass(frozen=True)
class ReplayBatch:
    set_indices: list[int]  # stage-1 order within the batch
    role: str  # "top_k" | "audit"
    table: pl.DataFrame  # one row per (candidate, fold, symbol, window)
    train_objective: np.ndarray  # stage-1 formula on the replayed training windows
    validation_objective: np.ndarray  # robust objective on the validation windows
    validation_median_sharpe: np.ndarray
    val_returns: np.ndarray  # (periods, candidates) compounded validation returns (PBO input)
    n_replays: int


@dataclass(frozen=True)
class EquitySegment:
    symbol: str
    kind: str  # train | validation | holdout
    fold: int
    ts: np.ndarray
    equity: np.ndarray
    exposure: np.ndarray | None = None  # held at each close: the target exposure, or a portfolio's gross weight


def pbo_block_bars(view: DatasetView, plan: FoldPlan, config: OptimizeConfig,
                   strategy: StrategySpec | None = None) -> int:
    """Bars per PBO period so that all validation returns fit in ``pbo_max_periods`` rows (about)."""
    total = 0
    for _, wins, _ in symbol_spans(view, plan, plan.validation_windows(), config.min_window_bars, strategy):
        total += sum(b - a - 1 for _, a, b in wins)
    return max(1, math.ceil(total / config.pbo_max_periods))


def _tasks(view: DatasetView, strategy: StrategySpec, candidates: list[dict[str, Any]], plan: FoldPlan,
           config: OptimizeConfig, block_bars: int, keep_detail: bool):
    jobs, tasks = [], []
    for sym, wins, span in symbol_spans(view, plan, plan.selection_windows(), config.min_window_bars, strategy):
        tasks.append(ReplayTask(strategy, candidates, span,
                                tuple((w.kind, w.fold, a, b) for w, a, b in wins), config.execution,
                                config.brackets, config.initial_cash, view.ppy, block_bars, keep_detail))
        jobs.append((sym, wins))
    return jobs, tasks


def replay_candidates(view: DatasetView, strategy: StrategySpec, stage1: Stage1Result, set_indices: Sequence[int],
                      role: str, plan: FoldPlan, config: OptimizeConfig, runner: TaskRunner,
                      block_bars: int) -> ReplayBatch:
    """Replay the sets at ``set_indices`` (given in stage-1 order) on every selection window."""
    idx = [int(i) for i in set_indices]
    cands = [stage1.params[i] for i in idx]
    jobs, tasks = _tasks(view, strategy, cands, plan, config, block_bars, keep_detail=False)
    outputs: list[ReplayOutput] = runner.map(run_replays, tasks) if idx else []
    rows: dict[str, list] = {k: [] for k in ("ci", "fold", "symbol", "window", "start_ts", "end_ts", "n_bars", "fills")}
    mets: dict[str, list] = {k: [] for k in M.METRIC_NAMES}
    train_s: list[list[float]] = [[] for _ in idx]
    val_s: list[list[float]] = [[] for _ in idx]
    val_sh: list[list[float]] = [[] for _ in idx]
    blocks: list[list[np.ndarray]] = [[] for _ in idx]
    for (sym, wins), out in zip(jobs, outputs):
        ts = view.unit_ts(sym)
        for ci in range(len(idx)):
            blocks[ci].extend(out.blocks[ci])
            for (w, a, b), m, nf in zip(wins, out.metrics[ci], out.fills[ci]):
                for k, v in (("ci", ci), ("fold", w.fold), ("symbol", sym), ("window", w.kind),
                             ("start_ts", int(ts[a])), ("end_ts", int(ts[b - 1])), ("n_bars", b - a), ("fills", nf)):
                    rows[k].append(v)
                for k in M.METRIC_NAMES:
                    mets[k].append(float(m[k]))
                s = float(window_score(np.array([m["sharpe"]]), np.array([m["trade_count"]]),
                                       config.min_trades, config.trade_penalty)[0])
                (train_s if w.kind == TRAIN else val_s)[ci].append(s)
                if w.kind == VALIDATION:
                    val_sh[ci].append(float(m["sharpe"]))
    ci = rows.pop("ci")
    sets = [idx[c] for c in ci]
    table = pl.DataFrame({
        "dataset": [view.name] * len(ci), "dataset_hash": [view.content_hash] * len(ci),
        "strategy": [strategy.name] * len(ci), "set_index": sets, "role": [role] * len(ci),
        "stage1_rank": stage1.ranks[sets].tolist() if ci else [],
        **param_columns(strategy, stage1.params, sets), **rows, **mets,
        "score": _scores(mets, config),
    }, strict=False)
    n_val = len(blocks[0]) if blocks else 0
    val_returns = (np.column_stack([np.concatenate(b) if b else np.zeros(0) for b in blocks])
                   if idx and n_val else np.zeros((0, len(idx))))
    return ReplayBatch(
        idx, role, table,
        np.array([np.mean(s) if s else -np.inf for s in train_s]),
        np.array([robust_objective(np.array(s), config.dispersion_penalty) for s in val_s]),
        np.array([float(np.median(s)) if s else float("nan") for s in val_sh]),
        val_returns, len(ci))


def _scores(mets: dict[str, list], config: OptimizeConfig) -> list[float]:
    if not mets["sharpe"]:
        return []
    return window_score(np.array(mets["sharpe"]), np.array(mets["trade_count"]), config.min_trades,
                        config.trade_penalty).tolist()


def choose_winner(top: ReplayBatch) -> int:
    """Position in ``top`` of the best robust validation objective (ties: better stage-1 rank)."""
    if not top.set_indices:
        raise ValueError("stage 2: no candidate to choose from")
    return int(rank_order(top.validation_objective)[0])


@dataclass(frozen=True)
class Detail:
    """Full replays (trades, equity) of one parameter set."""

    table: pl.DataFrame  # metrics per (fold, symbol, window)
    trades: pl.DataFrame
    segments: list[EquitySegment]
    n_replays: int
    weights: pl.DataFrame | None = None  # portfolio strategies: weight held per (window, symbol) at each change
    contributions: pl.DataFrame | None = None  # portfolio strategies: PnL share per (window, symbol)
    round_trips: pl.DataFrame | None = None  # the trades as round trips (``replay.round_trips``)


def _detail(
    view: DatasetView, strategy: StrategySpec, params: dict[str, Any], jobs, outputs: list[ReplayOutput],
) -> Detail:
    rows: dict[str, list] = {k: [] for k in ("fold", "symbol", "window", "start_ts", "end_ts", "n_bars", "fills",
                                             *M.METRIC_NAMES)}
    trades: dict[str, list] = {k: [] for k in ("symbol", "fold", "window", "ts", "bar", "side", "quantity", "price",
                                               "fee", "reason", "position", "cash")}
    segments = []
    weights: dict[str, list] = {k: [] for k in ("fold", "window", "ts", "symbol", "weight")}
    contrib: dict[str, list] = {k: [] for k in ("fold", "window", "symbol", "contribution")}
    trips: list[dict] = []
    for (sym, wins), out in zip(jobs, outputs):
        for (w, a, b), res in zip(wins, out.detail[0]):
            ts = view.unit_ts(sym)[a:b]
            portfolio = hasattr(res, "exposure") and getattr(res.exposure, "ndim", 1) == 2
            if portfolio:  # weights held, as change points (the first bar, then each bar a weight changes)
                x = res.exposure
                change = np.vstack([np.ones((1, x.shape[1]), dtype=bool), x[1:] != x[:-1]])
                bars_, syms = np.nonzero(change)
                weights["fold"] += [w.fold] * bars_.size
                weights["window"] += [w.kind] * bars_.size
                weights["ts"] += np.asarray(ts)[bars_].tolist()
                weights["symbol"] += [res.symbols[k] for k in syms]
                weights["weight"] += x[bars_, syms].tolist()
                for s_name, v in res.contributions().items():
                    for k, x in (("fold", w.fold), ("window", w.kind), ("symbol", s_name), ("contribution", v)):
                        contrib[k].append(x)
            held = res.exposure if res.exposure is None or res.exposure.ndim == 1 else np.abs(res.exposure).sum(axis=1)
            segments.append(EquitySegment(sym, w.kind, w.fold, np.asarray(ts), res.equity, held))
            trips += _round_trips(view, sym, w, a, b, res, portfolio)
            for k, v in (("fold", w.fold), ("symbol", sym), ("window", w.kind), ("start_ts", int(ts[0])),
                         ("end_ts", int(ts[-1])), ("n_bars", b - a), ("fills", len(res.fills))):
                rows[k].append(v)
            for k in M.METRIC_NAMES:
                rows[k].append(float(res.metrics[k]))
            f = res.fills
            nf = len(f)
            trades["symbol"] += [res.symbols[int(k)] for k in f.symbol] if portfolio else [sym] * nf
            trades["fold"] += [w.fold] * nf
            trades["window"] += [w.kind] * nf
            trades["ts"] += f.ts.tolist()
            trades["bar"] += f.bar.tolist()
            trades["side"] += f.side.astype(np.int64).tolist()
            trades["quantity"] += f.quantity.tolist()
            trades["price"] += f.price.tolist()
            trades["fee"] += f.fee.tolist()
            trades["reason"] += [_reason(int(r)) for r in f.reason]
            trades["position"] += f.position.tolist()
            trades["cash"] += f.cash.tolist()
    n = len(rows["fold"])
    head = {"dataset": [view.name] * n, "strategy": [strategy.name] * n}
    table = pl.DataFrame({**head, **rows}, strict=False)
    nt = len(trades["ts"])
    tr = pl.DataFrame({"dataset": [view.name] * nt, "strategy": [strategy.name] * nt, **trades},
                      schema_overrides={"ts": pl.Int64, "bar": pl.Int64, "side": pl.Int64, "fold": pl.Int64,
                                        "quantity": pl.Float64, "price": pl.Float64, "fee": pl.Float64,
                                        "position": pl.Float64, "cash": pl.Float64, "symbol": pl.String,
                                        "window": pl.String, "reason": pl.String},
                      strict=False)
    head_t = {"dataset": pl.String, "strategy": pl.String, "fold": pl.Int64, "window": pl.String}
    rt = trips_frame([{"dataset": view.name, "strategy": strategy.name, **t} for t in trips], head_t)
    if not weights["ts"]:
        return Detail(table, tr, segments, n, round_trips=rt)
    head_w = {"dataset": [view.name] * len(weights["ts"]), "strategy": [strategy.name] * len(weights["ts"])}
    head_c = {"dataset": [view.name] * len(contrib["symbol"]), "strategy": [strategy.name] * len(contrib["symbol"])}
    return Detail(table, tr, segments, n, pl.DataFrame({**head_w, **weights}), pl.DataFrame({**head_c, **contrib}),
                  rt)


def _round_trips(view: DatasetView, sym: str, w: Any, a: int, b: int, res: Any, portfolio: bool) -> list[dict]:
    """The round trips of one window's replay (trips still open marked at the window's last close)."""
    f = res.fills
    last = len(res.equity) - 1
    ts = view.unit_ts(sym)[a:b]
    if portfolio:
        names = [res.symbols[int(k)] for k in f.symbol]
        marks = {s: (int(ts[-1]), last, float(res.last_close[k])) for k, s in enumerate(res.symbols)}
    else:
        names = [sym] * len(f)
        marks = {sym: (int(ts[-1]), last, float(view.series[sym].close[b - 1]))}
    funding = getattr(res, "funding", None)  # a perpetual's funding paid per bar
    return round_trips(names, f.ts, f.bar, f.side, f.quantity, f.price, f.fee, [_reason(int(r)) for r in f.reason],
                       marks, {"fold": w.fold, "window": w.kind},
                       funding={sym: funding} if funding is not None and not portfolio else None)


def _reason(code: int) -> str:
    return REASONS[code]


def winner_detail(view: DatasetView, strategy: StrategySpec, params: dict[str, Any], plan: FoldPlan,
                  config: OptimizeConfig, runner: TaskRunner) -> Detail:
    """The winner's trades and equity on every selection window (same replays as stage 2)."""
    jobs, tasks = _tasks(view, strategy, [params], plan, config, block_bars=1, keep_detail=True)
    return _detail(view, strategy, params, jobs, runner.map(run_replays, tasks))


def score_holdout(view: DatasetView, strategy: StrategySpec, params: dict[str, Any], plan: FoldPlan,
                  config: OptimizeConfig, runner: TaskRunner) -> Detail:
    """The only reader of the holdout: the winner, once per symbol, after selection is final."""
    jobs, tasks = [], []
    hold: Window = plan.holdout
    if strategy.is_portfolio:
        a, b = hold.start, hold.stop
        if b - a >= config.min_window_bars:
            tasks.append(ReplayTask(strategy, [params], PanelSpan(a, view.panel.window(a, b)), ((HOLDOUT, -1, a, b),),
                                    config.execution, config.brackets, config.initial_cash, view.ppy, 1, True))
            jobs.append((PORTFOLIO, [(hold, a, b)]))
        return _detail(view, strategy, params, jobs, runner.map(run_replays, tasks))
    for sym in view.symbols:
        a, b = view.rows(sym, hold)
        if b - a < config.min_window_bars:
            continue
        tasks.append(ReplayTask(strategy, [params], Span.cut(view.series[sym], a, b, view.funding.get(sym)),
                                ((HOLDOUT, -1, a, b),),
                                config.execution, config.brackets, config.initial_cash, view.ppy, 1, True))
        jobs.append((sym, [(hold, a, b)]))
    return _detail(view, strategy, params, jobs, runner.map(run_replays, tasks))
