"""Opening the paper trader's SQLite files: WAL, synchronous=FULL, integrity and version checks.

synchronous=FULL (not NORMAL): in WAL mode NORMAL keeps transactions atomic but may drop the last
commits on a power loss. An intent committed and then sent must survive even that, or the venue
would hold an order this side has forgotten; FULL fsyncs the WAL on every commit, and paper
trading commits a few times per bar, so the cost is negligible.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from lq_engine.live.errors import RESET_HINT, StateError


def _bad(path: Path, problem: str) -> StateError:
    return StateError(f"{path}: {problem}; {RESET_HINT}")


def open_db(path: Path, kind: str, schema_version: int, ddl: str) -> sqlite3.Connection:
    """Open (creating if absent) a state file of ``kind``; refuse a corrupt or foreign one."""
    path = Path(path)
    fresh = not path.exists() or path.stat().st_size == 0
    try:
        con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        if not fresh:
            rows = con.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                con.close()
                raise _bad(path, "integrity check failed (" + "; ".join(str(r[0]) for r in rows[:3]) + ")")
        con.executescript("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);" + ddl)
        have = dict(con.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as e:
        raise _bad(path, f"not a readable SQLite database ({e}): truncated or garbled") from None
    if not have:
        if not fresh:
            con.close()
            raise _bad(path, f"no metadata: not a {kind} state file (or written before its metadata)")
        with transaction(con):
            con.execute("INSERT INTO meta VALUES ('kind', ?), ('schema_version', ?)", (kind, str(schema_version)))
        return con
    if have.get("kind") != kind:
        con.close()
        raise _bad(path, f"holds {have.get('kind')!r} state, expected {kind!r}")
    if have.get("schema_version") != str(schema_version):
        con.close()
        raise _bad(path, f"schema version {have.get('schema_version')!r} is incompatible with this build "
                         f"(reads version {schema_version})")
    return con


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error); a SIGKILL inside leaves nothing behind."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def get_meta(con: sqlite3.Connection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]
