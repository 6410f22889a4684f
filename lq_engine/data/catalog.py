"""The DuckDB catalog: a ``bars`` view over the lake and the ``ingest_log`` table.

Only one process may write a DuckDB file, so every write connection is taken under an exclusive
lock on the sidecar ``catalog.duckdb.lock``; readers take a shared lock and a read-only
connection. Writers keep their connection short: an ingest batch opens one connection at its end.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from lq_engine.data.lake import bars_root, visible_parquet_files
from lq_engine.data.locks import file_lock
from lq_engine.data.paths import DataPaths

INGEST_LOG_DDL = """
CREATE TABLE IF NOT EXISTS ingest_log (
    file VARCHAR NOT NULL,
    sha256 VARCHAR,
    rows_read BIGINT,
    rows_new BIGINT,
    rows_replaced BIGINT,
    rows_unchanged BIGINT,
    partitions VARCHAR,
    status VARCHAR NOT NULL,
    reason VARCHAR,
    ingested_at TIMESTAMPTZ NOT NULL
)
"""
_EMPTY_BARS = (
    "SELECT NULL::VARCHAR AS symbol, NULL::VARCHAR AS timeframe, NULL::BIGINT AS ts, NULL::DOUBLE AS open, "
    "NULL::DOUBLE AS high, NULL::DOUBLE AS low, NULL::DOUBLE AS close, NULL::DOUBLE AS volume, "
    "NULL::VARCHAR AS month WHERE false"
)


def _lock(paths: DataPaths) -> Path:
    return paths.catalog.with_name(paths.catalog.name + ".lock")


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def bars_view_sql(paths: DataPaths) -> str:
    if not visible_parquet_files(paths):
        return f"CREATE OR REPLACE VIEW bars AS {_EMPTY_BARS}"
    glob = _sql_str(str(bars_root(paths).resolve() / "timeframe=*" / "symbol=*" / "month=*" / "*.parquet"))
    return (
        "CREATE OR REPLACE VIEW bars AS SELECT symbol, timeframe, ts, open, high, low, close, volume, month "
        f"FROM read_parquet({glob}, hive_partitioning=true, "
        "hive_types={'timeframe': VARCHAR, 'symbol': VARCHAR, 'month': VARCHAR})"
    )


@contextmanager
def catalog_writer(paths: DataPaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one write connection (exclusive lock held while it is open)."""
    paths.catalog.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(_lock(paths)):
        con = duckdb.connect(str(paths.catalog))
        try:
            yield con
        finally:
            con.close()


@contextmanager
def catalog_reader(paths: DataPaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection (shared lock); creates the catalog first if it does not exist."""
    if not paths.catalog.exists():
        ensure_catalog(paths)
    with file_lock(_lock(paths), shared=True):
        con = duckdb.connect(str(paths.catalog), read_only=True)
        try:
            yield con
        finally:
            con.close()


def _create(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> None:
    """Tables if missing; the view only when its definition changes (it re-globs the lake per query)."""
    con.execute(INGEST_LOG_DDL)
    want = bars_view_sql(paths)
    tag = "lq:" + hashlib.sha256(want.encode()).hexdigest()[:16]
    have = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'bars' AND NOT internal").fetchone()
    if have is None or have[0] != tag:
        con.execute(want)
        con.execute(f"COMMENT ON VIEW bars IS '{tag}'")


def ensure_catalog(paths: DataPaths) -> None:
    """Create the tables and (re)point the ``bars`` view at the lake. Idempotent."""
    with catalog_writer(paths) as con:
        _create(con, paths)


def _log_rows(reports: Iterable, now: datetime) -> list[tuple]:
    return [
        (r.file, r.sha256, r.rows_read, r.rows_new, r.rows_replaced, r.rows_unchanged,
         ",".join(str(p) for p in r.partitions), "ok", None, now)
        for r in reports
    ]


def _quarantine_rows(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> list[tuple]:
    """Rejections reported in the quarantine folder that the log does not hold yet."""
    q = paths.quarantine
    if not q.is_dir():
        return []
    logged = {(f, s) for f, s in con.execute("SELECT file, sha256 FROM ingest_log WHERE status = 'rejected'").fetchall()}
    out = []
    for rep in sorted(q.glob("*.reason.json")):
        try:
            d = json.loads(rep.read_text())
        except (OSError, ValueError):
            continue
        if (d.get("file"), d.get("sha256")) in logged:
            continue
        when = datetime.fromisoformat(d["when"]) if d.get("when") else datetime.now(timezone.utc)
        out.append((d.get("file"), d.get("sha256"), None, None, None, None, None, "rejected", d.get("message"), when))
    return out


def record_ingests(paths: DataPaths, reports: Iterable) -> None:
    """One write connection: refresh view, log these ingests and any new quarantine reports.

    A rejection itself never touches the catalog (so it changes nothing); it shows up in
    ``ingest_log`` from its quarantine report at the next successful write.
    """
    now = datetime.now(timezone.utc)
    with catalog_writer(paths) as con:
        _create(con, paths)
        rows = _log_rows(reports, now) + _quarantine_rows(con, paths)
        if rows:
            con.executemany("INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def symbol_row_counts(paths: DataPaths) -> dict[str, int]:
    """Rows in the ``bars`` view per symbol (all timeframes)."""
    with catalog_reader(paths) as con:
        rows = con.execute("SELECT symbol, count(*) FROM bars GROUP BY symbol ORDER BY symbol").fetchall()
    return {s: int(n) for s, n in rows}
