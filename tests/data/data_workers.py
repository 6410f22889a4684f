"""Entry points run in separate processes by the crash, concurrency and memory tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def ingest_one(root: str, file: str) -> dict:
    from lq_engine.data.ingest import ingest_file
    from lq_engine.data.paths import DataPaths

    r = ingest_file(Path(file), DataPaths(Path(root)))
    return {"rows_new": r.rows_new, "partitions": len(r.partitions)}


def ingest_to_queue(root: str, file: str, q) -> None:
    """Spawn target: lives here, not in a test module, so the child imports no test code."""
    q.put(ingest_one(root, file))


def peak_rss_kb() -> int:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries that across fork+exec,
    so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    """``python data_workers.py ingest <root> <file>``: print a JSON line (result or error, peak RSS)."""
    cmd, root, file = sys.argv[1:4]
    assert cmd == "ingest"
    from lq_engine.data.errors import IngestError

    try:
        out = ingest_one(root, file)
    except IngestError as e:
        out = {"error": str(e)}
    out["peak_rss_kb"] = peak_rss_kb()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
