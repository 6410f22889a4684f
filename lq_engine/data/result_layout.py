"""Where result tables live in the lake, and writing one partition's object (``results`` has the
whole story; this module sits below ``catalog``, which reads the layout to make its views).

Layout: ``results/<table>/<key>=<value>/.../data.parquet`` (hive style, the partition's keys in a
fixed order).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

from lq_engine.data.paths import DataPaths
from lq_engine.data.store import PART_FILE
from lq_engine.errors import LQError

RESULTS = "results"
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


def put_table(paths: DataPaths, table: str, df: pl.DataFrame, partition: Mapping[str, str] | None = None) -> bool:
    """``results.write_table`` without the catalog: write the partition's object; True if the table is new."""
    partition = dict(partition or {})
    key = table_object(table, partition)
    have = table_keys(paths, table)
    if have is not None and have != list(partition):
        raise ResultTableError(f"result table {table}: partitioned by {have}, not {list(partition)}")
    df = df.drop([k for k in partition if k in df.columns])
    paths.store.write_parquet(key, df)
    return have is None


def table_objects(paths: DataPaths, table: str) -> list[str]:
    return [k for k in paths.store.list(f"{RESULTS}/{table}", ".parquet") if k.endswith("/" + PART_FILE)]


def table_keys(paths: DataPaths, table: str) -> list[str] | None:
    """The partition keys of an existing table (None if it has no object yet)."""
    objs = table_objects(paths, table)
    if not objs:
        return None
    return [seg.split("=", 1)[0] for seg in objs[0].split("/")[2:-1]]


def list_tables(paths: DataPaths) -> list[str]:
    """Every result table with at least one partition, sorted."""
    return sorted({k.split("/")[1] for k in paths.store.list(RESULTS, ".parquet") if k.endswith("/" + PART_FILE)})


def glob_of(paths: DataPaths, table: str) -> str | None:
    """The table's objects as a DuckDB glob (None if the table has none)."""
    keys = table_keys(paths, table)
    if keys is None:
        return None
    return paths.store.uri_of("/".join([RESULTS, table, *(["*"] * len(keys)), PART_FILE]))
