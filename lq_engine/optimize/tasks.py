"""Worker-side units of work: one symbol each, pure functions of their inputs (no polars here).

A task carries the symbol's arrays over the span its windows cover and row ranges relative to
that span. The same function runs in-process (1 worker) or in a spawned process (2+ workers), so
results cannot depend on the worker count. Each window is evaluated standalone: indicators warm
up inside the window and the account starts flat with fresh cash, in both stages alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lq_engine.data.funding_rates import FundingRates
from lq_engine.data.guards import freeze
from lq_engine.execution.config import ExecutionConfig
from lq_engine.kernels.groups import group_counts
from lq_engine.prefilter.evaluate import Costs, evaluate_grid, evaluate_panel
from lq_engine.replay.engine import replay
from lq_engine.replay.portfolio import replay_portfolio
from lq_engine.execution.sizing import BracketSpec
from lq_engine.data.bars import FIELDS as BAR_FIELDS, Bars
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.spec import StrategySpec

SPAN_FIELDS = ("ts", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class PanelSpan:
    """The universe's panel over clock rows [first, first + len): a portfolio strategy's unit of work."""

    first: int
    panel: Panel

    def window(self, a: int, b: int) -> Panel:
        return self.panel.window(a - self.first, b - self.first)


@dataclass(frozen=True)
class Span:
    """One symbol's frozen arrays over rows [first, first + len) of its series."""

    symbol: str
    first: int
    arrays: dict[str, np.ndarray]
    funding: FundingRates | None = None  # a perpetual's funding events (each window maps them on its bars)

    @classmethod
    def cut(cls, series: Any, a: int, b: int, funding: FundingRates | None = None) -> Span:
        return cls(series.symbol, a, {f: np.asarray(getattr(series, f)[a:b]) for f in SPAN_FIELDS}, funding)

    def series(self, a: int, b: int) -> Bars:
        """Rows [a, b) of the symbol (absolute row numbers) as checked frozen ``Bars``."""
        lo, hi = a - self.first, b - self.first
        return Bars.checked(*(freeze(self.arrays[f][lo:hi]) for f in BAR_FIELDS), symbol=self.symbol)

    def bars(self, a: int, b: int) -> Bars:
        lo, hi = a - self.first, b - self.first
        return Bars(*(freeze(self.arrays[f][lo:hi]) for f in BAR_FIELDS))


@dataclass(frozen=True)
class PrefilterTask:
    strategy: StrategySpec  # pickles as a reference: the worker loads the same source again
    params: list[dict[str, Any]]
    span: Span | PanelSpan
    windows: tuple[tuple[int, int, int], ...]  # (fold, first row, end row), absolute rows
    costs: Costs
    backend: str
    ppy: float
    group_edges: np.ndarray | None = None  # PBO's time groups: S + 1 edge timestamps (``prefilter.pbo_groups``)


def local_groups(ts: np.ndarray, edges: np.ndarray) -> tuple[int, np.ndarray]:
    """(first global group, local ends) of a window with timestamps ``ts`` cut by the global time
    groups ``edges`` (group g holds edges[g] <= ts < edges[g + 1]; outside bars join the nearest)."""
    s = len(edges) - 1
    g0 = min(max(int(np.searchsorted(edges, ts[0], side="right")) - 1, 0), s - 1)
    g1 = min(max(int(np.searchsorted(edges, ts[-1], side="right")) - 1, 0), s - 1)
    ends = np.searchsorted(ts, edges[g0 + 1:g1 + 2], side="left").astype(np.int64)
    ends[-1] = ts.shape[0]
    return g0, ends


def run_prefilter(task: PrefilterTask) -> list[dict[str, np.ndarray]]:
    """Metrics of every parameter set on each training window (in the task's window order); with
    ``group_edges``, also ``group_sums`` (sets, S, 2: sums of r and r^2 per global time group) and
    ``group_counts`` (S: returns per group) of the window."""
    out = []
    for _, a, b in task.windows:
        panel = isinstance(task.span, PanelSpan)
        data = task.span.window(a, b) if panel else task.span.bars(a, b)
        ends, g0 = None, 0
        if task.group_edges is not None:
            g0, ends = local_groups(np.asarray(data.ts), task.group_edges)
        if panel:
            res = evaluate_panel(data, task.strategy, task.params, task.costs, task.ppy, ends=ends)
        else:
            res = evaluate_grid(data, task.strategy, task.params, task.costs, task.backend, task.ppy, ends,
                                funding=task.span.funding)
        m = dict(res.metrics)
        if ends is not None:
            s = len(task.group_edges) - 1
            sums, counts = np.zeros((len(task.params), s, 2)), np.zeros(s)
            sums[:, g0:g0 + len(ends)] = res.group_sums
            counts[g0:g0 + len(ends)] = group_counts(ends)
            m["group_sums"], m["group_counts"] = sums, counts
        out.append(m)
    return out


@dataclass(frozen=True)
class ReplayTask:
    strategy: StrategySpec
    candidates: list[dict[str, Any]]
    span: Span | PanelSpan
    windows: tuple[tuple[str, int, int, int], ...]  # (kind, fold, first row, end row)
    execution: ExecutionConfig
    brackets: BracketSpec  # exit legs of every entry (stage 1 has no counterpart)
    initial_cash: float
    ppy: float
    block_bars: int  # validation returns are compounded into blocks of this many bars (PBO)
    keep_detail: bool = False  # return the full ReplayResult (trades, equity) of every replay


@dataclass(frozen=True)
class ReplayOutput:
    metrics: list[list[dict[str, float]]]  # [candidate][window]
    fills: list[list[int]]
    blocks: list[list[np.ndarray]]  # [candidate][validation window] compounded block returns
    detail: list[list[Any]] | None  # ReplayResult, or PortfolioReplayResult for a portfolio strategy


def block_returns(equity: np.ndarray, block_bars: int) -> np.ndarray:
    """Per-bar returns of ``equity`` compounded over consecutive blocks (the last may be shorter)."""
    r = equity[1:] / equity[:-1]
    if r.size == 0:
        return np.zeros(0)
    starts = np.arange(0, r.size, block_bars)
    return np.multiply.reduceat(r, starts) - 1.0


def run_replays(task: ReplayTask) -> ReplayOutput:
    metrics, fills, blocks, detail = [], [], [], []
    panel = isinstance(task.span, PanelSpan)
    # each window cut once (a panel's window is a copy), shared by every candidate
    data = [task.span.window(a, b) if panel else task.span.series(a, b) for _, _, a, b in task.windows]
    for params in task.candidates:
        m_row, f_row, b_row, d_row = [], [], [], []
        for (kind, _, _, _), bars in zip(task.windows, data):
            if panel:
                res = replay_portfolio(task.strategy, params, bars, task.execution,
                                       initial_cash=task.initial_cash, periods_per_year=task.ppy)
            else:
                res = replay(task.strategy, params, bars, task.execution, brackets=task.brackets,
                             initial_cash=task.initial_cash, periods_per_year=task.ppy, funding=task.span.funding)
            m_row.append(res.metrics)
            f_row.append(len(res.fills))
            if kind == "validation":
                b_row.append(block_returns(res.equity, task.block_bars))
            if task.keep_detail:
                d_row.append(res)
        metrics.append(m_row)
        fills.append(f_row)
        blocks.append(b_row)
        detail.append(d_row)
    return ReplayOutput(metrics, fills, blocks, detail if task.keep_detail else None)
