"""Lookahead check: a decision at bar i may depend on bars 0..i only.

The strategy runs on the full series, then at each cut point on (a) the truncation
``series.head(cut)`` and (b) the same series with another future: every price from the cut on
scaled up, then down (``ALTERNATIVE_FUTURES``). Every target decided before the cut (bars
0..cut-1) and, for (a), every order the replay sends before the cut must be the same. A difference
means the strategy (or an indicator) peeked at later bars; the report names the first bar whose
decision changed. (b) catches a ``decide`` that reads ``close[i + 1]``: with the arrays cut short
that read would land outside them, with another future it sees a different price.

A custom decision source (``decisions``: series -> target per bar, e.g. a new indicator or rule not
yet registered) goes through the same machinery: its targets are compared cut by cut and executed by
the event engine, whose fills are compared too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lq_engine.execution.config import ExecutionConfig
from lq_engine.replay.engine import Series, replay


ALTERNATIVE_FUTURES = (1.5, 0.5)  # price factors applied from the cut on


@dataclass(frozen=True)
class CutResult:
    cut: int
    first_target_diff: int | None  # first bar < cut whose target differs, None if none
    first_fill_diff: int | None  # first fill (before the cut) that differs, None if none
    future: float | None = None  # the alternative future (price factor) that changed it; None: truncation

    @property
    def ok(self) -> bool:
        return self.first_target_diff is None and self.first_fill_diff is None


@dataclass(frozen=True)
class LookaheadReport:
    strategy: str
    params: dict[str, Any]
    n_bars: int
    cuts: list[CutResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.cuts)

    @property
    def first_bad_bar(self) -> int | None:
        """The earliest bar whose decision changed when later bars were removed or changed."""
        bars = [c.first_target_diff for c in self.cuts if c.first_target_diff is not None]
        return min(bars) if bars else None

    def summary(self) -> str:
        head = f"lookahead check {self.strategy} {self.params} over {self.n_bars} bars, {len(self.cuts)} runs: "
        if self.ok:
            return head + "OK (no decision or fill before a cut changes when later bars are removed)"
        first = self.first_bad_bar
        lines = [head + "FAILED" + (f": the decision at bar {first} changed when bars after it changed"
                                   if first is not None else "")]
        for c in self.cuts:
            if not c.ok:
                how = "truncated" if c.future is None else f"prices from bar {c.cut} on x{c.future:g}"
                lines.append(f"  cut {c.cut} ({how}): first target change at bar {c.first_target_diff}, "
                             f"first fill change at fill {c.first_fill_diff}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def default_series(n: int = 600, seed: int = 7) -> Series:
    """Synthetic (labelled as such) 1-minute bars with gaps, for the check when no data is given."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    op = np.concatenate(([close[0]], close[:-1] * np.exp(rng.normal(0.0, 0.003, n - 1))))
    hi = np.maximum(op, close) * (1 + np.abs(rng.normal(0.0, 0.004, n)))
    lo = np.minimum(op, close) * (1 - np.abs(rng.normal(0.0, 0.004, n)))
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return Series.from_arrays("SYNTHETIC", ts, op, hi, lo, close, rng.uniform(100.0, 1000.0, n))


def _first_diff(a: np.ndarray, b: np.ndarray) -> int | None:
    m = min(a.shape[0], b.shape[0])
    d = np.flatnonzero(a[:m] != b[:m])
    if d.size:
        return int(d[0])
    return None if a.shape[0] == b.shape[0] else m


DecisionSource = Callable[[Series], "np.ndarray | Sequence[int]"]


@dataclass(frozen=True)
class _Run:
    target: np.ndarray
    fill_bar: np.ndarray
    fills: np.ndarray  # (ts, side, quantity, price) per fill


def other_future(series: Series, cut: int, factor: float) -> Series:
    """``series`` with every price from bar ``cut`` on multiplied by ``factor`` (a valid other future)."""
    def f(a: np.ndarray) -> np.ndarray:
        out = np.array(a, dtype=np.float64)
        out[cut:] *= factor
        return out

    return Series.from_arrays(series.symbol, series.ts, f(series.open), f(series.high), f(series.low), f(series.close),
                              series.volume)


def _strategy_run(strategy: Any, params: Mapping[str, Any] | None, config: ExecutionConfig):
    def run(series: Series) -> tuple[_Run, dict[str, Any]]:
        r = replay(strategy, params, series, config)
        f = r.fills
        return _Run(r.target, f.bar, np.column_stack([f.ts, f.side, f.quantity, f.price])), dict(r.params)

    return run


def _source_run(decisions: DecisionSource, config: ExecutionConfig):
    from lq_engine.replay.event_engine import EventEngine, TargetsDecider

    def run(series: Series) -> tuple[_Run, dict[str, Any]]:
        targets = np.asarray(decisions(series))
        if targets.shape != (series.n,):
            raise ValueError(f"lookahead check: the decision source returned shape {targets.shape} for {series.n} bars")
        engine = EventEngine(series.symbol, TargetsDecider(targets), config).run(series)
        bar_of = {ts: i for i, ts in enumerate(series.ts.tolist())}
        fills = np.array([(f.timestamp_ns, f.side, f.quantity, f.price) for f in engine.fills], dtype=np.float64)
        return _Run(np.array(engine.targets, dtype=np.int8),
                    np.array([bar_of[f.timestamp_ns] for f in engine.fills], dtype=np.int64),
                    fills.reshape(-1, 4)), {}  # a custom source has no registered parameters

    return run


def check_lookahead(
    strategy_name: Any,
    params: Mapping[str, Any] | None = None,
    bars: Series | None = None,
    cuts: Sequence[int] | int = 8,
    config: ExecutionConfig = ExecutionConfig(),
    decisions: DecisionSource | None = None,
) -> LookaheadReport:
    """``cuts``: explicit cut points, or how many evenly spaced ones to use.

    ``strategy_name``: a strategy name or StrategySpec. ``decisions``: check this decision source
    (series -> target per bar, decided at each bar's close) instead (the name is then only a label).
    """
    if decisions is None:
        from lq_engine.strategies.registry import resolve

        strategy_name = resolve(strategy_name)
    label = getattr(strategy_name, "name", strategy_name)
    series = bars if bars is not None else default_series()
    run = _strategy_run(strategy_name, params, config) if decisions is None else _source_run(decisions, config)
    full, used_params = run(series)
    if isinstance(cuts, int):
        points = sorted({int(x) for x in np.linspace(2, series.n - 1, cuts)})
    else:
        points = sorted(int(c) for c in cuts)
    out = []
    for cut in points:
        if not 1 <= cut <= series.n:
            raise ValueError(f"lookahead cut {cut} outside 1..{series.n}")
        part, _ = run(series.head(cut))
        t_diff = _first_diff(full.target[:cut], part.target)
        f_full = full.fills[full.fill_bar < cut]
        f_part = part.fills
        f_diff = None
        if f_full.shape != f_part.shape:
            f_diff = _first_diff(f_full[:, 0], f_part[:, 0]) if f_full.size and f_part.size else 0
        else:
            rows = np.flatnonzero(~np.all(f_full == f_part, axis=1))
            f_diff = int(rows[0]) if rows.size else None
        out.append(CutResult(cut, t_diff, f_diff))
        if cut < series.n:
            for factor in ALTERNATIVE_FUTURES:
                alt, _ = run(other_future(series, cut, factor))
                out.append(CutResult(cut, _first_diff(full.target[:cut], alt.target[:cut]), None, factor))
    return LookaheadReport(label, used_params, series.n, out)
