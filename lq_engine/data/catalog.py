"""The DuckDB catalog: the ``bars`` and ``ingest_log`` views over files, plus result tables.

The views read files only: ``bars`` the lake's Parquet partitions, ``ingest_log`` the ingest-log
Parquet files (``ingest_log``) and the quarantine reports (rejections). They answer for an empty
lake too (``allow_empty`` plus a typed empty row set), so they are created once per catalog and
an ingest never opens DuckDB. Whoever opens the catalog first (reader or writer) creates them;
the views carry a tag of their definition, and a catalog whose views are missing or stale (an
older layout, a moved data root) is brought up to date on open.

Only one process may write a DuckDB file, so every write connection is taken under an exclusive
lock on the sidecar ``catalog.duckdb.lock``; readers take a shared lock and a read-only connection.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from lq_engine.data.ingest_log import LOG_SCHEMA, ingest_log_dir
from lq_engine.data.lake import bars_root
from lq_engine.data.locks import file_lock
from lq_engine.data.paths import DataPaths

_BARS_EMPTY = (
    "SELECT NULL::VARCHAR AS symbol, NULL::VARCHAR AS timeframe, NULL::BIGINT AS ts, NULL::DOUBLE AS open, "
    "NULL::DOUBLE AS high, NULL::DOUBLE AS low, NULL::DOUBLE AS close, NULL::DOUBLE AS volume, "
    "NULL::VARCHAR AS month WHERE false"
)
_LOG_COLUMNS = ", ".join(LOG_SCHEMA)
_LOG_EMPTY = (
    "SELECT NULL::VARCHAR AS file, NULL::VARCHAR AS sha256, NULL::BIGINT AS rows_read, NULL::BIGINT AS rows_new, "
    "NULL::BIGINT AS rows_replaced, NULL::BIGINT AS rows_unchanged, NULL::VARCHAR AS partitions, "
    "NULL::VARCHAR AS status, NULL::VARCHAR AS reason, NULL::TIMESTAMPTZ AS ingested_at, "
    "NULL::VARCHAR AS _source, NULL::BIGINT AS _row, NULL::VARCHAR AS filename, NULL::BIGINT AS file_row_number "
    "WHERE false"
)
_REPORT_EMPTY = (
    "SELECT NULL::VARCHAR AS file, NULL::VARCHAR AS sha256, NULL::VARCHAR AS message, NULL::VARCHAR AS \"when\" "
    "WHERE false"
)
_VIEWS = ("bars", "ingest_log")


def _lock(paths: DataPaths) -> Path:
    return paths.catalog.with_name(paths.catalog.name + ".lock")


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def bars_view_sql(paths: DataPaths) -> str:
    glob = _sql_str(str(bars_root(paths).resolve() / "timeframe=*" / "symbol=*" / "month=*" / "*.parquet"))
    return (
        "CREATE OR REPLACE VIEW bars AS SELECT symbol, timeframe, ts, open, high, low, close, volume, month "
        f"FROM ({_BARS_EMPTY} UNION ALL BY NAME SELECT * FROM read_parquet({glob}, allow_empty=true, "
        "hive_partitioning=true, hive_types={'timeframe': VARCHAR, 'symbol': VARCHAR, 'month': VARCHAR}))"
    )


def ingest_log_view_sql(paths: DataPaths) -> str:
    """Logged ingests ('ok') and quarantine reports ('rejected', reason = the error message)."""
    logs = _sql_str(str(ingest_log_dir(paths).resolve() / "*.parquet"))
    reports = _sql_str(str(paths.quarantine.resolve() / "*.reason.json"))
    # one row per origin: a compacted row (_source, _row) and the row it came from are the same entry
    return (
        f"CREATE OR REPLACE VIEW ingest_log AS SELECT {_LOG_COLUMNS} FROM ({_LOG_EMPTY} UNION ALL BY NAME "
        f"SELECT * FROM read_parquet({logs}, allow_empty=true, union_by_name=true, filename=true, "
        "file_row_number=true)) QUALIFY row_number() OVER (PARTITION BY coalesce(_source, parse_filename(filename)), "
        "coalesce(_row, file_row_number) ORDER BY _source NULLS LAST) = 1 "
        "UNION ALL SELECT file, sha256, NULL, NULL, NULL, NULL, NULL, 'rejected', message, \"when\"::TIMESTAMPTZ "
        f"FROM ({_REPORT_EMPTY} UNION ALL BY NAME SELECT * FROM read_json({reports}, allow_empty=true, "
        "columns={'file': 'VARCHAR', 'sha256': 'VARCHAR', 'message': 'VARCHAR', 'when': 'VARCHAR'}))"
    )


def _views_sql(paths: DataPaths) -> tuple[list[str], str]:
    sql = [bars_view_sql(paths), ingest_log_view_sql(paths)]
    return sql, "lq:" + hashlib.sha256("\n".join(sql).encode()).hexdigest()[:16]


def _views_current(con: duckdb.DuckDBPyConnection, tag: str) -> bool:
    have = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE NOT internal AND view_name IN ('bars', 'ingest_log') "
        "AND comment = ?", [tag]
    ).fetchall()[0][0]  # fetchall: duckdb 2 refuses new work while a result is left unfinished
    return have == len(_VIEWS)


@contextmanager
def catalog_writer(paths: DataPaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one write connection (exclusive lock held while it is open); the views are current."""
    paths.catalog.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(_lock(paths)):
        con = duckdb.connect(str(paths.catalog))
        try:
            _create(con, paths)
            yield con
        finally:
            con.close()


@contextmanager
def catalog_reader(paths: DataPaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection (shared lock). Creates the catalog, or brings its views up to date,
    first if needed (a short write connection)."""
    _, tag = _views_sql(paths)
    for fix_first in (False, True):
        if fix_first or not paths.catalog.exists():
            ensure_catalog(paths)
        with file_lock(_lock(paths), shared=True):
            con = duckdb.connect(str(paths.catalog), read_only=True)
            try:
                if fix_first or _views_current(con, tag):
                    yield con
                    return
            finally:
                con.close()


def _migrate_ingest_log_table(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> None:
    """An older catalog kept ``ingest_log`` as a table: move its 'ok' rows to a log file (under a
    fixed name, so a repeated migration overwrites rather than duplicates) and drop it. Its
    'rejected' rows come back from the quarantine reports."""
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'ingest_log'"
    ).fetchall()
    kind = kind[0] if kind else None
    if kind is None or kind[0] != "BASE TABLE":
        return
    folder = ingest_log_dir(paths)
    folder.mkdir(parents=True, exist_ok=True)
    if con.execute("SELECT count(*) FROM ingest_log WHERE status = 'ok'").fetchall()[0][0]:
        tmp = folder / f".tmp-{uuid.uuid4().hex}.partial"
        con.execute(f"COPY (SELECT {_LOG_COLUMNS} FROM ingest_log WHERE status = 'ok' ORDER BY ingested_at) "
                    f"TO {_sql_str(str(tmp))} (FORMAT parquet)")
        tmp.replace(folder / f"{0:020d}-legacy-table.parquet")
    con.execute("DROP TABLE ingest_log")


def _create(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> None:
    """The views, only when missing or stale (they re-glob their files per query)."""
    sql, tag = _views_sql(paths)
    if _views_current(con, tag):
        return
    _migrate_ingest_log_table(con, paths)
    for name, stmt in zip(_VIEWS, sql):
        con.execute(stmt)
        con.execute(f"COMMENT ON VIEW {name} IS '{tag}'")


def ensure_catalog(paths: DataPaths) -> None:
    """Create the catalog and its views (or bring them up to date). Idempotent."""
    with catalog_writer(paths):
        pass


def symbol_row_counts(paths: DataPaths) -> dict[str, int]:
    """Rows in the ``bars`` view per symbol (all timeframes)."""
    with catalog_reader(paths) as con:
        rows = con.execute("SELECT symbol, count(*) FROM bars GROUP BY symbol ORDER BY symbol").fetchall()
    return {s: int(n) for s, n in rows}
