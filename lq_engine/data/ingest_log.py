"""The ingest log: one small append-only Parquet file per ingest batch, in ``lake/_ingest_log/``.

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
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from lq_engine.data.lake import TMP_PREFIX, Staged, stage_parquet, sync_paths
from lq_engine.data.locks import file_lock
from lq_engine.data.paths import DataPaths

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


# Origin columns, present in compacted files only.
ORIGIN_SCHEMA: dict[str, pl.DataType] = {"_source": pl.String(), "_row": pl.Int64()}
COMPACT_AT = 256  # log files that trigger a compaction at the end of an ingest


def ingest_log_dir(paths: DataPaths) -> Path:
    return paths.lake / "_ingest_log"


def _log_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def log_frame(reports: Iterable, when: datetime) -> pl.DataFrame:
    """One 'ok' row per IngestReport, in the log schema."""
    rows = [
        (r.file, r.sha256, r.rows_read, r.rows_new, r.rows_replaced, r.rows_unchanged,
         ",".join(str(p) for p in r.partitions), "ok", None, when)
        for r in reports
    ]
    return pl.DataFrame(rows, schema=LOG_SCHEMA, orient="row")


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


def stage_ingest_log(paths: DataPaths, reports: Iterable) -> Staged | None:
    """The reports as one new log file, staged (see ``lake.Staged``); None if there are none.

    The name starts with the time in ns, so files sort in ingest order; a random suffix keeps
    concurrent writers apart.
    """
    df = log_frame(reports, datetime.now(timezone.utc))
    if df.height == 0:
        return None
    _clean_stale_temps(ingest_log_dir(paths))
    return stage_parquet(df, ingest_log_dir(paths) / f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet")


def record_ingests(paths: DataPaths, reports: Iterable, *, sync_first: set[Path] | None = None) -> Path | None:
    """Append the reports as one new log file, durably; returns its path (None if no reports).

    ``sync_first``: files and directories to fsync before the log file is published (an ingest
    passes the lake directories it changed, so the log never names data a crash could lose);
    their fsyncs start at once, while the log file is written, and end with its own.
    """
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


def _count_log_files(folder: Path) -> int:
    with os.scandir(folder) as it:
        return sum(1 for e in it if e.name.endswith(".parquet"))


def compact_ingest_log(paths: DataPaths, *, wait: bool = True) -> int:
    """Fold every log file into one (see the module docstring); returns how many were folded.

    One compaction at a time (a lock); with ``wait=False`` it is skipped if another is running.
    Ingests may publish meanwhile: only the files read are deleted.
    """
    folder = ingest_log_dir(paths)
    try:
        with file_lock(paths.lake / ".locks" / "_ingest_log.lock", timeout=300 if wait else 0):
            files = _log_files(folder)
            if len(files) < 2:
                return 0
            parts = []
            for f in files:
                df = pl.read_parquet(f)
                if "_source" not in df.columns:
                    df = df.with_columns(pl.lit(f.name).alias("_source"), pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"))
                parts.append(df.select(*LOG_SCHEMA, *ORIGIN_SCHEMA).cast({**LOG_SCHEMA, **ORIGIN_SCHEMA}))
            merged = pl.concat(parts)
            staged = stage_parquet(merged, folder / f"{time.time_ns():020d}-compact-{uuid.uuid4().hex[:12]}.parquet")
            try:
                sync_paths({staged.tmp})
            except BaseException:
                staged.discard()
                raise
            staged.publish()
            for f in files:
                f.unlink(missing_ok=True)
            sync_paths({folder})
            return len(files)
    except TimeoutError:
        if wait:
            raise
        return 0
