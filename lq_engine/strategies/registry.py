"""Strategy registry, grid builders and compile-to-sweep (bank + one rule program per set)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from lq_engine.strategies.bank import Bars, IndicatorBank, market_returns
from lq_engine.strategies.library import BOLLINGER, DONCHIAN, MA_CROSS, RSI, Strategy
from lq_engine.strategies.params import ParamError, explicit_grid, sample_grid

_REGISTRY: dict[str, Strategy] = {s.name: s for s in (MA_CROSS, RSI, BOLLINGER, DONCHIAN)}


class UnknownStrategyError(ParamError):
    pass


def list_strategies() -> list[str]:
    return sorted(_REGISTRY)


def get_strategy(name: str | Strategy) -> Strategy:
    if isinstance(name, Strategy):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownStrategyError(f"unknown strategy {name!r}; known: {list_strategies()}") from None


def default_grid(name: str) -> list[dict[str, Any]]:
    s = get_strategy(name)
    return explicit_grid(s.schema, s.schema.default_grid)


def grid(name: str, axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Explicit grid: the product of ``axes`` (missing parameters take their default), constraint-filtered."""
    return explicit_grid(get_strategy(name).schema, axes)


def sampled_grid(name: str, axes: Mapping[str, Sequence[Any]], n: int, seed: int) -> list[dict[str, Any]]:
    return sample_grid(get_strategy(name).schema, axes, n, seed)


def validate_param_sets(name: str, param_sets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return get_strategy(name).schema.validate_all(param_sets)


@dataclass(frozen=True)
class Sweep:
    """Everything a backend needs: read-only bank, market returns and per-set programs."""

    strategy: str
    params: list[dict[str, Any]]
    bank: np.ndarray  # (rows, n_bars) float64
    rets: np.ndarray  # (4, n_bars) float64, see bank.market_returns
    ip: np.ndarray  # (n_sets, N_INT) int64
    fp: np.ndarray  # (n_sets, N_FLOAT) float64
    bank_keys: dict[tuple, int]

    @property
    def n_sets(self) -> int:
        return int(self.ip.shape[0])

    @property
    def n_bars(self) -> int:
        return int(self.bank.shape[1])


def compile_sweep(name: str | Strategy, param_sets: Sequence[Mapping[str, Any]], bars: Bars) -> Sweep:
    """Validate every set first (nothing runs on a bad grid), then build the shared bank and programs."""
    s = get_strategy(name)
    params = s.schema.validate_all(param_sets)
    bank = IndicatorBank(bars)
    ips, fps = [], []
    for p in params:
        ip, fp = s.compile(bank, p)
        ips.append(ip)
        fps.append(fp)
    from lq_engine.strategies.rules import N_FLOAT, N_INT

    ip_arr = np.array(ips, dtype=np.int64).reshape(len(params), N_INT)
    fp_arr = np.array(fps, dtype=np.float64).reshape(len(params), N_FLOAT)
    for a in (ip_arr, fp_arr):
        a.setflags(write=False)
    return Sweep(s.name, params, bank.array(), market_returns(bars), ip_arr, fp_arr, bank.keys)
