"""Landing-file builders and lake digests shared by the data tests (a plain module, not conftest:
spawned worker processes re-import test modules, and several test folders have a conftest)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lq_engine.data.paths import DataPaths

HEADER = "timestamp,open,high,low,close,volume\n"


def bar_lines(n: int, start_min: int = 0, price: float = 100.0, step_min: int = 1) -> list[str]:
    """n valid 1-minute rows 'YYYY-MM-DD HH:MM:SS,o,h,l,c,v' from 2024-01-01 + start_min minutes."""
    from datetime import datetime, timedelta

    t0 = datetime(2024, 1, 1)
    out = []
    for i in range(n):
        t = t0 + timedelta(minutes=start_min + i * step_min)
        o = price + 0.01 * i
        c = o + 0.005
        out.append(f"{t:%Y-%m-%d %H:%M:%S},{o},{c + 0.1},{o - 0.1},{c},1000")
    return out


def write_csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(line + "\n" for line in lines))
    return path


def tree_digest(*roots: Path) -> dict[str, str]:
    """sha256 of every file under the roots (relative path -> digest); lock files excluded."""
    out = {}
    for root in roots:
        if root.is_file():
            out[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        for f in sorted(root.rglob("*")):
            if f.is_file() and not f.name.endswith(".lock"):
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def lake_and_catalog(paths: DataPaths) -> dict[str, str]:
    return tree_digest(paths.lake, paths.catalog)
