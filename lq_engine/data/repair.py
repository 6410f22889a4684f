"""Lake repair (``integrity`` finds what is damaged): ``repair_lake``
rebuilds each from the raw archive (``archive``: every ingested file by content; replaying the ones
that went into a partition, in the order they were ingested, restores it byte for byte) or says
which ones it cannot rebuild. A corrupt file is moved to ``quarantine/lake/`` first, never deleted.

``remove_symbol`` (``lq lake rm``) takes a symbol out of the lake the same way: its partitions move
to ``quarantine/lake/`` (``quarantine_partition``: one layout for both), nothing is deleted, and a
later ingest of its files brings it back.
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
from lq_engine.data.lake import list_partitions, lock_path, partition_key_path
from lq_engine.data.locks import file_lock
from lq_engine.data.paths import DataPaths
from lq_engine.data.schema import PartitionKey
from lq_engine.errors import NotFoundError, did_you_mean


@dataclass
class RepairReport:
    repaired: list[PartitionKey] = field(default_factory=list)
    unrepairable: list[tuple[PartitionKey, str]] = field(default_factory=list)  # (key, why)
    moved_to: dict[str, str] = field(default_factory=dict)  # corrupt object -> where it was kept


def quarantine_partition(paths: DataPaths, key: PartitionKey, kind: str) -> Path:
    """Move partition ``key``'s file out of the lake to ``quarantine/lake/<tf>__<symbol>__<month>.<ns>.parquet.<kind>``
    ('corrupt': repaired, 'removed': ``lq lake rm``); returns where it now is. Copied, then deleted
    from the lake (the lake may be an object store)."""
    store, obj = paths.store, partition_key_path(key)
    dest = paths.quarantine / "lake" / f"{key.timeframe}__{key.symbol}__{key.month}.{time.time_ns()}.parquet.{kind}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(store.read_bytes(obj))
    store.delete(obj)
    return dest


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
        report.moved_to[c.location] = str(quarantine_partition(paths, c.key, "corrupt"))
        ingest_files(files, paths, only_partitions=[c.key], raise_on_reject=False, in_order=in_order)
        problem = check_partition(paths, obj)
        if problem is None:
            report.repaired.append(c.key)
        else:
            report.unrepairable.append((c.key, f"rebuilt from {len(files)} file(s) but still {problem}"))
    return report


def remove_symbol(paths: DataPaths, symbol: str, timeframe: str | None = None) -> list[tuple[PartitionKey, Path]]:
    """Move every lake partition of ``symbol`` (of ``timeframe`` only, if given) to
    ``quarantine/lake/`` (``quarantine_partition``), each under its partition lock; returns
    (partition, where it now is). The catalog's ``bars`` view globs the lake, so the symbol is gone
    from it at once. NotFoundError (naming the symbol, the closest one
    and what the lake has) if nothing matches."""
    if not paths.remote:
        recover(paths)  # an ingest decided but cut short by a kill: finished first, then removed
    parts = list_partitions(paths)
    keys = [k for k in parts if k.symbol == symbol and (timeframe is None or k.timeframe == timeframe)]
    if not keys:
        tfs = sorted({k.timeframe for k in parts if k.symbol == symbol})
        if tfs:
            raise NotFoundError(f"symbol {symbol} has no {timeframe} bars in the lake (it has {', '.join(tfs)})")
        symbols = sorted({k.symbol for k in parts})
        raise NotFoundError(f"symbol '{symbol}' is not in the lake{did_you_mean(symbol, symbols)}; symbols in the "
                            f"lake: {', '.join(symbols[:30]) or 'none'}" + (" ..." if len(symbols) > 30 else ""))
    moved = []
    for key in keys:
        with file_lock(lock_path(paths, key)):
            if not paths.store.exists(partition_key_path(key)):  # removed meanwhile by another lq lake rm
                continue
            moved.append((key, quarantine_partition(paths, key, "removed")))
        if not paths.remote:  # no empty month= / symbol= folders left behind
            folder = paths.store.local_path(partition_key_path(key)).parent
            for d in (folder, folder.parent):
                try:
                    d.rmdir()
                except OSError:  # not empty (or gone)
                    break
    return moved
