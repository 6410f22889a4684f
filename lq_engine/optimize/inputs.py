"""What the optimizer reads from a frozen dataset: its series, common clock and annualization."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lq_engine.data.bars import Bars
from lq_engine.data.funding_rates import FundingRates
from lq_engine.errors import InputError
from lq_engine.data.frozen import content_hash, freeze_frame, FrozenDataset, UniverseSpec, with_funding
from lq_engine.kernels import metrics as M
from lq_engine.optimize.config import ConfigError, OptimizeConfig
from lq_engine.optimize.folds import Window, clock_of, symbol_range
from lq_engine.strategies.panel import Panel


PORTFOLIO = "PORTFOLIO"  # the symbol column of a portfolio strategy's rows: one unit for the universe


@dataclass(frozen=True)
class DatasetView:
    name: str
    content_hash: str
    timeframe: str
    calendar: str
    ppy: float
    symbols: tuple[str, ...]
    series: dict[str, Bars]  # symbol -> the frozen dataset's series (read-only views)
    clock: np.ndarray  # int64 ns, sorted union of every symbol's timestamps
    synthetic: bool
    funding: dict[str, FundingRates] = field(default_factory=dict)  # perpetuals: symbol -> funding events

    def rows(self, symbol: str, window: Window) -> tuple[int, int]:
        return symbol_range(self.clock, self.series[symbol].ts, window)

    def window_ts(self, window: Window) -> tuple[int, int]:
        """(first bar ts, last bar ts) of the window on the clock."""
        return int(self.clock[window.start]), int(self.clock[window.stop - 1])

    @cached_property
    def panel(self):
        """Every symbol aligned on the clock (``strategies.panel.Panel``): what portfolio strategies see."""
        return Panel.from_series([self.series[s] for s in self.symbols], self.clock)

    def unit_ts(self, label: str) -> np.ndarray:
        """Timestamps of a unit's rows: a symbol's own, or the clock for the portfolio."""
        return self.clock if label == PORTFOLIO else self.series[label].ts


def is_synthetic(dataset: Any) -> bool:
    """SYNTHETIC when every symbol starts with 'SYN' or the dataset name says so."""
    return all(s.startswith("SYN") for s in dataset.symbols) or "synthetic" in str(dataset.name).lower()


def calendar_for(timeframe: str, calendar: str = "auto") -> str:
    if calendar != "auto":
        return calendar
    return "equities" if M.timeframe_seconds(timeframe) >= 86_400 else "24/7"


def view_of(dataset: Any, config: OptimizeConfig) -> DatasetView:
    """Wrap a ``FrozenDataset`` (anything with name, content_hash, timeframe, symbols, series())."""
    if not dataset.symbols:
        raise InputError(f"dataset {dataset.name}: no symbols")
    series = {s: dataset.series(s) for s in dataset.symbols}
    cal = calendar_for(dataset.timeframe, config.calendar)
    return DatasetView(str(dataset.name), str(dataset.content_hash), dataset.timeframe, cal,
                       M.periods_per_year(dataset.timeframe, cal), tuple(dataset.symbols), series,
                       clock_of([series[s].ts for s in dataset.symbols]), is_synthetic(dataset),
                       perpetual_funding(dataset) if config.instrument == "perpetual" else {})


def perpetual_funding(dataset: Any) -> dict[str, FundingRates]:
    """The funding events of every symbol of a perpetuals dataset (carried by the frozen dataset, so a
    run is reproducible from it); a symbol without any is a ``ConfigError`` naming it."""
    get = getattr(dataset, "funding", None)
    out = {s: get(s) if get is not None else None for s in dataset.symbols}
    missing = [s for s, f in out.items() if f is None or not len(f)]
    if missing:
        raise ConfigError(f"optimize config: instrument 'perpetual' but dataset {dataset.name} carries no funding "
                          f"rates for {missing}: land them (a .funding.csv file or `lq fetch`) and freeze the "
                          "dataset again")
    return out


def dataset_from_frame(df: Any, name: str, folder: str | Path = ".",
                       funding: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Any:
    """An in-memory ``FrozenDataset`` from bars (symbol, timeframe, ts, open..volume): tests and
    benchmarks. ``folder`` is only recorded; nothing is written. ``funding``: symbol -> (ts, rate) of
    perpetuals, carried as a frozen dataset carries them."""
    tfs = df["timeframe"].unique().to_list()
    if len(tfs) != 1:
        raise InputError(f"dataset_from_frame: expected one timeframe, got {tfs}")
    fa = with_funding(freeze_frame(df), funding or {})
    spec = UniverseSpec(name, fa.symbols, tfs[0])
    return FrozenDataset(Path(folder), name, content_hash(spec, fa), fa.symbols, spec.timeframe, fa.offsets,
                         fa.arrays, spec, fa.funding)
