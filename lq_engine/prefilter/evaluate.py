"""``evaluate_grid``: the prefilter entry point downstream optimization calls.

Everything is checked before any kernel runs: frozen read-only float64 arrays (a dataframe, a
writable or strided array is refused) and the rules of a bar series (``data.bars.check_bars``: the
first bad row is named), and every parameter set against the strategy schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from lq_engine.data.guards import FrozenInputError, require_frozen_array
from lq_engine.errors import InputError
from lq_engine.execution.config import Costs, ExecutionConfig
from lq_engine.execution.funding import FundingRates, funding_per_bar
from lq_engine.kernels import groups as G
from lq_engine.kernels import metrics as M
from lq_engine.kernels.backends import BACKENDS, native, NATIVE_BACKENDS, numba_backend, python_backend, run_sweep
from lq_engine.data.bars import FIELDS as BAR_FIELDS, Bars
from lq_engine.kernels.threads import kernel_threads
from lq_engine.prefilter.chunks import plan_chunks
from lq_engine.prefilter.selection import resolve_backend
from lq_engine.replay.engine import replay_decisions
from lq_engine.replay.portfolio import replay_portfolio
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.spec import StrategySpec
from lq_engine.strategies.sweep import Sweep, compile_sweep

@dataclass(frozen=True)
class GridResult:
    strategy: StrategySpec
    params: list[dict[str, Any]]
    metrics: dict[str, np.ndarray]  # METRIC_NAMES -> (n_sets,) float64
    backend: str
    periods_per_year: float
    n_bars: int
    costs: Costs = field(default_factory=Costs)
    group_sums: np.ndarray | None = None  # (n_sets, groups, 2) sums of r and r^2 per time group (``kernels.groups``)

    @property
    def n_sets(self) -> int:
        return len(self.params)

    def to_polars(self):
        import polars as pl  # lazy: polars must load after kernels.threads.configure_threads

        cols: dict[str, Any] = {"set_index": np.arange(self.n_sets)}
        for name in self.strategy.schema.param_names:
            cols[name] = [p[name] for p in self.params]
        cols.update(self.metrics)
        return pl.DataFrame(cols)


def bars_from_arrays(series: Bars | Mapping[str, np.ndarray]) -> Bars:
    """``series`` (``Bars``, or a mapping of frozen open/high/low/close and optional volume/ts arrays)
    as checked ``Bars``: ``check_bars`` raises naming the field and row at fault."""
    if isinstance(series, Bars):
        return series.validated()
    if isinstance(series, Mapping):
        return Bars.checked(*(series.get(f) for f in BAR_FIELDS))
    require_frozen_array(series, "series")  # raises the frame / ndarray message
    raise FrozenInputError("series: expected Bars or a mapping of open/high/low/close arrays")


def evaluate_grid(
    series: Bars | Mapping[str, np.ndarray],
    strategy: StrategySpec | str,
    param_sets: Sequence[Mapping[str, Any]],
    costs: Costs = Costs(),
    backend: str = "auto",
    periods_per_year: float = 525_600.0,
    ends: np.ndarray | None = None,
    memory_mb: int | None = None,
    funding: FundingRates | np.ndarray | None = None,
) -> GridResult:
    """Metrics for every parameter set of ``strategy`` (a name or a StrategySpec) over one series
    (prefilter fills); with ``ends`` (time-group ends, ``kernels.groups``) also the per-group sums;
    ``funding``: a perpetual's funding events (or rate per bar, ``execution.funding``). A grid whose
    indicator bank exceeds ``memory_mb`` (default ``chunks.memory_budget_mb``) runs in chunks of sets
    (``prefilter.chunks``): the same numbers, bit for bit."""
    bars = bars_from_arrays(series)
    backend = backend_for(strategy, backend, funding is not None)
    spec = resolve(strategy)
    table = spec.table(param_sets)
    plan = spec.indicator_plan(table)
    chunks = plan_chunks(plan.idx, plan.total, bars.n, memory_mb)
    rules = backend != "numba-api"
    if len(chunks) == 1:
        return run_compiled(compile_sweep(spec, table, bars, rules=rules, plan=plan), costs, backend, periods_per_year,
                            ends, funding)
    metrics: dict[str, np.ndarray] = {name: np.empty(len(table)) for name in M.METRIC_NAMES}
    groups = None
    for pos in chunks:
        part = run_compiled(compile_sweep(spec, table.take(pos), bars, rules=rules), costs, backend, periods_per_year,
                            ends, funding)
        for name in M.METRIC_NAMES:
            metrics[name][pos] = part.metrics[name]
        if part.group_sums is not None:
            if groups is None:
                groups = np.empty((len(table), *part.group_sums.shape[1:]))
            groups[pos] = part.group_sums
        backend = part.backend
    return GridResult(spec, table.rows(), metrics, backend, float(periods_per_year), bars.n, costs, groups)


def backend_for(strategy: StrategySpec | str, backend: str = "auto", funding: bool = False) -> str:
    """The backend that runs ``strategy``: ``backend`` (or the selected one for 'auto') when it
    supports the strategy; C and Rust run only rule-vocabulary strategies, so others get numba.
    With ``funding`` (a perpetual) the strategy's generated kernel ('numba-api') or the 'python'
    reference: only ``kernels.simplified.account`` books funding."""
    if backend == "auto":
        backend = resolve_backend()
    elif backend not in BACKENDS and backend != "numba-api":
        raise InputError(f"unknown backend {backend!r}; expected 'auto' or one of {BACKENDS}")
    if funding:
        return "python" if backend == "python" else "numba-api"
    if backend in NATIVE_BACKENDS and resolve(strategy).rules is None:
        return "numba"
    if backend == "python" and resolve(strategy).is_portfolio:
        return "numba"  # the reference of a portfolio strategy is its replay (evaluate_panel backend='python')
    return backend


def run_compiled(sweep: Sweep, costs: Costs, backend: str = "auto", periods_per_year: float = 525_600.0,
                 ends: np.ndarray | None = None, funding: FundingRates | np.ndarray | None = None) -> GridResult:
    """Score a compiled sweep. Backends: 'numba' (the rule kernel for a strategy with a rule
    front-end, else its generated kernel), 'numba-api' (the generated kernel, always), 'c' and
    'rust' (rule front-end only), 'python' (the reference). ``funding``: a perpetual's funding."""
    backend = backend_for(sweep.strategy, backend, funding is not None)
    if funding is not None and sweep.strategy.is_portfolio:
        raise InputError(f"strategy '{sweep.strategy.name}' is a portfolio strategy: perpetual funding is not "
                         "modelled for portfolios")
    rates = None if funding is None else funding_per_bar(funding, sweep.bars.ts)
    if not periods_per_year > 0:
        raise InputError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    groups = None
    if backend == "numba-api" or (backend in ("numba", "python") and (not sweep.has_rules or rates is not None)):
        if backend == "python":
            metrics, groups = reference_metrics(sweep, costs, periods_per_year, ends, rates)
        else:
            acc = sweep.strategy.kernels.sweep(sweep.strategy, sweep.bars, sweep.rows, sweep.table, costs.fee,
                                               costs.slippage, sweep.rets, ends=ends, funding=rates)
            metrics, groups = M.finalize(acc[:, :M.N_ACC], periods_per_year), G.group_sums(acc)
    elif ends is not None:  # per-group sums: the numba and C rule kernels and the python reference stream them
        if backend == "python":
            sims = [python_backend.simulate(sweep.bank, sweep.rets, sweep.ip[k], sweep.fp[k], costs.per_unit)
                    for k in range(sweep.ip.shape[0])]
            rows = [M.summarize(*sim, periods_per_year) for sim in sims]
            metrics = {name: np.array([r[name] for r in rows], dtype=np.float64) for name in M.METRIC_NAMES}
            groups = np.array([G.sums_from_returns(sim[0], ends) for sim in sims]).reshape(len(sims), -1, 2)
        else:
            lib = None
            if backend in NATIVE_BACKENDS:
                lib = native.load(backend)
            if lib is not None and lib.has_groups:
                acc = lib.sweep_groups(sweep.bank, sweep.rets, sweep.ip, sweep.fp, costs.per_unit, kernel_threads(),
                                       ends)
            else:  # a native library without the group export: the numba kernel streams them

                backend = "numba"
                acc = numba_backend.sweep(sweep.bank, sweep.rets, sweep.ip, sweep.fp, costs.per_unit, ends)
            metrics, groups = M.finalize(acc[:, :M.N_ACC], periods_per_year), G.group_sums(acc)
    else:
        metrics = run_sweep(backend, sweep.bank, sweep.rets, sweep.ip, sweep.fp, costs.per_unit, periods_per_year)
    return GridResult(sweep.strategy, sweep.params, metrics, backend, float(periods_per_year), sweep.n_bars, costs,
                      groups)


def evaluate_panel(panel: Any, strategy: StrategySpec | str, param_sets: Sequence[Mapping[str, Any]],
                   costs: Costs = Costs(), periods_per_year: float = 252.0, backend: str = "numba",
                   ends: np.ndarray | None = None) -> GridResult:
    """Metrics for every parameter set of a portfolio strategy over a universe's ``Panel`` (the
    prefilter's simplified fills, one account; ``kernels.portfolio``). Backends: 'numba' (the
    strategy's generated sweep) or 'python' (each set replayed with the simplified fills)."""
    spec = resolve(strategy)
    panel = spec.check_data(panel)
    if not periods_per_year > 0:
        raise InputError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    table = spec.table(param_sets)
    if backend == "python":
        cfg = ExecutionConfig(fee_taker=costs.fee, fee_maker=costs.fee, spread_bps=0.0,
                              slippage_bps=costs.slippage * 1e4, slippage_vol_k=0.0, liquidity_cap=None,
                              cost_basis="equity")
        res = [replay_portfolio(spec, p, panel, cfg, periods_per_year=periods_per_year) for p in table.rows()]
        metrics = {name: np.array([r.metrics[name] for r in res], dtype=np.float64) for name in M.METRIC_NAMES}
        groups = None if ends is None else np.array(
            [G.sums_from_returns(r.equity[1:] / r.equity[:-1] - 1.0, ends) for r in res]).reshape(len(res), -1, 2)
    else:
        acc = spec.kernels.sweep(spec, panel, spec.indicator_rows(table, panel), table, costs.fee, costs.slippage,
                                 ends=ends)
        metrics, groups = M.finalize(acc[:, :M.N_ACC], periods_per_year), G.group_sums(acc)
        backend = "numba"
    return GridResult(spec, table.rows(), metrics, backend, float(periods_per_year), panel.n, costs, groups)


def reference_metrics(sweep: Sweep, costs: Costs, ppy: float, ends: np.ndarray | None = None,
                      funding: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The reference for strategies without a rule front-end: each set replayed by the replay engine
    with the prefilter's simplified fills (``ExecutionConfig.simplified``), metrics from its equity;
    with ``ends``, also the per-group sums of its returns (``kernels.groups``); ``funding``: rate per bar."""
    b = sweep.bars
    cfg = ExecutionConfig(fee_taker=costs.fee, fee_maker=costs.fee, spread_bps=0.0, slippage_bps=costs.slippage * 1e4,
                          slippage_vol_k=0.0, liquidity_cap=None, cost_basis="equity")
    rows, groups = [], []
    for p in sweep.params:
        d = sweep.strategy.decisions(p, b)
        res = replay_decisions(d, b, cfg, periods_per_year=ppy, funding=funding)
        rows.append(res.metrics)
        if ends is not None:
            groups.append(G.sums_from_returns(res.equity[1:] / res.equity[:-1] - 1.0, ends))
    metrics = {name: np.array([r[name] for r in rows], dtype=np.float64) for name in M.METRIC_NAMES}
    return metrics, (np.array(groups).reshape(len(rows), -1, 2) if ends is not None else None)


__all__ = ["Costs", "GridResult", "backend_for", "bars_from_arrays", "evaluate_grid", "evaluate_panel",
           "reference_metrics",
           "run_compiled", "M"]
