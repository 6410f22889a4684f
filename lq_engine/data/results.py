"""Result tables in the lake: one Parquet object per (table, asset partition that produced it).

Layout: ``results/<table>/<key>=<value>/.../data.parquet`` (hive style, the partition's keys in a
fixed order), e.g. ``results/prefilter_scores/dataset=us_stocks_daily/strategy=ma_cross/data.parquet``.
Writing a partition replaces exactly that object, atomically (see ``store``), so concurrent writers
of different partitions never contend for anything, locally or on an object store, and a re-run
of a partition replaces its rows instead of duplicating them. The catalog's view of a table is a
union by column name over its objects, so partitions written with different columns (strategies
have different parameters; a newer version may add a column) read as one table.

One function each: ``write_table`` (every writer: optimizer assets, backend benchmark, paper
trading) and ``read_table``; the layout (``list_tables``, ``table_keys``) is ``result_layout``.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from lq_engine.data.catalog import ensure_catalog
from lq_engine.data.paths import DataPaths
from lq_engine.data.result_layout import put_table, table_objects


def write_table(paths: DataPaths, table: str, df: pl.DataFrame, partition: Mapping[str, str] | None = None) -> int:
    """Replace the rows of ``table`` for ``partition`` (the asset partition that produced them:
    e.g. ``{"dataset": ..., "strategy": ...}``) by ``df``; returns the rows written.

    The partition's keys become columns of the table (from the path: ``df`` need not carry them).
    A table keeps one set of keys, in one order, for all its partitions. A new table's view goes into
    catalog.duckdb (every other process sees it anyway).
    """
    new = put_table(paths, table, df, partition)
    if new:
        ensure_catalog(paths)
    return df.height


def read_table(paths: DataPaths, table: str, where: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The table's rows (partition columns last, as in the catalog view), optionally only the
    partitions matching ``where``; an empty frame if there are none."""
    where = dict(where or {})
    frames = []
    for obj in table_objects(paths, table):
        keys = dict(seg.split("=", 1) for seg in obj.split("/")[2:-1])
        if any(keys.get(k) != v for k, v in where.items()):
            continue
        df = paths.store.read_parquet(obj)
        frames.append(df.with_columns(pl.lit(v, dtype=pl.String).alias(k) for k, v in keys.items()))
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")
