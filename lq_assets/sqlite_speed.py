"""Cheaper writes to the local profile's SQLite event log (``fast_sqlite_writes``).

Dagster's SQLite event log makes a new SQLAlchemy engine for every event it stores (a ``NullPool``
engine, disposed after use): it connects, commits and closes, once in the run's own database and
again in ``index.db`` for an asset event. A run of ``market_bars`` over the bundled data stores
about 1,600 events (one "materialization planned" and one materialization per (symbol, month)
partition), and each of them paid two fsyncs on commit, a checkpoint of the write-ahead log on
close (SQLite checkpoints and deletes the WAL when the last connection to a database closes) and,
in a new engine, the compilation of every SQL statement again: ~15-20 ms an event on this machine,
23-80 s of the demo's ``market_bars`` (issue 21 #7).

In a process that calls ``fast_sqlite_writes``:

- the event log keeps one engine (with a small pool of connections) per database file, the last
  ``KEEP_OPEN`` used: a connection stays open between events (no checkpoint on close) and the
  statements compile once. An engine is replaced when its file is gone or is another file (a
  wiped or deleted run's database made again), so nothing is written to a deleted file.
- ``PRAGMA synchronous=NORMAL`` on each SQLite connection of a database in WAL mode (Dagster's
  event log shards are): a commit appends to the WAL without an fsync; the WAL is synced at
  checkpoints (every 1,000 pages). SQLite: "WAL mode is safe from corruption with
  synchronous=NORMAL"; a power loss (not a crash of the process) may lose the last commits.

Installed by the processes that write events: the CLI's in-process runs and its optimize worker
(``lq_assets.launch``), the daemon (``lq_assets.daemon``, where sensor-launched runs record their
planned events), and the run worker of a ``market_bars`` run (the asset calls it first).
PostgreSQL storage is not touched. Dagster's private ``SqliteEventLogStorage._connect`` is replaced
(same contract: a connection in a transaction, under the storage's lock); ``uv.lock`` pins Dagster,
and ``tests/orchestration/test_sqlite_speed.py`` checks the replacement against the version installed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

KEEP_OPEN = 8  # engines (database files) kept at once: a run's own shard, index.db, ...; the oldest is disposed

_engines: OrderedDict[str, tuple[Any, tuple[int, int] | None]] = OrderedDict()  # conn string -> (engine, file id)
_lock = threading.Lock()
_installed = False
_pid = os.getpid()  # a forked child drops its parent's engines without closing their connections


def fast_sqlite_writes() -> None:
    """Install both changes in this process (idempotent, cheap after the first call)."""
    global _installed
    with _lock:
        if _installed:
            return
        from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "connect", on_connect)
        SqliteEventLogStorage._connect = _pooled_connect  # type: ignore[method-assign]
        _installed = True


def on_connect(dbapi_conn: object, _record: object = None) -> None:
    """``synchronous=NORMAL`` for a SQLite database in WAL mode; anything else is left alone."""
    if not isinstance(dbapi_conn, sqlite3.Connection):
        return
    try:
        mode = dbapi_conn.execute("PRAGMA journal_mode").fetchone()
        if mode and str(mode[0]).lower() == "wal":  # a new database gets WAL from Dagster after this
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:
        pass  # left as Dagster made it


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def engine_for(conn_string: str, path: str) -> Any:
    """The kept engine of ``path``'s database, or a new one (kept) when there is none, the file is
    gone or it is another file than the engine's."""
    import sqlalchemy as db
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS
    from sqlalchemy.pool import QueuePool

    global _pid
    fid = _file_id(path)
    with _lock:
        if os.getpid() != _pid:
            for engine, _ in _engines.values():
                engine.dispose(close=False)
            _engines.clear()
            _pid = os.getpid()
        hit = _engines.get(conn_string)
        if hit is not None and fid is not None and hit[1] == fid:
            _engines.move_to_end(conn_string)
            return hit[0]
        if hit is not None:
            del _engines[conn_string]
            hit[0].dispose()
        engine = db.create_engine(conn_string, poolclass=QueuePool, pool_size=1, max_overflow=8,
                                  connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
        _engines[conn_string] = (engine, fid)
        while len(_engines) > KEEP_OPEN:
            _engines.popitem(last=False)[1][0].dispose()
        return engine


@contextmanager
def _pooled_connect(self: Any, shard: str) -> Iterator[Any]:
    """``SqliteEventLogStorage._connect`` with a kept engine (Dagster's makes and disposes one)."""
    with self._db_lock:
        engine = engine_for(self.conn_string_for_shard(shard), self.path_for_shard(shard))
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        with engine.connect() as conn:
            with conn.begin():
                yield conn


def dispose_engines() -> None:
    """Close every kept engine (each last close checkpoints its WAL into the database)."""
    with _lock:
        while _engines:
            _engines.popitem()[1][0].dispose()
