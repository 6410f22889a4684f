"""The watchdog of the processes an ``lq`` command starts (run as a script: ``python -I watchdog.py
PARENT ROOT...``; it imports nothing of the project).

It polls every half second. While PARENT (the ``lq`` process) lives it records every descendant
of each ROOT (pid and start time, from /proc), so that a process that has been re-parented is still
known. When PARENT is gone (SIGKILL included: the watchdog's own PR_SET_PDEATHSIG or the poll sees
it), it sends SIGTERM to the roots' process groups and to every recorded process still alive (same
start time: never a recycled pid), waits up to GRACE_S, then SIGKILLs what is left, and exits. It
also exits once every recorded process is gone.
"""

from __future__ import annotations

import os
import signal
import sys
import time

GRACE_S = 10.0
POLL_S = 0.5


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        out.setdefault(ppid, []).append(int(name))
    return out


def _alive(pid: int, started: str) -> bool:
    """``pid`` is still the process recorded (not a recycled pid) and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and fields[19] == started


def main(argv: list[str]) -> int:
    parent, roots = int(argv[0]), [int(a) for a in argv[1:]]
    gone = {"parent": False}

    def on_parent_death(_signum: int, _frame: object) -> None:
        gone["parent"] = True

    signal.signal(signal.SIGTERM, on_parent_death)  # PR_SET_PDEATHSIG (set by our starter)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for lq, which stops its children
    known: dict[int, str] = {p: s for p in roots if (s := _start_time(p)) is not None}
    while True:
        if os.getppid() != parent:
            gone["parent"] = True
        if gone["parent"]:
            break
        tree = _children()
        todo = [p for p in known if _alive(p, known[p])]
        while todo:
            for c in tree.get(todo.pop(), []):
                if c not in known and (s := _start_time(c)) is not None:
                    known[c] = s
                    todo.append(c)
        if not any(_alive(p, s) for p, s in known.items()):
            return 0
        time.sleep(POLL_S)
    # the parent is gone: stop everything it started
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for r in roots:
            if r in known and _alive(r, known[r]):
                try:
                    os.killpg(r, sig)
                except OSError:
                    pass
        for p, s in known.items():
            if _alive(p, s):
                try:
                    os.kill(p, sig)
                except OSError:
                    pass
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline and any(_alive(p, s) for p, s in known.items()):
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
