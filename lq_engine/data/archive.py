"""The raw archive: every file ingested, kept by its content.

Layout: ``data/archive/<sha256>/<original name>``. The folder is the file's identity (its bytes'
sha256); the name inside is what it was called when ingested, kept because the name can carry the
symbol and timeframe (``AAA_1m.csv``). Two different files of the same name are two folders, so
neither overwrites the other; the same bytes under a second name are a hard link in the same folder
(no second copy). Entries are written only by an ingest transaction (``journal``), together with
the lake partitions and the ingest-log row: an entry exists iff its ingest was applied, and a
killed or failed ingest leaves none. ``lq lake repair`` and backfills replay entries in ingest-log
order (``replay_sources``). Entries are never modified in place.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lq_engine.data.errors import IngestError
from lq_engine.data.journal import Transaction
from lq_engine.data.paths import DataPaths
from lq_engine.data.store import TMP_PREFIX, Staged, tmp_name

COPY_BLOCK = 1 << 20


def entry_path(paths: DataPaths, sha256: str, name: str) -> Path:
    return paths.archive / sha256 / name


def stage_entry(tx: Transaction, src: Path, sha256: str, data: bytes | None = None) -> Path:
    """Stage ``src`` (whose bytes hash to ``sha256``; ``data``: those bytes, if read) as an archive
    entry in ``tx``; returns the entry's path (already there: nothing staged)."""
    paths = tx.paths
    target = entry_path(paths, sha256, Path(src).name)
    if target.is_file():
        return target
    folder = target.parent
    twin = next((p for p in folder.iterdir() if not p.name.startswith(TMP_PREFIX)), None) if folder.is_dir() else None
    if twin is not None:  # the same bytes under another name: a hard link
        tmp = folder / tmp_name(tx.txid)
        try:
            os.link(twin, tmp)
        except OSError:
            twin = None
        else:
            tx.adopt(Staged(tmp, target, {folder}))
            return target
    if data is not None:
        tx.stage(lambda f: f.write(data), target)
    else:
        tx.stage(lambda f: _copy_checked(Path(src), f, sha256), target)
    return target


def _copy_checked(src: Path, out, sha256: str) -> None:
    """Copy ``src`` into ``out``, refusing a file that changed since it was hashed and parsed."""
    h = hashlib.sha256()
    with open(src, "rb") as f:
        while block := f.read(COPY_BLOCK):
            h.update(block)
            out.write(block)
    if h.hexdigest() != sha256:
        raise IngestError(src, "the file changed while it was being ingested (its bytes no longer hash to what "
                               "was validated); nothing of it was applied: ingest it again once it is complete")

