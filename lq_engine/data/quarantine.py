"""Rejected files leave the landing folder for ``quarantine/`` with a ``<name>.reason.json`` report
(a file given to ``lq ingest`` from another folder is copied there and left in place).

The move is a rename when possible (same filesystem) and never overwrites: a second rejected file
of the same name gets a numbered name, so no file is ever lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from lq_engine.data.errors import IngestError
from lq_engine.data.paths import DataPaths


def file_sha256(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def _free_name(folder: Path, name: str) -> Path:
    dest = folder / name
    n = 1
    stem, suffix = Path(name).stem, Path(name).suffix
    while dest.exists() or dest.with_name(dest.name + ".reason.json").exists():
        dest = folder / f"{stem}.{n}{suffix}"
        n += 1
    return dest


def _in_landing(path: Path, paths: DataPaths) -> bool:
    try:
        return path.resolve().parent == paths.landing.resolve()
    except OSError:
        return False


def reason_path(quarantined: Path) -> Path:
    return quarantined.with_name(quarantined.name + ".reason.json")


def quarantine_file(path: Path, paths: DataPaths, error: IngestError | str, *, sha256: str | None = None) -> Path:
    """Move ``path`` into quarantine and write its reason report; returns the new location."""
    path = Path(path)
    paths.quarantine.mkdir(parents=True, exist_ok=True)
    err = error if isinstance(error, IngestError) else IngestError(path, str(error))
    digest = sha256 or (file_sha256(path) if path.exists() else None)
    dest = _free_name(paths.quarantine, path.name)
    moved = _in_landing(path, paths)
    if path.exists():
        if not moved:  # a file given to `lq ingest` from elsewhere stays where the user keeps it
            shutil.copyfile(path, dest)
        else:
            try:
                os.replace(path, dest)
            except OSError:
                shutil.move(str(path), str(dest))
    report = {
        "file": path.name,
        "original_path": str(path),
        "quarantined_as": dest.name,
        "moved": moved,
        "sha256": digest,
        "row": err.row,
        "field": err.field,
        "reason": err.reason,
        "rows_affected": err.rows_affected,
        "message": str(err),
        "when": datetime.now(timezone.utc).isoformat(),
    }
    tmp = paths.quarantine / f".tmp-{dest.name}.partial"  # matches no *.reason.json glob
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, reason_path(dest))
    return dest
