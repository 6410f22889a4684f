"""The lookahead gate of every optimization (DESIGN.md "Trust"; docs/explanations/verdicts.md).

Before stage 1 scores anything, the strategy's decisions are checked for lookahead
(``replay.lookahead.lookahead_scan``: truncation at several cuts, each bar field scaled or shuffled
after the cut) on the data stage 1 will see: each symbol's bars over the selection span (the train
and validation windows, never the holdout), or the universe's panel for a portfolio strategy. The
sets checked are ``gate_sets`` (every Choice and Bool value, the range extremes, the longest
warm-up, a seeded sample) plus, for a grid search, the grid's own extremes and every Choice and Bool
value it holds (a project's ``[strategies.NAME.grid]`` may reach further than the declared grid).
For a single-symbol strategy every set runs on every symbol (the scan batches the sets and shares
its cuts between the series: measured on us_stocks_daily, ma_cross's 19 sets on the four symbols
took 0.85-0.9 s, on the longest symbol alone 0.65-0.95 s). Segments reach ``GATE_MAX_BARS`` bars
before a cut (more when a warm-up is longer). After selection the winner's exact parameters are checked
again, with other cuts (seed + 1): a sampler may have found values no gate set had.

A failure does NOT stop the optimization: stage 1 and stage 2 still run, so the user sees what the
cheat would have claimed, and the result carries the verdict "lookahead: the decision at bar N
changed when later bars changed (params ...)" everywhere it is shown (``verdicts``), first, and
sorts after every clean result in the leaderboard. Stopping would hide the evidence (how good the
cheat looks is the measure of the harm) and would make the strategy's author rerun everything after
a fix anyway; a gate that only marks costs nothing extra, since the gate runs first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from lq_engine.authoring.params import ParamError
from lq_engine.optimize.config import OptimizeConfig
from lq_engine.optimize.folds import FoldPlan
from lq_engine.optimize.inputs import DatasetView
from lq_engine.optimize.prefilter import symbol_spans
from lq_engine.replay.lookahead import LookaheadScan, gate_sets, lookahead_scan
from lq_engine.strategies.spec import StrategySpec

GATE_CUTS = 4  # cut points per series (plus one after a decision change per set: lookahead_scan)
GATE_MAX_BARS = 1_000  # bars before a cut in a segment (lookahead_scan's max_bars; a longer warm-up adds)
NOT_CHECKED = "lookahead not checked (a result made before the lookahead gate)"


@dataclass(frozen=True)
class LookaheadGate:
    """What the gate found: the scan before stage 1 and the re-check of the winner."""

    before: LookaheadScan  # the gate's sets on the selection data, before stage 1
    winner: LookaheadScan | None = None  # the winner's exact parameters, after selection

    @property
    def scans(self) -> tuple[LookaheadScan, ...]:
        return (self.before,) + ((self.winner,) if self.winner is not None else ())

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.scans)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.scans)

    @property
    def runs(self) -> int:
        return sum(s.runs for s in self.scans)

    @property
    def n_sets(self) -> int:
        return sum(s.n_sets for s in self.scans)

    def message(self) -> str:
        """The verdict ("" when clean): the winner's own failure first, else the gate's, saying
        whether the winner's parameters passed their re-check."""
        if self.winner is not None and not self.winner.ok:
            return self.winner.message() + " [the winner's parameters]"
        if self.before.ok:
            return ""
        tail = ("; the winner's own parameters passed their re-check, but the strategy's code reads later bars"
                if self.winner is not None else "")
        return self.before.message() + tail

    def text(self) -> str:
        """One line for a person: the outcome and the cost."""
        head = "clean" if self.ok else "FAILED"
        return (f"lookahead gate {head}: {self.n_sets} parameter sets, {self.runs} decision runs, "
                f"{self.seconds:.2f} s" + ("" if self.ok else f"; {self.message()}"))


def gate_data(view: DatasetView, plan: FoldPlan, strategy: StrategySpec, config: OptimizeConfig) -> Any:
    """The bars stage 1 sees: each symbol's Bars over the span its selection windows cover
    (a list), or the universe's Panel over that span for a portfolio strategy (None: no window)."""
    units = list(symbol_spans(view, plan, plan.selection_windows(), config.min_window_bars, strategy))
    if strategy.is_portfolio:
        return units[0][2].panel if units else None
    out = [span.series(span.first, span.first + int(span.arrays["ts"].shape[0])) for _, _, span in units]
    return out or None


def _key(p: dict[str, Any]) -> str:
    return json.dumps(p, sort_keys=True, default=str)


def grid_probes(strategy: StrategySpec, sets: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """From the sets stage 1 will score: for each numeric parameter the first set at its lowest and
    the first at its highest value; for each Choice and Bool one set per value it takes."""
    out: dict[str, dict[str, Any]] = {}
    if not sets:
        return []
    for prm in strategy.schema.params:
        name = prm.name
        if prm.kind in ("choice", "bool"):
            seen: dict[str, dict[str, Any]] = {}
            for p in sets:
                seen.setdefault(_key({"v": p[name]}), p)
            picks = list(seen.values())
        else:
            picks = [min(sets, key=lambda p: p[name]), max(sets, key=lambda p: p[name])]
        for p in picks:
            out.setdefault(_key(p), dict(p))
    return list(out.values())


def gate_param_sets(strategy: StrategySpec, config: OptimizeConfig,
                    grid: Sequence[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``gate_sets`` plus the grid's probes (``grid_probes``), each set once, in that order.

    A strategy with no default grid (continuous parameters searched by a sampler only) has no grid
    sets to choose from: its defaults (if it declares them all) are checked before stage 1, and the
    winner after selection."""
    try:
        chosen = gate_sets(strategy, config.seed)
    except ParamError:
        try:
            chosen = [strategy.default_params()]
        except ParamError:  # no defaults either: the winner's re-check is the gate
            chosen = []
    out: dict[str, dict[str, Any]] = {}
    for p in [*chosen, *grid_probes(strategy, grid or [])]:
        out.setdefault(_key(p), dict(p))
    return list(out.values())


def _scan(strategy: StrategySpec, sets: list[dict[str, Any]], data: Any, seed: int) -> LookaheadScan:
    if data is None or not sets:
        return LookaheadScan(strategy.name, len(sets), 0, 0.0, ())
    return lookahead_scan(strategy, sets, data, cuts=GATE_CUTS, seed=seed, max_bars=GATE_MAX_BARS)



def scan_before_stage1(view: DatasetView, plan: FoldPlan, strategy: StrategySpec, config: OptimizeConfig,
                       grid: Sequence[dict[str, Any]] | None = None) -> LookaheadScan:
    """The gate before stage 1: ``gate_param_sets`` on ``gate_data`` (every symbol's series, or the
    universe's panel for a portfolio strategy)."""
    return _scan(strategy, gate_param_sets(strategy, config, grid), gate_data(view, plan, strategy, config),
                 config.seed)


def recheck_winner(view: DatasetView, plan: FoldPlan, strategy: StrategySpec, params: dict[str, Any],
                   config: OptimizeConfig) -> LookaheadScan:
    """The winner's exact parameters on the same data, every symbol, with other cuts and shuffles
    (seed + 1)."""
    return _scan(strategy, [dict(params)], gate_data(view, plan, strategy, config), config.seed + 1)
