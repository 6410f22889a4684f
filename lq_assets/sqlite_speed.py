"""Cheaper writes to the local profile's SQLite event log (``fast_sqlite_writes``).

Dagster's SQLite storage opens a new connection for every event it stores (a ``NullPool`` engine),
commits, and closes it: once in the run's own database, and again in ``index.db`` for an asset
event. A run of ``market_bars`` over the bundled data stores about 1,600 events (one
"materialization planned" and one materialization per (symbol, month) partition), and each of them
paid two fsyncs on commit plus, on close, a checkpoint of the write-ahead log into the database file
(SQLite checkpoints and deletes the WAL when the last connection to a database closes): 20 ms an
event on this machine's disk, 23-80 s of the demo's ``market_bars`` (issue 21 #7).

Two changes, both SQLite's documented behaviour, for databases in WAL mode only (Dagster's event
log shards are):

- ``PRAGMA synchronous=NORMAL`` on each connection: a commit appends to the WAL without an fsync;
  the WAL is synced at checkpoints. SQLite: "WAL mode is safe from corruption with
  synchronous=NORMAL"; a power loss (not a crash of the process) may lose the last commits.
- one idle connection kept open to each of the last ``KEEP_OPEN`` databases written: the other
  connections' closes are then not the last one, so they do not checkpoint; SQLite still
  checkpoints every 1,000 pages of WAL, and when the keeper closes (process exit, or LRU eviction).

The result: ~0.3-0.5 ms an event instead of ~15-20 ms. Installed by the processes that write events:
the CLI's in-process runs and its optimize worker (``lq_assets.launch``), the daemon
(``lq_assets.daemon``, where sensor-launched runs record their planned events), and the run worker
of a ``market_bars`` run (the asset calls it first). PostgreSQL storage is not touched.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict

KEEP_OPEN = 8  # databases kept open at once (a run's own shard, index.db, ...); the oldest is closed

_keepers: OrderedDict[str, sqlite3.Connection] = OrderedDict()
_lock = threading.Lock()
_installed = False


def fast_sqlite_writes() -> None:
    """Install the listener for every SQLAlchemy engine of this process (idempotent, cheap)."""
    global _installed
    with _lock:
        if _installed:
            return
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "connect", on_connect)
        _installed = True


def on_connect(dbapi_conn: object, _record: object = None) -> None:
    """For a SQLite file database in WAL mode: ``synchronous=NORMAL`` and a keeper connection."""
    if not isinstance(dbapi_conn, sqlite3.Connection):
        return
    try:
        mode = dbapi_conn.execute("PRAGMA journal_mode").fetchone()
        if not mode or str(mode[0]).lower() != "wal":
            return  # a new database (Dagster turns WAL on after this) or a rollback-journal one
        path = next((row[2] for row in dbapi_conn.execute("PRAGMA database_list") if row[1] == "main"), "")
        if not path:
            return  # in memory
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:
        return  # left as Dagster made it
    _keep_open(path)


def _keep_open(path: str) -> None:
    with _lock:
        if path in _keepers:
            _keepers.move_to_end(path)
            return
        try:
            keeper = sqlite3.connect(path, check_same_thread=False)
            # a read opens the WAL index: until then the keeper does not count as a connection
            keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()  # all: no read left open
        except sqlite3.Error:
            return
        _keepers[path] = keeper
        while len(_keepers) > KEEP_OPEN:
            _, old = _keepers.popitem(last=False)
            old.close()


def close_keepers() -> None:
    """Close every keeper connection (each last close checkpoints its WAL into the database)."""
    with _lock:
        while _keepers:
            _keepers.popitem()[1].close()
