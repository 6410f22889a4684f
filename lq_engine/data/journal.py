"""Ingest transactions on a local lake: a file's new partitions, its raw-archive entry and its
ingest-log row become visible together, or none of them does.

A transaction holds a lock of its own (``locks/tx/<txid>.lock``, an flock the kernel drops when the
process dies) and, taken by the caller before, the locks of every partition it writes. Then:

1. stage: every new file is written under a temporary name beside its target (``.tmp-<txid>-*``,
   which no reader lists) and fsynced; a failure here (a full disk) removes them all, and nothing
   changed;
2. commit: the folders holding them are fsynced, then the journal ``_journal/<txid>.json`` (the
   list of renames) is written atomically: from here on the transaction is decided;
3. apply: each temporary file is renamed over its target, the folders are fsynced, the journal is
   deleted.

A process killed in step 1 leaves only temporary files, which the next ingest removes (their
transaction's lock is free and no journal names them). Killed in step 3, it leaves a journal whose
lock is free: ``recover`` finishes its renames (idempotent: a rename whose temporary file is gone
is done). Every writer calls ``recover`` after taking its partition locks and before reading them,
so a dead transaction's partitions are completed before anyone builds on them.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lq_engine.data.paths import DataPaths
from lq_engine.data.store import TMP_PREFIX, Staged, fsync_staged, stage_file, sync_paths, write_failed
from lq_engine.errors import EnvVarError

JOURNAL = "_journal"
# Test hook: ``LQ_INGEST_CRASH=<point>:<n>`` SIGKILLs the process the n-th time it reaches a point.
CRASH_ENV = "LQ_INGEST_CRASH"
CRASH_POINTS = ("staged", "journal", "renamed", "committed")
_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    point, _, n = spec.partition(":")
    if point not in CRASH_POINTS or not n.isdigit():
        raise EnvVarError(f"{CRASH_ENV}={spec!r}: expected <point>:<occurrence>, point one of {CRASH_POINTS}")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(n):
        os.kill(os.getpid(), signal.SIGKILL)


def journal_dir(paths: DataPaths) -> Path:
    """``<lake>/_journal`` (a lake on an object store: ``<data root>/journal``, for the archive)."""
    return paths.root / "journal" if paths.remote else paths.lake / JOURNAL


def _tx_lock(paths: DataPaths, txid: str) -> Path:
    return paths.locks / "tx" / f"{txid}.lock"


def _owner_alive(paths: DataPaths, txid: str) -> bool:
    """Whether the process running transaction ``txid`` still holds its lock."""
    p = _tx_lock(paths, txid)
    try:
        fd = os.open(p, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def txid_of(tmp_name: str) -> str | None:
    """The transaction of a temporary file named by ``store.tmp_name(txid)``; None for others."""
    m = _TMP_RE.fullmatch(tmp_name)
    return m.group(1) if m else None


_TMP_RE = re.compile(re.escape(TMP_PREFIX) + r"([0-9a-f]{20,})-[0-9a-f]{32}\.partial")


@dataclass
class Transaction:
    paths: DataPaths
    txid: str
    staged: list[Staged] = field(default_factory=list)

    def stage(self, write, target: Path) -> Staged:
        """Write a new version of ``target`` under a temporary name, fsynced (see ``store.stage_file``)."""
        s = stage_file(write, target, txid=self.txid)
        self.staged.append(s)
        fsync_staged(s)
        return s

    def adopt(self, staged: Staged) -> None:
        """A file staged (and fsynced) elsewhere, e.g. on a merge thread, with this txid."""
        self.staged.append(staged)

    def discard(self) -> None:
        for s in self.staged:
            s.discard()
        self.staged.clear()

    def commit(self) -> None:
        """Make the staged files visible together (steps 2 and 3 of the module docstring)."""
        if not self.staged:
            return
        dirs = set().union(*(s.dirs for s in self.staged))
        sync_paths(dirs)  # the temporary files' entries survive a power loss before the journal names them
        crash_point("staged")
        jdir = journal_dir(self.paths)
        renames = [[str(s.tmp), str(s.target)] for s in self.staged]
        body = json.dumps({"txid": self.txid, "renames": renames}).encode()
        j = stage_file(lambda f: f.write(body), jdir / f"{self.txid}.json", txid=self.txid)
        fsync_staged(j)
        os.replace(j.tmp, j.target)
        sync_paths(j.dirs)
        crash_point("journal")
        _apply(renames)
        self.staged.clear()
        sync_paths(dirs)
        j.target.unlink()
        crash_point("committed")


def _apply(renames: list[list[str]]) -> None:
    for tmp, target in renames:
        try:
            os.replace(tmp, target)
        except FileNotFoundError:  # done before (a replay of a replay)
            continue
        crash_point("renamed")


@contextmanager
def transaction(paths: DataPaths) -> Iterator[Transaction]:
    """A transaction (its lock held); staged files not committed are removed on the way out."""
    txid = f"{time.time_ns():x}{uuid.uuid4().hex[:8]}"
    lock = _tx_lock(paths, txid)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise write_failed(lock, e, "(the ingest's lock)") from None
    fcntl.flock(fd, fcntl.LOCK_EX)
    tx = Transaction(paths, txid)
    try:
        yield tx
    finally:
        tx.discard()
        lock.unlink(missing_ok=True)
        os.close(fd)


def recover(paths: DataPaths) -> list[str]:
    """Finish the transactions whose process died after deciding them; returns their ids."""
    jdir = journal_dir(paths)
    if not jdir.is_dir():
        return []
    done = []
    for j in sorted(jdir.glob("*.json")):
        txid = j.stem
        if _owner_alive(paths, txid):
            continue
        try:
            renames = json.loads(j.read_text())["renames"]
        except FileNotFoundError:  # finished by a concurrent recover
            continue
        _apply(renames)
        sync_paths({Path(t).parent for _, t in renames})
        j.unlink(missing_ok=True)
        _tx_lock(paths, txid).unlink(missing_ok=True)
        done.append(txid)
    return done


def sweep(paths: DataPaths, folders: list[Path]) -> int:
    """Remove the temporary files of transactions that are over (lock free, no journal) in
    ``folders`` and below; call after ``recover`` (which renames those a journal names). Returns
    how many went. Temporary files of other writers (no txid in the name) are left alone."""
    n = 0
    jdir = journal_dir(paths)
    for folder in folders:
        if not folder.is_dir():
            continue
        for dirpath, _, files in os.walk(folder):
            for name in files:
                txid = txid_of(name)
                if txid is None or _owner_alive(paths, txid) or (jdir / f"{txid}.json").exists():
                    continue
                (Path(dirpath) / name).unlink(missing_ok=True)
                n += 1
    return n
