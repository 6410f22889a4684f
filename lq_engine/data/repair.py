"""Lake repair (``integrity`` finds what is damaged): ``repair_lake``
rebuilds each from the raw archive (``archive``: every ingested file by content; replaying the ones
that went into a partition, in the order they were ingested, restores it byte for byte) or says
which ones it cannot rebuild. A corrupt file is moved to ``quarantine/lake/`` first, never deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


from lq_engine.data.archive import entry_path
from lq_engine.data.errors import IngestError
from lq_engine.data.ingest import ingest_files, landing_files, scan_file
from lq_engine.data.ingest_log import ingest_history
from lq_engine.data.integrity import Corrupt, check_partition, verify_lake
from lq_engine.data.journal import recover
from lq_engine.data.lake import partition_key_path
from lq_engine.data.paths import DataPaths
from lq_engine.data.schema import PartitionKey


@dataclass
class RepairReport:
    repaired: list[PartitionKey] = field(default_factory=list)
    unrepairable: list[tuple[PartitionKey, str]] = field(default_factory=list)  # (key, why)
    moved_to: dict[str, str] = field(default_factory=dict)  # corrupt object -> where it was kept


def replay_sources(paths: DataPaths, keys: list[PartitionKey]) -> dict[PartitionKey, tuple[list, list[str]]]:
    """For each partition: the archive entries to re-ingest, in the order their ingests were applied
    (a file ingested twice counts at its last ingest: the earlier one changed nothing it did not
    change again), and the logged files whose entry is missing from the archive."""
    want = {str(k): k for k in keys}
    order: dict[PartitionKey, dict[tuple[str, str], None]] = {k: {} for k in keys}
    for a in ingest_history(paths):
        for p in a.partitions & want.keys():
            seq = order[want[p]]
            ident = (a.sha256, Path(a.file).name)
            seq.pop(ident, None)
            seq[ident] = None  # insertion order: the last ingest of that content
    out = {}
    for k, seq in order.items():
        files, missing = [], []
        for sha, name in seq:
            e = entry_path(paths, sha, name)
            (files if e.is_file() else missing).append(e if e.is_file() else f"{name} ({sha[:12]})")
        out[k] = (files, missing)
    return out


def _landing_sources(paths: DataPaths, keys: set[PartitionKey]) -> dict[PartitionKey, list]:
    """Landing files carrying each partition's rows (a lake ingested before the archive existed)."""
    out: dict[PartitionKey, list] = {k: [] for k in keys}
    for f in landing_files(paths):
        try:
            scan = scan_file(f)
        except IngestError:
            continue
        for k in scan.partitions:
            if k in out:
                out[k].append(f)
    return out


def repair_lake(paths: DataPaths, corrupt: list[Corrupt] | None = None) -> RepairReport:
    """Rebuild the damaged partitions by replaying, in ingest order, the archived files that were
    ingested into them (``replay_sources``); a lake older than the archive falls back on the
    landing files that carry their rows (in modification-time order)."""
    if not paths.remote:
        recover(paths)  # an ingest decided but cut short by a kill: finished first
    corrupt = verify_lake(paths) if corrupt is None else corrupt
    report = RepairReport()
    if not corrupt:
        return report
    archived = replay_sources(paths, [c.key for c in corrupt])
    legacy = _landing_sources(paths, {c.key for c in corrupt if not archived[c.key][0]})
    store = paths.store
    for c in corrupt:
        files, missing = archived[c.key]
        in_order = True
        if missing:
            report.unrepairable.append((c.key, f"the archive lacks {len(missing)} file(s) ingested into it: "
                                               + ", ".join(missing[:5])))
            continue
        if not files:
            files, in_order = legacy.get(c.key, []), False
        if not files:
            report.unrepairable.append((c.key, "no archived or landing file carries its rows"))
            continue
        obj = partition_key_path(c.key)
        kept = f"{c.key.timeframe}__{c.key.symbol}__{c.key.month}.{time.time_ns()}.parquet.corrupt"
        dest = paths.quarantine / "lake" / kept
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(store.read_bytes(obj))
        store.delete(obj)
        report.moved_to[c.location] = str(dest)
        ingest_files(files, paths, only_partitions=[c.key], raise_on_reject=False, in_order=in_order)
        problem = check_partition(paths, obj)
        if problem is None:
            report.repaired.append(c.key)
        else:
            report.unrepairable.append((c.key, f"rebuilt from {len(files)} file(s) but still {problem}"))
    return report
