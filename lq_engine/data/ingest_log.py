"""The ingest log: one small append-only Parquet file per ingest batch, in the lake's ``_ingest_log/``.

An ingest never opens the DuckDB catalog: it writes its log rows here (atomically, like a lake
partition), and the catalog's ``ingest_log`` view reads these files together with the quarantine
reports (the rejections). So concurrent ingests never contend for the DuckDB write lock, and a
rejected file changes neither the lake nor the catalog.

Compaction. Small files pile up (one per batch), so once there are ``COMPACT_AT`` of them an
ingest folds them into one file. Every row of a compacted file carries its origin (``_source``:
the log file it was first written to, ``_row``: its row there); the view keeps one copy per
origin. So a crash after the compacted file is published but before its sources are deleted
shows no duplicate, and a later compaction simply folds everything again.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from lq_engine.data.locks import file_lock
from lq_engine.data.paths import DataPaths
from lq_engine.data.store import TMP_PREFIX, Staged, stage_parquet, sync_paths

# The columns of the catalog's ingest_log view, in order, and their types in the log files.
LOG_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "sha256": pl.String(),
    "rows_read": pl.Int64(),
    "rows_new": pl.Int64(),
    "rows_replaced": pl.Int64(),
    "rows_unchanged": pl.Int64(),
    "partitions": pl.String(),
    "status": pl.String(),
    "reason": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
}


# When the user asked for the ingest (a landing file: when it arrived there; else when the ingest
# ran). Not a column of the view; the landing sensor compares it with a landing file's arrival.
INTENT_SCHEMA: dict[str, pl.DataType] = {"requested_at": pl.Datetime("us", "UTC")}
# Origin columns, present in compacted files only.
ORIGIN_SCHEMA: dict[str, pl.DataType] = {"_source": pl.String(), "_row": pl.Int64()}
COMPACT_AT = 256  # log files that trigger a compaction at the end of an ingest


LOG_PREFIX = "_ingest_log"


def ingest_log_dir(paths: DataPaths) -> Path:
    """The log's local folder (local lakes only)."""
    return paths.lake / LOG_PREFIX


def _log_files(paths: DataPaths) -> list[str]:
    return [k for k in paths.store.list(LOG_PREFIX, ".parquet") if k.count("/") == 1]


def _new_name(tag: str = "") -> str:
    """Names start with the time in ns, so files sort in ingest order; a random suffix keeps
    concurrent writers apart."""
    return f"{LOG_PREFIX}/{time.time_ns():020d}-{tag}{uuid.uuid4().hex[:12]}.parquet"


def log_frame(reports: Iterable, when: datetime) -> pl.DataFrame:
    """One 'ok' row per IngestReport, in the log schema."""
    rows = [
        (r.file, r.sha256, r.rows_read, r.rows_new, r.rows_replaced, r.rows_unchanged,
         ",".join(str(p) for p in r.partitions), "ok", None, when, getattr(r, "requested_at", None) or when)
        for r in reports
    ]
    return pl.DataFrame(rows, schema={**LOG_SCHEMA, **INTENT_SCHEMA}, orient="row")


STALE_TEMP_SECONDS = 3600  # a temporary log file this old was left by a killed ingest


def _clean_stale_temps(folder: Path) -> None:
    """Concurrent ingests share the folder, so only temporary files old enough to be abandoned go."""
    if not folder.is_dir():
        return
    cutoff = time.time() - STALE_TEMP_SECONDS
    for p in folder.glob(f"{TMP_PREFIX}*"):
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink()
        except FileNotFoundError:
            pass


def stage_ingest_log(paths: DataPaths, reports: Iterable, *, txid: str = "") -> Staged | None:
    """The reports as one new local log file, staged (see ``store.Staged``; not fsynced); None if
    there are none. ``txid``: the ingest transaction (``journal``) that will publish it."""
    df = log_frame(reports, datetime.now(timezone.utc))
    if df.height == 0:
        return None
    _clean_stale_temps(ingest_log_dir(paths))
    return stage_parquet(df, paths.store.local_path(_new_name()), txid=txid)


def record_ingests(paths: DataPaths, reports: Iterable, *, sync_first: set[Path] | None = None) -> Path | None:
    """Append the reports as one new log file, durably; returns its path (None if no reports).

    ``sync_first``: files and directories to fsync before the log file is published (an ingest
    passes the lake directories it changed, so the log never names data a crash could lose);
    their fsyncs start at once, while the log file is written, and end with its own. On an object
    store the log object is simply put after the partitions (each put is durable when it returns).
    """
    if paths.remote:
        df = log_frame(reports, datetime.now(timezone.utc))
        if df.height == 0:
            return None
        key = _new_name()
        paths.store.write_parquet(key, df)
        if len(_log_files(paths)) >= COMPACT_AT:
            compact_ingest_log(paths, wait=False)
        return Path(key)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lq-log-sync") as pool:
        first = pool.submit(sync_paths, set(sync_first)) if sync_first else None  # starts while staging
        staged = stage_ingest_log(paths, reports)
        try:
            if staged is not None:
                sync_paths({staged.tmp})
            if first is not None:
                first.result()
        except BaseException:
            if staged is not None:
                staged.discard()
            raise
    if staged is None:
        return None
    staged.publish()
    if _count_log_files(staged.target.parent) >= COMPACT_AT:
        compact_ingest_log(paths, wait=False)
    return staged.target


def maybe_compact(paths: DataPaths) -> None:
    """Fold the log once there are ``COMPACT_AT`` files (skipped if another compaction runs)."""
    folder = ingest_log_dir(paths)
    if folder.is_dir() and _count_log_files(folder) >= COMPACT_AT:
        compact_ingest_log(paths, wait=False)


def _count_log_files(folder: Path) -> int:
    with os.scandir(folder) as it:
        return sum(1 for e in it if e.name.endswith(".parquet"))


def compact_ingest_log(paths: DataPaths, *, wait: bool = True) -> int:
    """Fold every log file into one (see the module docstring); returns how many were folded.

    One compaction at a time (a lock); with ``wait=False`` it is skipped if another is running.
    Ingests may publish meanwhile: only the files read are deleted.
    """
    store = paths.store
    try:
        with file_lock(paths.locks / "_ingest_log.lock", timeout=300 if wait else 0):
            files = _log_files(paths)
            if len(files) < 2:
                return 0
            parts = []
            for f in files:
                df = store.read_parquet(f)
                if "_source" not in df.columns:
                    name = f.rsplit("/", 1)[-1]
                    df = df.with_columns(pl.lit(name).alias("_source"),
                                         pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"))
                if "requested_at" not in df.columns:
                    df = df.with_columns(pl.col("ingested_at").alias("requested_at"))
                schema = {**LOG_SCHEMA, **INTENT_SCHEMA, **ORIGIN_SCHEMA}
                parts.append(df.select(*schema).cast(schema))
            merged = pl.concat(parts)
            store.write_parquet(_new_name("compact-"), merged)
            for f in files:
                store.delete(f)
            if not store.remote:
                sync_paths({ingest_log_dir(paths)})
            return len(files)
    except TimeoutError:
        if wait:
            raise
        return 0


def ingested_partitions(paths: DataPaths) -> dict[str, set[str]]:
    """sha256 of every file ingested without error -> the partitions (``str(PartitionKey)``) it was
    merged into, from the log files (no catalog). The landing sensor uses it to skip files that
    `lq ingest` already put in the lake. Best effort: a log file removed by a concurrent compaction
    is skipped (its rows are in the compacted file, read on the next call)."""
    out: dict[str, set[str]] = {}
    for key in _log_files(paths):
        try:
            df = paths.store.read_parquet(key)
        except Exception:  # compacted away meanwhile
            continue
        if "status" in df.columns:
            df = df.filter(pl.col("status") == "ok")
        for sha, parts in df.select("sha256", "partitions").iter_rows():
            if sha:
                out.setdefault(sha, set()).update(p for p in (parts or "").split(",") if p)
    return out


@dataclass(frozen=True)
class Applied:
    """One file applied to the lake, from the log: in ``ingest_history`` order."""

    file: str
    sha256: str
    partitions: frozenset[str]
    ingested_at: datetime
    requested_at: datetime


def ingest_history(paths: DataPaths) -> list[Applied]:
    """Every file ingested without error, in the order the ingests were applied (log time, then
    the log file and row), each entry once (a compacted copy and its origin are one)."""
    rows = []
    seen: set[tuple[str, int]] = set()
    for key in _log_files(paths):
        try:
            df = paths.store.read_parquet(key)
        except Exception:  # compacted away meanwhile
            continue
        name = key.rsplit("/", 1)[-1]
        if "_source" not in df.columns:
            df = df.with_columns(pl.lit(name).alias("_source"), pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"))
        if "requested_at" not in df.columns:
            df = df.with_columns(pl.col("ingested_at").alias("requested_at"))
        if "status" in df.columns:
            df = df.filter(pl.col("status") == "ok")
        for file, sha, parts, when, asked, src, row in df.select("file", "sha256", "partitions", "ingested_at",
                                                                 "requested_at", "_source", "_row").iter_rows():
            if (src, row) in seen or not sha:
                continue
            seen.add((src, row))
            rows.append((when, src, row, Applied(file, sha, frozenset(p for p in (parts or "").split(",") if p), when,
                                                 asked or when)))
    rows.sort(key=lambda r: r[:3])
    return [r[3] for r in rows]
