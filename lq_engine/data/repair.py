"""Lake integrity: ``verify_lake`` names every bar partition that cannot be read back whole (a page
CRC that fails, a truncated file, a wrong schema, unsorted or repeated timestamps); ``repair_lake``
rebuilds each from the landing archive (the landing files are kept as the raw archive, so re-ingesting
the ones that touch a partition, in their usual order, restores it byte for byte) or says which ones
it cannot rebuild. A corrupt file is moved to ``quarantine/lake/`` first, never deleted.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np

from lq_engine.data.lake import bar_objects, _key_of, partition_key_path
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
    import pyarrow.parquet as pq

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


@dataclass
class RepairReport:
    repaired: list[PartitionKey] = field(default_factory=list)
    unrepairable: list[tuple[PartitionKey, str]] = field(default_factory=list)  # (key, why)
    moved_to: dict[str, str] = field(default_factory=dict)  # corrupt object -> where it was kept


def repair_lake(paths: DataPaths, corrupt: list[Corrupt] | None = None) -> RepairReport:
    """Rebuild the damaged partitions from the landing files that carry their rows."""
    from lq_engine.data.errors import IngestError
    from lq_engine.data.ingest import ingest_files, landing_files, scan_file

    corrupt = verify_lake(paths) if corrupt is None else corrupt
    report = RepairReport()
    if not corrupt:
        return report
    sources: dict[PartitionKey, list] = {c.key: [] for c in corrupt}
    for f in landing_files(paths):
        try:
            scan = scan_file(f)
        except IngestError:
            continue
        for k in scan.partitions:
            if k in sources:
                sources[k].append(f)
    store = paths.store
    for c in corrupt:
        files = sources[c.key]
        if not files:
            report.unrepairable.append((c.key, "no landing file carries its rows"))
            continue
        obj = partition_key_path(c.key)
        kept = f"{c.key.timeframe}__{c.key.symbol}__{c.key.month}.{time.time_ns()}.parquet.corrupt"
        dest = paths.quarantine / "lake" / kept
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(store.read_bytes(obj))
        store.delete(obj)
        report.moved_to[c.location] = str(dest)
        ingest_files(files, paths, only_partitions=[c.key], raise_on_reject=False)
        problem = check_partition(paths, obj)
        if problem is None:
            report.repaired.append(c.key)
        else:
            report.unrepairable.append((c.key, f"rebuilt from {len(files)} landing file(s) but still {problem}"))
    return report
