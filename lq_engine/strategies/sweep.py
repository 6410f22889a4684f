"""``compile_sweep``: what a prefilter backend needs to score many parameter sets over one series.

Every strategy gets its parameter table and indicator rows (each distinct indicator once). A
strategy with a rule-vocabulary program (``spec.rules``: the shipped four, ``rule_programs``) also
gets one rule program per set over the same rows, and the per-series market returns the rule kernels stream: the C, Rust
and numba rule kernels run those; any strategy runs on its generated numba kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from lq_engine.kernels.returns import market_returns
from lq_engine.data.bars import Bars
from lq_engine.authoring.params import ParamTable
from lq_engine.kernels.rules import N_FLOAT, N_INT
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.spec import IndicatorPlan, IndicatorRows, StrategySpec


@dataclass(frozen=True)
class Sweep:
    strategy: StrategySpec
    table: ParamTable
    bars: Bars
    rows: IndicatorRows
    rets: np.ndarray  # (4, n_bars) float64, see bank.market_returns
    ip: np.ndarray | None = None  # (n_sets, N_INT) int64 rule programs, None without a rule program
    fp: np.ndarray | None = None  # (n_sets, N_FLOAT) float64

    @property
    def params(self) -> list[dict[str, Any]]:
        return self.table.rows()

    @property
    def bank(self) -> np.ndarray:
        return self.rows.bank

    @property
    def has_rules(self) -> bool:
        return self.ip is not None

    @property
    def n_sets(self) -> int:
        return len(self.table)

    @property
    def n_bars(self) -> int:
        return self.rows.n_bars


def compile_sweep(strategy: StrategySpec | str, param_sets: Sequence[Mapping[str, Any]] | ParamTable, bars: Bars,
                  rules: bool = True, plan: IndicatorPlan | None = None) -> Sweep:
    """Validate every set first (nothing runs on a bad grid), then build the shared rows (and, with
    ``rules`` and a rule program, the rule programs). ``strategy``: a spec, or a name resolved here;
    ``plan``: the table's ``indicator_plan`` when the caller has it."""
    spec = resolve(strategy)
    table = spec.table(param_sets)
    rows = spec.indicator_rows(table, bars, plan)
    rets = market_returns(bars)
    if not (rules and spec.rules is not None):
        return Sweep(spec, table, bars, rows, rets)
    names = [d.name for d in spec.indicators]
    ips, fps = [], []
    idx = rows.idx.tolist()
    for k, p in enumerate(table.rows()):
        row_of = dict(zip(names, idx[k]))
        ip, fp = spec.rules(row_of.__getitem__, p)
        ips.append(ip)
        fps.append(fp)
    ip_arr = np.array(ips, dtype=np.int64).reshape(len(table), N_INT)
    fp_arr = np.array(fps, dtype=np.float64).reshape(len(table), N_FLOAT)
    for a in (ip_arr, fp_arr):
        a.setflags(write=False)
    return Sweep(spec, table, bars, rows, rets, ip_arr, fp_arr)
