"""Partition definitions shared by the asset domains."""

from __future__ import annotations

import dagster as dg

from lq_engine.optimize.config import load_checked_config

SYMBOLS = dg.DynamicPartitionsDefinition(name="symbols")

# end_offset=1 keeps the current, still-open month materializable (new bars land in it).
MONTHS = dg.MonthlyPartitionsDefinition(start_date="2000-01", fmt="%Y-%m", end_offset=1)

# Key strings look like "2024-01|AAPL" (dimensions sorted by name: month, symbol).
MARKET = dg.MultiPartitionsDefinition({"symbol": SYMBOLS, "month": MONTHS})

UNIVERSES = dg.StaticPartitionsDefinition(sorted(load_checked_config().universes))


def market_key(symbol: str, month: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"symbol": symbol, "month": month})


def split_market_keys(keys: list[str]) -> list[tuple[str, str]]:
    """(symbol, month) pairs of multi-partition key strings."""
    out = []
    for k in keys:
        mk = MARKET.get_partition_key_from_str(k) if not isinstance(k, dg.MultiPartitionKey) else k
        out.append((mk.keys_by_dimension["symbol"], mk.keys_by_dimension["month"]))
    return out


def file_range_plan(known: list[str], symbols: list[str], months: list[str]) -> tuple[list[str], dict[str, str]]:
    """Symbols to register and the run tags for a run covering one file's partitions.

    A multi-partition range is the rectangle (symbols in registration order) x (months), so new
    symbols are appended in sorted order and the range spans the file's first to last symbol.
    """
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    new = [s for s in sorted(set(symbols)) if s not in known]
    order = {s: i for i, s in enumerate([*known, *new])}
    syms = sorted(set(symbols), key=order.__getitem__)
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: str(market_key(syms[0], min(months))),
        ASSET_PARTITION_RANGE_END_TAG: str(market_key(syms[-1], max(months))),
    }
    return new, tags


# The strategies discovered in the project (shipped, installed, the project's strategies/ folder):
# a dynamic dimension, so a new strategy file becomes a partition without reloading the code
# location (``register_strategies``: the strategies sensor, the nightly schedule and `lq` call it).
STRATEGIES = dg.DynamicPartitionsDefinition(name="strategies")


def register_strategies(instance: dg.DagsterInstance) -> list[str]:
    """Add every discovered strategy to the strategy dimension (new names only); return them all."""
    from lq_engine.strategies.registry import list_strategies

    names = list_strategies()
    known = set(instance.get_dynamic_partitions(STRATEGIES.name))
    new = [n for n in names if n not in known]
    if new:
        instance.add_dynamic_partitions(STRATEGIES.name, new)
    return names

# One unit of optimization work per (dataset, strategy): key strings look like "us_stocks_daily|ma_cross".
OPTIMIZE = dg.MultiPartitionsDefinition({"dataset": UNIVERSES, "strategy": STRATEGIES})


def optimize_key(dataset: str, strategy: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"dataset": dataset, "strategy": strategy})


def split_optimize_key(key: str) -> tuple[str, str]:
    mk = OPTIMIZE.get_partition_key_from_str(key) if not isinstance(key, dg.MultiPartitionKey) else key
    return mk.keys_by_dimension["dataset"], mk.keys_by_dimension["strategy"]
