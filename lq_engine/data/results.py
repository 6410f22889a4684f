"""Result tables in the lake: one Parquet object per (table, asset partition that produced it).

Layout: ``results/<table>/<key>=<value>/.../data.parquet`` (hive style, the partition's keys in a
fixed order), e.g. ``results/prefilter_scores/dataset=us_stocks_daily/strategy=ma_cross/data.parquet``.
Writing a partition replaces exactly that object, atomically (see ``store``), so concurrent writers
of different partitions never contend for anything, locally or on an object store, and a re-run
of a partition replaces its rows instead of duplicating them. The catalog's view of a table is a
union by column name over its objects, so partitions written with different columns (strategies
have different parameters; a newer version may add a column) read as one table.

One function each: ``write_table`` (every writer: optimizer assets, backend benchmark, paper
trading), ``read_table`` and ``list_tables``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

from lq_engine.data.paths import DataPaths
from lq_engine.errors import LQError

RESULTS = "results"
PART_FILE = "data.parquet"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]*$")


class ResultTableError(LQError, ValueError):
    pass


def _check(table: str, partition: Mapping[str, str]) -> None:
    if not _NAME.match(table):
        raise ResultTableError(f"result table name {table!r}: use lower-case letters, digits and '_'")
    for k, v in partition.items():
        if not _NAME.match(k):
            raise ResultTableError(f"result table {table}: partition key {k!r}: use lower-case letters, digits and '_'")
        if not isinstance(v, str) or not _VALUE.match(v):
            raise ResultTableError(f"result table {table}: partition {k}={v!r}: a value is letters, digits and "
                                   "'_.:+-' (it is a path segment)")


def table_object(table: str, partition: Mapping[str, str] | None = None) -> str:
    """The object key of one partition of a table."""
    partition = dict(partition or {})
    _check(table, partition)
    segments = [f"{k}={v}" for k, v in partition.items()]
    return "/".join([RESULTS, table, *segments, PART_FILE])


def write_table(paths: DataPaths, table: str, df: pl.DataFrame, partition: Mapping[str, str] | None = None) -> int:
    """Replace the rows of ``table`` for ``partition`` (the asset partition that produced them:
    e.g. ``{"dataset": ..., "strategy": ...}``) by ``df``; returns the rows written.

    The partition's keys become columns of the table (from the path: ``df`` need not carry them).
    A table keeps one set of keys, in one order, for all its partitions.
    """
    partition = dict(partition or {})
    key = table_object(table, partition)
    have = table_keys(paths, table)
    if have is not None and have != list(partition):
        raise ResultTableError(f"result table {table}: partitioned by {have}, not {list(partition)}")
    df = df.drop([k for k in partition if k in df.columns])
    paths.store.write_parquet(key, df)
    if have is None:  # a new table: its view goes into catalog.duckdb (every other process sees it anyway)
        from lq_engine.data.catalog import ensure_catalog

        ensure_catalog(paths)
    return df.height


def _objects(paths: DataPaths, table: str) -> list[str]:
    return [k for k in paths.store.list(f"{RESULTS}/{table}", ".parquet") if k.endswith("/" + PART_FILE)]


def table_keys(paths: DataPaths, table: str) -> list[str] | None:
    """The partition keys of an existing table (None if it has no object yet)."""
    objs = _objects(paths, table)
    if not objs:
        return None
    return [seg.split("=", 1)[0] for seg in objs[0].split("/")[2:-1]]


def list_tables(paths: DataPaths) -> list[str]:
    """Every result table with at least one partition, sorted."""
    return sorted({k.split("/")[1] for k in paths.store.list(RESULTS, ".parquet") if k.endswith("/" + PART_FILE)})


def read_table(paths: DataPaths, table: str, where: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The table's rows (partition columns last, as in the catalog view), optionally only the
    partitions matching ``where``; an empty frame if there are none."""
    where = dict(where or {})
    frames = []
    for obj in _objects(paths, table):
        keys = dict(seg.split("=", 1) for seg in obj.split("/")[2:-1])
        if any(keys.get(k) != v for k, v in where.items()):
            continue
        df = paths.store.read_parquet(obj)
        frames.append(df.with_columns(pl.lit(v, dtype=pl.String).alias(k) for k, v in keys.items()))
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def glob_of(paths: DataPaths, table: str) -> str | None:
    """The table's objects as a DuckDB glob (None if the table has none)."""
    keys = table_keys(paths, table)
    if keys is None:
        return None
    return paths.store.uri_of("/".join([RESULTS, table, *(["*"] * len(keys)), PART_FILE]))
