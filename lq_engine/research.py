"""``evaluate``: score a strategy over many parameter sets from a notebook or a script.

    from lq_engine.research import evaluate

    table = evaluate("ma_cross", "crypto_1m", {"fast": [5, 10, 20], "slow": [50, 100]}, costs=0.0005)
    table.sort("sharpe", descending=True).head()

It runs the optimizer's stage-1 path (``prefilter.evaluate``: the same checks, the same kernels, the
same backend choice and parity as ``lq optimize``) on everything a research session has at hand,
and returns a polars DataFrame: one row per parameter set (and symbol), its parameters as columns,
then the metrics. What each argument takes:

- ``strategy``: a strategy name (shipped or the project's), a ``.py`` file, an ``lq.Strategy``
  class, or a ``StrategySpec``.
- ``data``: a universe name of luminaquant.toml (frozen from the project's lake, reusing the
  frozen folder when the lake has not changed), a frozen dataset (``FrozenDataset`` or its
  folder), ``Bars``, or a polars DataFrame of bars (open, high, low, close, optional volume and ts;
  with a ``symbol`` column, one series per symbol). Arrays are copied and frozen here: the kernels
  read only read-only data, and a notebook's later edits cannot change a result.
- ``params``: None (the strategy's default grid), a mapping of axes (their product; missing
  parameters take their default), a list of parameter sets, or an int ``n``: ``n`` distinct sets
  drawn at random (seeded by ``seed``) from the strategy's search space, the draws of a random
  search.
- ``costs``: ``Costs``, a fee fraction, or a mapping ``{"fee": ..., "slippage": ...}``.

A portfolio strategy is scored once over the whole universe (``symbol`` is ``PORTFOLIO``). The
metrics are the prefilter's simplified account (``kernels.metrics.METRIC_NAMES``), annualized with the
data's timeframe and calendar.

Why here and not in ``lq_engine.api``: strategy files import the API; it sits below the kernels and
the optimizer in the layers, so the optimizer's entry point cannot live in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lq_engine.data.bars import FIELDS as BAR_FIELDS, Bars
from lq_engine.data.guards import freeze
from lq_engine.errors import InputError
from lq_engine.execution.config import Costs
from lq_engine.kernels import metrics as M
from lq_engine.optimize.config import OptimizeConfig
from lq_engine.optimize.inputs import PORTFOLIO, calendar_for, dataset_from_frame, view_of
from lq_engine.prefilter.evaluate import GridResult, evaluate_grid, evaluate_panel
from lq_engine.strategies.registry import load_file, resolve
from lq_engine.strategies.spec import StrategySpec

DEFAULT_TIMEFRAME = "1m"  # bars without timestamps or a timeframe column: annualized as 1-minute bars


@dataclass(frozen=True)
class _Series:
    symbol: str
    bars: Any  # Bars, or a Panel for a portfolio strategy
    ppy: float


def evaluate(strategy: str | Path | type | StrategySpec, data: Any,
             params: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | int | None = None, *,
             costs: Costs | float | Mapping[str, float] | None = None, seed: int = 0, backend: str = "auto",
             symbols: Sequence[str] | None = None, periods_per_year: float | None = None,
             memory_mb: int | None = None):
    """Metrics of ``strategy`` for every parameter set over ``data``, as a polars DataFrame (see the
    module docstring for what each argument takes). ``symbols`` restricts a multi-symbol dataset;
    ``periods_per_year`` overrides the annualization the data's timeframe and calendar give;
    ``memory_mb`` bounds the indicator bank (default ``$LQ_SWEEP_MEMORY_MB`` or a quarter of the
    machine's memory, at most 2 GB): a larger grid runs in chunks of sets, with the same results."""
    spec = _strategy(strategy)
    sets = _param_sets(spec, params, seed)
    cost = _costs(costs)
    out = []
    for s in _series(spec, data, symbols):
        ppy = float(periods_per_year) if periods_per_year is not None else s.ppy
        if spec.is_portfolio:
            res = evaluate_panel(s.bars, spec, sets, cost, periods_per_year=ppy)
        else:
            res = evaluate_grid(s.bars, spec, sets, cost, backend=backend, periods_per_year=ppy, memory_mb=memory_mb)
        out.append((s.symbol, res))
    return _table(spec, out)


def _strategy(strategy: Any) -> StrategySpec:
    if isinstance(strategy, Path) or (isinstance(strategy, str) and strategy.endswith(".py")):
        return load_file(Path(strategy))
    return resolve(strategy)


def _param_sets(spec: StrategySpec, params: Any, seed: int) -> list[dict[str, Any]]:
    if params is None:
        return spec.default_grid()
    if isinstance(params, bool) or isinstance(params, (int, np.integer)):
        sets = spec.space.sample(spec.schema, int(params), seed)
        if not sets:
            raise InputError(f"strategy {spec.name!r}: no parameter set of its space satisfies its constraints")
        return sets
    sets = spec.grid(params).rows() if isinstance(params, Mapping) else spec.schema.validate_all(list(params))
    if not sets:
        raise InputError(f"strategy {spec.name!r}: no parameter set to score (a grid whose every set breaks "
                         f"the strategy's constraints, or an empty list)")
    return sets


def _costs(costs: Any) -> Costs:
    if costs is None:
        return Costs()
    if isinstance(costs, Costs):
        return costs
    if isinstance(costs, Mapping):
        unknown = sorted(set(costs) - {"fee", "slippage"})
        if unknown:
            raise InputError(f"costs: unknown key(s) {unknown}; expected 'fee' and 'slippage'")
        return Costs(**{k: float(v) for k, v in costs.items()})
    if isinstance(costs, (int, float)) and not isinstance(costs, bool):
        return Costs(fee=float(costs))
    raise InputError(f"costs: expected Costs, a fee fraction or {{'fee': ..., 'slippage': ...}}, got {costs!r}")


def _series(spec: StrategySpec, data: Any, symbols: Sequence[str] | None) -> list[_Series]:
    """The units to score: one per symbol (``PORTFOLIO``: the universe's panel), with their
    annualization."""
    ds = _dataset(data)
    if ds is None:
        if symbols is not None:
            raise InputError("symbols: only a dataset or a frame with a symbol column has symbols to choose")
        if spec.is_portfolio:
            raise InputError(f"strategy {spec.name!r} is a portfolio strategy: give it a dataset or a frame with a "
                             "symbol column (a universe), not one series")
        bars = _bars(data)
        return [_Series(bars.symbol, bars, _bars_ppy(bars))]
    view = view_of(ds, OptimizeConfig())
    chosen = list(view.symbols)
    if symbols is not None:
        unknown = [s for s in symbols if s not in view.symbols]
        if unknown:
            raise InputError(f"symbols: {unknown} not in dataset {view.name!r} (it has {', '.join(view.symbols)})")
        chosen = [s for s in view.symbols if s in set(symbols)]
    if spec.is_portfolio:
        if symbols is not None:
            raise InputError(f"strategy {spec.name!r} is a portfolio strategy: it trades the whole universe; "
                             "restrict it with the universe in luminaquant.toml, not symbols=")
        return [_Series(PORTFOLIO, view.panel, view.ppy)]
    return [_Series(s, view.series[s], view.ppy) for s in chosen]


def _dataset(data: Any) -> Any:
    """A FrozenDataset for a universe name, a frozen folder, a dataset or a frame with symbols;
    None for one series."""
    import polars as pl  # lazily, after the kernels' thread set-up (kernels.threads)

    from lq_engine.data.frozen import FrozenDataset, load_frozen

    if isinstance(data, FrozenDataset):
        return data
    if isinstance(data, Path) or (isinstance(data, str) and Path(data).is_dir()):
        return load_frozen(Path(data))
    if isinstance(data, str):
        return _universe(data)
    if isinstance(data, pl.DataFrame) and "symbol" in data.columns:
        df = data if "timeframe" in data.columns else data.with_columns(pl.lit(_frame_timeframe(data))
                                                                        .alias("timeframe"))
        if "ts" not in df.columns:
            raise InputError("data: a frame with a symbol column needs a ts column (bar open times, UTC)")
        return dataset_from_frame(df, "frame")
    return None


def _universe(name: str) -> Any:
    from lq_engine.data.paths import DataPaths
    from lq_engine.data.universes import freeze_universe
    from lq_engine.errors import did_you_mean
    from lq_engine.optimize.config import load_checked_config

    universes = load_checked_config().universes
    if name not in universes:
        known = sorted(universes)
        raise InputError(f"data: {name!r} is neither a universe of luminaquant.toml{did_you_mean(name, known)} "
                         f"(universes: {', '.join(known) or 'none'}) nor a frozen dataset folder")
    fu = freeze_universe(DataPaths.from_env(), universes[name])
    if fu.dataset is None:
        raise InputError(f"universe {name!r}: none of {', '.join(universes[name].symbols)} is in the lake's "
                         f"{universes[name].timeframe} bars (run `lq ingest` first)")
    return fu.dataset


def _frame_timeframe(df: Any) -> str:
    from lq_engine.data.frozen import ts_ns

    return _spacing_timeframe(np.unique(ts_ns(df["ts"]))) if "ts" in df.columns else DEFAULT_TIMEFRAME


def _spacing_timeframe(ts: np.ndarray) -> str:
    """The timeframe of sorted bar open times: their smallest positive spacing (``DEFAULT_TIMEFRAME``
    when there is none)."""
    from lq_engine.data.schema import ns_to_timeframe

    step = np.diff(ts)
    step = step[step > 0]
    return ns_to_timeframe(int(step.min())) if step.size else DEFAULT_TIMEFRAME


def _bars(data: Any) -> Bars:
    """One series as checked frozen ``Bars``: the caller's arrays are copied (a frozen copy) unless
    they are ``Bars`` already."""
    import polars as pl

    if isinstance(data, Bars):
        return data.validated()
    if isinstance(data, pl.DataFrame):
        missing = [f for f in ("open", "high", "low", "close") if f not in data.columns]
        if missing:
            raise InputError(f"data: the frame has no column(s) {missing} (it has {', '.join(data.columns)})")
        cols = {f: data[f].to_numpy() for f in BAR_FIELDS if f in data.columns and f != "ts"}
        if "ts" in data.columns:
            from lq_engine.data.frozen import ts_ns

            cols["ts"] = ts_ns(data["ts"])
        data = cols
    if isinstance(data, Mapping):
        arrays = {f: None if data.get(f) is None else freeze(np.array(data[f], dtype=np.int64 if f == "ts"
                                                                          else np.float64))
                  for f in BAR_FIELDS}
        return Bars.checked(*(arrays[f] for f in BAR_FIELDS))
    raise InputError(f"data: expected a universe name, a frozen dataset, Bars, a polars DataFrame or a mapping of "
                     f"arrays, got {type(data).__name__}")


def _bars_ppy(bars: Bars) -> float:
    """The annualization of one series: its timeframe is its smallest bar spacing (1-minute bars
    without timestamps), its calendar the optimizer's default for that timeframe (``calendar_for``)."""
    tf = _spacing_timeframe(bars.ts)
    return M.periods_per_year(tf, calendar_for(tf))


def _table(spec: StrategySpec, results: list[tuple[str, GridResult]]):
    import polars as pl

    frames = []
    for symbol, res in results:
        df = res.to_polars()
        frames.append(df.with_columns(pl.lit(symbol).alias("symbol")).select(["symbol", *df.columns])
                      if symbol else df)
    return pl.concat(frames) if len(frames) > 1 else frames[0]


__all__ = ["evaluate"]
