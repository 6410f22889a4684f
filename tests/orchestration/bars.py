"""Small valid / invalid bar files for the orchestration tests."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path


def write_daily_csv(path: Path, symbols: list[str], start: str, days: int, price: float = 100.0) -> Path:
    """A valid daily-bar CSV (header symbol,timestamp,open,high,low,close,volume)."""
    t0 = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
    lines = ["symbol,timestamp,open,high,low,close,volume"]
    for k, sym in enumerate(symbols):
        p = price + 10 * k
        for d in range(days):
            o, c = p, p * (1.001 if d % 3 else 0.998)
            lines.append(
                f"{sym},{(t0 + timedelta(days=d)).strftime('%Y-%m-%dT%H:%M:%S')},{o:.4f},{max(o, c) + 0.5:.4f},"
                f"{min(o, c) - 0.5:.4f},{c:.4f},{1000 + d}"
            )
            p = c
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def age(path: Path, seconds: float = 60.0) -> None:
    """Backdate a file's mtime so the landing sensor treats it as settled."""
    t = path.stat().st_mtime - seconds
    os.utime(path, (t, t))
