"""``evaluate_grid``: the prefilter entry point downstream optimization calls.

Everything is checked before any kernel runs: frozen read-only float64 arrays (a dataframe, a
writable or strided array is refused), equal lengths, finite positive prices (the first bad row
is named), and every parameter set against the strategy schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from lq_engine.data.guards import FrozenInputError, require_frozen_array
from lq_engine.kernels import metrics as M
from lq_engine.kernels.backends import BACKENDS, run_sweep
from lq_engine.strategies.bank import Bars
from lq_engine.strategies.registry import Sweep, compile_sweep, get_strategy

FIELDS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Costs:
    """Simplified prefilter costs, both as a fraction of the notional traded per unit of position change."""

    fee: float = 0.001
    slippage: float = 0.0

    def __post_init__(self):
        for name in ("fee", "slippage"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0 or v >= 0.5:
                raise ValueError(f"Costs.{name} must be a finite fraction in [0, 0.5), got {v!r}")

    @property
    def per_unit(self) -> float:
        return float(self.fee + self.slippage)


@dataclass(frozen=True)
class GridResult:
    strategy: str
    params: list[dict[str, Any]]
    metrics: dict[str, np.ndarray]  # METRIC_NAMES -> (n_sets,) float64
    backend: str
    periods_per_year: float
    n_bars: int
    costs: Costs = field(default_factory=Costs)

    @property
    def n_sets(self) -> int:
        return len(self.params)

    def to_polars(self):
        import polars as pl

        cols: dict[str, Any] = {"set_index": np.arange(self.n_sets)}
        for name in get_strategy(self.strategy).schema.param_names:
            cols[name] = [p[name] for p in self.params]
        cols.update(self.metrics)
        return pl.DataFrame(cols)


def bars_from_arrays(series: Bars | Mapping[str, np.ndarray]) -> Bars:
    """Check and wrap the four price arrays; raises with the field (and row) at fault."""
    if isinstance(series, Bars):
        arrays = {f: getattr(series, f) for f in FIELDS}
    elif isinstance(series, Mapping):
        missing = [f for f in FIELDS if f not in series]
        if missing:
            raise ValueError(f"series: missing field(s) {missing}; need {list(FIELDS)}")
        arrays = {f: series[f] for f in FIELDS}
    else:
        require_frozen_array(series, "series")  # raises the frame / ndarray message
        raise FrozenInputError("series: expected Bars or a mapping of open/high/low/close arrays")
    n = None
    for f, a in arrays.items():
        require_frozen_array(a, f)
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            raise ValueError(f"series: field '{f}' has {a.shape[0]} rows, 'open' has {n}")
        bad = ~np.isfinite(a) | (a <= 0)
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(f"series: field '{f}' row {row} is {float(a[row])}; prices must be finite and > 0")
    if n == 0:
        raise ValueError("series: no bars")
    return Bars(**arrays)


def evaluate_grid(
    series: Bars | Mapping[str, np.ndarray],
    strategy: str,
    param_sets: Sequence[Mapping[str, Any]],
    costs: Costs = Costs(),
    backend: str = "auto",
    periods_per_year: float = 525_600.0,
) -> GridResult:
    """Metrics for every parameter set of ``strategy`` over one series (prefilter fills)."""
    bars = bars_from_arrays(series)
    sweep = compile_sweep(strategy, param_sets, bars)
    return run_compiled(sweep, costs, backend, periods_per_year)


def run_compiled(sweep: Sweep, costs: Costs, backend: str = "auto", periods_per_year: float = 525_600.0) -> GridResult:
    if backend == "auto":
        from lq_engine.kernels.selection import resolve_backend

        backend = resolve_backend()
    elif backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected 'auto' or one of {BACKENDS}")
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    metrics = run_sweep(backend, sweep.bank, sweep.rets, sweep.ip, sweep.fp, costs.per_unit, periods_per_year)
    return GridResult(sweep.strategy, sweep.params, metrics, backend, float(periods_per_year), sweep.n_bars, costs)


__all__ = ["Costs", "GridResult", "evaluate_grid", "run_compiled", "bars_from_arrays", "M"]
