"""Lookahead check: a decision at bar i may depend on bars 0..i only.

The strategy runs on the full series and on each truncation ``series.head(cut)``; every target
decided before the cut (bars 0..cut-1) and every order the replay sends before the cut must be the
same. A difference means the strategy (or an indicator) peeked at later bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from lq_engine.execution.config import ExecutionConfig
from lq_engine.replay.engine import Series, replay


@dataclass(frozen=True)
class CutResult:
    cut: int
    first_target_diff: int | None  # first bar < cut whose target differs, None if none
    first_fill_diff: int | None  # first fill (before the cut) that differs, None if none

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

    def summary(self) -> str:
        head = f"lookahead check {self.strategy} {self.params} over {self.n_bars} bars, {len(self.cuts)} cuts: "
        if self.ok:
            return head + "OK (no decision or fill before a cut changes when later bars are removed)"
        lines = [head + "FAILED"]
        for c in self.cuts:
            if not c.ok:
                lines.append(f"  cut {c.cut}: first target change at bar {c.first_target_diff}, "
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


def check_lookahead(
    strategy_name: str,
    params: Mapping[str, Any] | None = None,
    bars: Series | None = None,
    cuts: Sequence[int] | int = 8,
    config: ExecutionConfig = ExecutionConfig(),
) -> LookaheadReport:
    """``cuts``: explicit cut points, or how many evenly spaced ones to use."""
    series = bars if bars is not None else default_series()
    full = replay(strategy_name, params, series, config)
    if isinstance(cuts, int):
        points = sorted({int(x) for x in np.linspace(2, series.n - 1, cuts)})
    else:
        points = sorted(int(c) for c in cuts)
    out = []
    for cut in points:
        if not 1 <= cut <= series.n:
            raise ValueError(f"lookahead cut {cut} outside 1..{series.n}")
        part = replay(strategy_name, params, series.head(cut), config)
        t_diff = _first_diff(full.target[:cut], part.target)
        keep = full.fills.bar < cut
        f_full = np.column_stack([full.fills.ts[keep], full.fills.side[keep], full.fills.quantity[keep],
                                  full.fills.price[keep]])
        f_part = np.column_stack([part.fills.ts, part.fills.side, part.fills.quantity, part.fills.price])
        f_diff = None
        if f_full.shape != f_part.shape:
            f_diff = _first_diff(f_full[:, 0], f_part[:, 0]) if f_full.size and f_part.size else 0
        else:
            rows = np.flatnonzero(~np.all(f_full == f_part, axis=1))
            f_diff = int(rows[0]) if rows.size else None
        out.append(CutResult(cut, t_diff, f_diff))
    return LookaheadReport(strategy_name, dict(full.params), series.n, out)
