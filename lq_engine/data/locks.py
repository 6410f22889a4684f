"""Advisory file locks (fcntl.flock) shared by processes on one machine.

The kernel drops a lock when its holder dies, so a killed process never blocks the next. The
holder writes its pid and start time into the lock file; a process that has waited a few seconds
says what it waits for (the file, the holder's pid, how long it has held it, whether it is alive).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TIMEOUT = float(os.environ.get("LQ_LOCK_TIMEOUT", "300"))
SAY_AFTER_S = 5.0
log = logging.getLogger("lq_engine")


def holder(path: Path) -> str:
    """Who holds the lock, as written by the holder: 'pid P (alive|gone), held N s'."""
    try:
        pid_s, since_s = Path(path).read_text().split()[:2]
        pid, since = int(pid_s), float(since_s)
    except (OSError, ValueError):
        return "holder unknown"
    try:
        os.kill(pid, 0)
        alive = "alive"
    except ProcessLookupError:
        alive = "gone"
    except PermissionError:
        alive = "alive"
    return f"pid {pid} ({alive}), held {time.time() - since:.0f} s"


@contextmanager
def file_lock(path: Path, *, shared: bool = False, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive (or shared) lock on ``path`` (created if missing), retrying until ``timeout``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        start = time.monotonic()
        deadline = start + timeout
        say_at = start + SAY_AFTER_S
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now > deadline:
                    raise TimeoutError(f"{path}: lock still held after {timeout:.0f} s by {holder(path)}") from None
                if now > say_at:
                    log.warning(f"waiting for {path} ({holder(path)}); Ctrl-C stops")
                    say_at = now + 60.0
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        if not shared:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {time.time():.3f}\n".encode(), 0)
            except OSError:  # a full disk: the lock holds without the holder's note
                pass
        yield
    finally:
        os.close(fd)  # closing releases the lock
