"""A named universe of luminaquant.toml frozen from what the lake holds: the one rule the Dagster
asset (``frozen_dataset``) and the research entry point (``lq_engine.research``) share."""

from __future__ import annotations

from dataclasses import dataclass

from lq_engine.data.frozen import FrozenDataset, UniverseSpec, build_frozen
from lq_engine.data.lake import list_partitions
from lq_engine.data.paths import DataPaths
from lq_engine.settings import UniverseConfig


@dataclass(frozen=True)
class FrozenUniverse:
    dataset: FrozenDataset | None  # None: none of the universe's symbols is in the lake (yet)
    available: list[str]  # the lake's symbols of the universe's timeframe
    missing: list[str]  # the universe's tickers and patterns that match none of them


def freeze_universe(paths: DataPaths, u: UniverseConfig) -> FrozenUniverse:
    """Resolve the universe's tickers and patterns against the lake's symbols of its timeframe and
    freeze those (``build_frozen``: the folder is reused when its content hash exists)."""
    available = sorted({p.symbol for p in list_partitions(paths) if p.timeframe == u.timeframe})
    symbols = u.resolve_symbols(available)
    missing = u.unmatched(available)
    if not symbols:
        return FrozenUniverse(None, available, missing)
    spec = UniverseSpec(name=u.name, symbols=tuple(symbols), timeframe=u.timeframe, start=u.start, end=u.end)
    return FrozenUniverse(build_frozen(paths, spec), available, missing)
