"""Lake integrity checks: ``verify_lake`` names every bar partition that cannot be read back whole (a
page CRC that fails, a truncated file, a wrong schema, unsorted or repeated timestamps);
``require_readable`` refuses to write on top of a damaged one (ingest). Rebuilding is ``repair``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from lq_engine.data.lake import _key_of, bar_objects, partition_key_path
from lq_engine.data.paths import DataPaths
from lq_engine.data.schema import PARTITION_COLUMNS, PartitionKey
from lq_engine.errors import LQError


class LakeCorruptError(LQError, OSError):
    """A lake partition that cannot be read back whole (the file is named)."""


@dataclass(frozen=True)
class Corrupt:
    key: PartitionKey
    location: str  # the object's path or URI
    problem: str


def check_partition(paths: DataPaths, obj: str) -> str | None:
    """None if the partition object reads back whole and is well formed, else what is wrong."""
    import pyarrow.parquet as pq  # lazy: pyarrow.parquet costs ~0.3 s at start-up; only checks read it

    store = paths.store
    try:
        data = store.read_bytes(obj)
        table = pq.read_table(io.BytesIO(data), page_checksum_verification=True, use_threads=False)
    except FileNotFoundError:
        return "missing"
    except Exception as e:  # pyarrow raises several types for a damaged file
        return " ".join(str(e).split())[:200] or type(e).__name__
    if table.column_names != list(PARTITION_COLUMNS):
        return f"columns {table.column_names}, expected {list(PARTITION_COLUMNS)}"
    ts = table.column("ts").to_numpy()
    if ts.size == 0:
        return "no rows"
    if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        return "timestamps not strictly increasing"
    return None


def require_readable(paths: DataPaths, key: PartitionKey) -> None:
    """Raise LakeCorruptError naming the partition file if it exists and is damaged."""
    obj = partition_key_path(key)
    if not paths.store.exists(obj):
        return
    problem = check_partition(paths, obj)
    if problem is not None:
        raise LakeCorruptError(f"{paths.store.uri_of(obj)}: {problem} (run `lq lake verify`, then `lq lake repair`)")


def verify_lake(paths: DataPaths) -> list[Corrupt]:
    """Every bar partition checked; the damaged ones, in partition order."""
    out = []
    for obj in bar_objects(paths):
        problem = check_partition(paths, obj)
        if problem is not None:
            out.append(Corrupt(_key_of(obj), paths.store.uri_of(obj), problem))
    return out
