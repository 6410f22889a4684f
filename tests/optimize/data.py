"""Small SYNTHETIC datasets and a fast config shared by the optimizer tests."""

from __future__ import annotations

from functools import lru_cache

from lq_engine.data.samples import generate_synthetic
from lq_engine.optimize import OptimizeConfig, dataset_from_frame

GRID = {"fast": range(5, 30, 5), "slow": range(20, 90, 10)}


def strategy(name: str = "ma_cross", grid=GRID):
    """A shipped strategy with a small grid (what a project's [strategies.NAME.grid] does)."""
    from lq_engine.strategies import resolve

    return resolve(name).with_grid(grid)


MA = strategy()


@lru_cache(maxsize=None)
def small_dataset(symbols: int = 3, days: int = 3, seed: int = 11):
    return dataset_from_frame(generate_synthetic(symbols, days, seed=seed), f"syn_{symbols}x{days}d")


def small_config(**changes) -> OptimizeConfig:
    base = dict(backend="numba", top_k_min=3, top_k_max=4, top_k_ratio=0.1, audit_size=4,
                min_trades=2, pbo_splits=8, pbo_max_periods=64, seed=5)
    base.update(changes)
    return OptimizeConfig(**base)
