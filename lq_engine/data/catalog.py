"""The DuckDB catalog: views over the lake, opened or rebuilt by anyone, written by no one.

Views: ``bars`` (the lake's bar partitions), ``ingest_log`` (the ingest-log Parquet files and the
quarantine reports) and one per result table in the lake (``results``: prefilter_scores,
replay_candidates, optimization_winners, backend_benchmark, paper_runs, ...). They read objects
only, locally or on an object store (DuckDB reads ``s3://`` through pyarrow's filesystem, registered
on the connection: the httpfs extension is never downloaded), and re-glob on every query, so a
result written a moment ago is visible at once.

``catalog_reader`` opens an in-memory DuckDB connection with the views, so no process ever waits on
a DuckDB lock. ``ensure_catalog`` also writes them to ``catalog.duckdb`` for other tools: a new file
built under a temporary name and renamed into place (an open reader keeps the old one), brought up
to date when the set of tables changes. An older catalog that held result tables has them copied
into the lake on the first rebuild.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import duckdb
import polars as pl

from lq_engine.data.ingest_log import LOG_PREFIX, LOG_SCHEMA
from lq_engine.data.lake import BARS
from lq_engine.data.paths import DataPaths
from lq_engine.data.result_layout import glob_of, list_tables, put_table, table_keys
from lq_engine.errors import LQError

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
_BASE_VIEWS = ("bars", "ingest_log")


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def bars_view_sql(paths: DataPaths) -> str:
    glob = _sql_str(paths.store.uri_of(f"{BARS}/timeframe=*/symbol=*/month=*/*.parquet"))
    return (
        "CREATE OR REPLACE VIEW bars AS SELECT symbol, timeframe, ts, open, high, low, close, volume, month "
        f"FROM ({_BARS_EMPTY} UNION ALL BY NAME SELECT * FROM read_parquet({glob}, allow_empty=true, "
        "hive_partitioning=true, hive_types={'timeframe': VARCHAR, 'symbol': VARCHAR, 'month': VARCHAR}))"
    )


def ingest_log_view_sql(paths: DataPaths) -> str:
    """Logged ingests ('ok') and quarantine reports ('rejected', reason = the error message)."""
    logs = _sql_str(paths.store.uri_of(f"{LOG_PREFIX}/*.parquet"))
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


def result_view_sql(paths: DataPaths, table: str) -> str | None:
    glob = glob_of(paths, table)
    if glob is None:
        return None
    return (f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM read_parquet({_sql_str(glob)}, '
            "hive_partitioning=true, hive_types_autocast=false, union_by_name=true)")


def views_sql(paths: DataPaths) -> tuple[dict[str, str], str]:
    """{view: its CREATE statement} and a tag of them all."""
    out = {"bars": bars_view_sql(paths), "ingest_log": ingest_log_view_sql(paths)}
    for t in list_tables(paths):
        if t not in out:
            sql = result_view_sql(paths, t)
            if sql:
                out[t] = sql
    return out, "lq:" + hashlib.sha256("\n".join(out.values()).encode()).hexdigest()[:16]


def open_catalog(paths: DataPaths) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with every view (the caller closes it)."""
    con = duckdb.connect(":memory:")
    try:
        paths.store.register_duckdb(con)
        views, _ = views_sql(paths)
        for sql in views.values():
            con.execute(sql)
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def catalog_reader(paths: DataPaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the catalog's views over the current lake (nothing is locked). A
    ``catalog.duckdb`` file, if there is one, is brought up to date first (an older one migrated)."""
    if paths.catalog.exists():
        ensure_catalog(paths)
    con = open_catalog(paths)
    try:
        yield con
    finally:
        con.close()


def _file_tag(paths: DataPaths) -> str | None:
    if not paths.catalog.exists():
        return None
    try:
        with duckdb.connect(str(paths.catalog), read_only=True) as con:
            rows = con.execute("SELECT comment FROM duckdb_views() WHERE NOT internal "
                               "AND view_name = 'bars'").fetchall()
    except duckdb.Error:
        return None
    return rows[0][0] if rows else None


def _migrate_old_catalog(paths: DataPaths) -> None:
    """Tables of an older catalog file (an ingest_log table, result tables) copied into the lake.

    The ingest log's 'ok' rows go to a log file under a fixed name (a repeated migration
    overwrites it); its 'rejected' rows come back from the quarantine reports. A result table is
    copied per (dataset, strategy), per run_id, or whole, unless the lake already has that table.
    """
    try:
        con = duckdb.connect(str(paths.catalog), read_only=True)
    except duckdb.Error:
        return
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        for t in tables:
            df = pl.from_arrow(con.sql(f'SELECT * FROM "{t}"').to_arrow_table())
            if t == "ingest_log":
                ok = df.filter(pl.col("status") == "ok").select(list(LOG_SCHEMA)).sort("ingested_at")
                if ok.height:
                    paths.store.write_parquet(f"{LOG_PREFIX}/{0:020d}-legacy-table.parquet", ok.cast(LOG_SCHEMA))
                continue
            if table_keys(paths, t) is not None or not df.height:
                continue
            by = [c for c in (("dataset", "strategy") if "strategy" in df.columns else ("run_id",)) if c in df.columns]
            if not by:
                put_table(paths, t, df)
                continue
            for keys, part in df.partition_by(by, as_dict=True, maintain_order=True).items():
                put_table(paths, t, part, dict(zip(by, (str(k) for k in keys))))
    finally:
        con.close()


def ensure_catalog(paths: DataPaths) -> None:
    """Write ``catalog.duckdb`` with the current views (only if they changed). Idempotent, and
    safe to run in several processes at once: each builds its own file and renames it into place."""
    views, tag = views_sql(paths)
    have = _file_tag(paths)
    if have == tag:
        return
    if paths.catalog.exists():
        _migrate_old_catalog(paths)
        views, tag = views_sql(paths)
    paths.catalog.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.catalog.with_name(f".{paths.catalog.name}.{uuid.uuid4().hex}.tmp")
    try:
        con = duckdb.connect(str(tmp))
        try:
            paths.store.register_duckdb(con)
            for name, sql in views.items():
                con.execute(sql)
                con.execute(f"COMMENT ON VIEW \"{name}\" IS '{tag}'")
        finally:
            con.close()
        os.replace(tmp, paths.catalog)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)


class SqlRefused(LQError, ValueError):
    """A user's SQL that is not one read-only query over the catalog (or that failed)."""


# One statement, and only a SELECT: nothing that writes (COPY, CREATE, INSERT, ATTACH, SET,
# INSTALL, LOAD, PRAGMA, ...) gets as far as DuckDB. Not EXPLAIN either: EXPLAIN ANALYZE runs
# the statement it explains, a COPY included.
ALLOWED_STATEMENTS = ("SELECT",)


SQL_TIMEOUT_S = 60.0
"""How long ``lq sql`` lets one query run by default (``--timeout``)."""


class SqlTimeout(SqlRefused):
    """A user's query that ran past its time limit (stopped, nothing written)."""

    exit_code = 1


def _sandbox(con: duckdb.DuckDBPyConnection, paths: DataPaths, spill: str) -> None:
    """After the views exist: files only under the lake (results included) and the quarantine
    reports, no extension installed or loaded, and the configuration locked so a query cannot undo
    it. DuckDB also allows its temp directory (``<cwd>/.tmp`` by default: the working folder's
    files would be readable), so it is ``spill``, a fresh private folder of this query."""
    allowed = [paths.store.uri_of("").rstrip("/") + "/", str(paths.quarantine.resolve()) + "/"]
    con.execute(f"SET temp_directory = {_sql_str(spill)}")
    con.execute("SET allowed_directories = " + "[" + ", ".join(_sql_str(a) for a in allowed) + "]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def _first_line(e: BaseException) -> str:
    return " ".join(str(e).strip().splitlines()[0].split()) if str(e).strip() else type(e).__name__


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.cache
def _keywords() -> frozenset[str]:
    """DuckDB's keywords that cannot stand bare as a column name everywhere (all but 'unreserved')."""
    with duckdb.connect(":memory:") as con:
        rows = con.execute("SELECT keyword_name FROM duckdb_keywords() "
                           "WHERE keyword_category <> 'unreserved'").fetchall()
    return frozenset(r[0].lower() for r in rows)


def _quote_to_parse(sql: str) -> str | None:
    """The keyword of ``sql`` (one that DuckDB reserves) whose double-quoting makes it parse, if
    any: ``SELECT window, n_bars FROM replay_windows`` fails 'at or near ","', and parses with
    ``"window"``. Each candidate is tried by parsing, so the hint is never a guess; one right after
    a name, a constant or ')' is not a candidate (quoted, it would parse as an alias: ``FROM bars
    "WHERE"``)."""
    tokens = duckdb.tokenize(sql)
    with duckdb.connect(":memory:") as parser:
        for i, (pos, kind) in enumerate(tokens):
            word = _WORD.match(sql, pos)
            if kind != duckdb.token_type.keyword or not word or word.group().lower() not in _keywords():
                continue
            before = tokens[i - 1] if i else None
            if before and (before[1] not in (duckdb.token_type.keyword, duckdb.token_type.operator)
                           or sql[before[0]:pos].strip().endswith(")")):
                continue
            try:
                parser.extract_statements(f'{sql[:pos]}"{word.group()}"{sql[word.end():]}')
            except duckdb.Error:
                continue
            return word.group()
    return None


def _failed(e: BaseException, sql: str) -> SqlRefused:
    """DuckDB's error as one line; a syntax error that quoting a reserved word mends says so
    (DuckDB only says 'syntax error at or near', at the token after it)."""
    line = f"query failed: {_first_line(e)}"
    word = _quote_to_parse(sql) if isinstance(e, duckdb.ParserException) else None
    if word:
        line += (f': "{word}" is a reserved word in DuckDB: to use it as a column name, '
                 f'write "{word}" (in double quotes)')
    return SqlRefused(line)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, limit: int | None, out: dict) -> None:
    """Run ``sql`` and keep at most ``limit`` rows, streamed in batches (a result is never built
    whole beyond ``limit``). Runs in a thread; what it got or raised goes into ``out``."""
    import pyarrow as pa  # lazy: ~0.3 s at start-up, only query results need it

    reader = None
    try:
        reader = con.sql(sql).to_arrow_reader(min(limit, 100_000) if limit else 100_000)
        batches, rows = [], 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if limit is not None and rows >= limit:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
        out["df"] = pl.from_arrow(table if limit is None else table.slice(0, limit))
    except BaseException as e:  # handed to the waiting thread
        out["error"] = e
    finally:
        if reader is not None:
            # a stream left open (the limit reached first) keeps DuckDB producing into it; closed
            # here, not at interpreter exit, where its threads aborted the process (SIGABRT)
            con.interrupt()
            reader.close()
        out["done"].set()


def _stop(con: duckdb.DuckDBPyConnection, done) -> None:
    """Interrupt the query until its thread is done: an interrupt that comes before DuckDB started
    the query (still binding it) is lost, so it is repeated."""
    while not done.is_set():
        con.interrupt()
        done.wait(0.2)


def query_readonly(paths: DataPaths, sql: str, *, limit: int | None = None,
                   timeout_s: float | None = None) -> pl.DataFrame:
    """Run one read-only query of a user over the catalog's views; anything else is refused with
    one line (SqlRefused) before it runs. The catalog file and the lake are never opened for writing:
    the views live on an in-memory connection that can read the lake and nothing else.

    At most ``limit`` rows are fetched (streamed; None: all). A query running past ``timeout_s``
    is interrupted (SqlTimeout); so is one whose waiting thread gets Ctrl-C or SIGTERM (as
    KeyboardInterrupt): DuckDB runs in a worker thread and ``con.interrupt()`` stops it in seconds."""
    try:
        with duckdb.connect(":memory:") as parser:
            statements = parser.extract_statements(sql)
    except duckdb.Error as e:
        raise _failed(e, sql) from None
    if len(statements) != 1:
        raise SqlRefused(f"one statement per call, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in ALLOWED_STATEMENTS:
        words = statements[0].query.split()
        shown = words[0].upper() if words else kind  # INSTALL parses as a LOAD statement: say what was typed
        raise SqlRefused(f"refused: {shown} statements are not allowed (the catalog is read-only; "
                         "only SELECT queries run)")
    if limit is not None and limit < 0:
        raise SqlRefused(f"limit must be >= 0, got {limit}")
    if timeout_s is not None and not timeout_s > 0:
        raise SqlRefused(f"timeout must be > 0 seconds, got {timeout_s}")
    spill = tempfile.mkdtemp(prefix="lq-sql-")
    try:
        with catalog_reader(paths) as con:
            _sandbox(con, paths, spill)
            # an Event, not Thread.join: a join that Ctrl-C interrupts marks a running thread as
            # stopped (CPython < 3.13), and the connection would be closed under the query
            out: dict = {"done": threading.Event()}
            threading.Thread(target=_fetch, args=(con, sql, limit, out), daemon=True, name="lq-sql-query").start()
            start = time.monotonic()
            try:
                while not out["done"].wait(0.1):
                    if timeout_s is not None and time.monotonic() - start > timeout_s:
                        _stop(con, out["done"])
                        raise SqlTimeout(f"query stopped after {timeout_s:g} s (its time limit; lq sql --timeout)")
            except KeyboardInterrupt:
                _stop(con, out["done"])
                raise
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    if "error" in out:
        e = out["error"]
        if isinstance(e, duckdb.PermissionException) or isinstance(e, PermissionError):
            raise SqlRefused(f"refused: {_first_line(e)} "
                             "(queries read the catalog's views over the lake only)") from None
        if isinstance(e, duckdb.Error):
            raise _failed(e, sql) from None
        raise e
    return out["df"]


# The lake's convention: an integer column named ``ts`` or ``<what>_ts`` holds nanoseconds since the
# epoch, UTC (``bars.ts``, the trades, fills, weights and equity of the result tables; ``start_ts`` /
# ``end_ts`` of windows, ``entry_ts`` / ``exit_ts`` of round trips, ``first_ts`` / ``last_ts`` of paper runs).
EPOCH_NS_COLUMN = re.compile(r"^(?:.+_)?ts$")


def timestamp_columns(schema: Mapping[str, pl.DataType]) -> list[str]:
    """The columns of a result that hold instants: native timestamps (DuckDB TIMESTAMP, TIMESTAMPTZ,
    ...) and integer columns named by the lake's convention for ns epochs (``EPOCH_NS_COLUMN``).
    Decided by name and type, never by the values."""
    return [c for c, t in schema.items()
            if isinstance(t, pl.Datetime) or (t.is_integer() and EPOCH_NS_COLUMN.match(c))]


def with_iso_times(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with its ``timestamp_columns`` as ISO 8601 UTC text, as ``schema.format_ns`` writes one
    instant: ``2013-11-04T00:00:00Z``, nine decimals when there is a fraction of a second. A
    timestamp without a time zone is taken as UTC (the lake stores UTC only); nulls stay null."""
    exprs = []
    for c in timestamp_columns(df.schema):
        t = df.schema[c]
        if isinstance(t, pl.Datetime):
            instant = pl.col(c).dt.convert_time_zone("UTC") if t.time_zone else pl.col(c)
        else:
            instant = pl.from_epoch(pl.col(c).cast(pl.Int64, strict=False), time_unit="ns")
        exprs.append(pl.when(instant.dt.nanosecond() == 0)
                     .then(instant.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
                     .otherwise(instant.dt.strftime("%Y-%m-%dT%H:%M:%S%.9fZ")).alias(c))
    return df.with_columns(exprs) if exprs else df


def symbol_row_counts(paths: DataPaths) -> dict[str, int]:
    """Rows in the ``bars`` view per symbol (all timeframes)."""
    with catalog_reader(paths) as con:
        rows = con.execute("SELECT symbol, count(*) FROM bars GROUP BY symbol ORDER BY symbol").fetchall()
    return {s: int(n) for s, n in rows}
