"""Processes an ``lq`` command starts (webserver, daemon, and what they start) die with it, SIGKILL
included; ones left from an earlier run are found and named before new ones start.

``start_tied`` starts a child in a process group of its own (a terminal's Ctrl-C reaches only
``lq``, which stops its children in order) with ``PR_SET_PDEATHSIG`` = SIGTERM, plus a watchdog
process (``watchdog.py``) that records the child's descendants while ``lq`` lives and stops all of
them when ``lq`` is gone: PDEATHSIG alone reaches only the direct child, not the code server or the
run workers it started.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: SIGTERM when the parent dies (and now, if it already has)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog's poll still covers it
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def start_tied(cmd: list[str], **kwargs) -> subprocess.Popen:
    """``subprocess.Popen(cmd, **kwargs)`` in a new session, tied to this process (see the module).
    The child works for Dagster, not for this command's terminal: its runs' progress lines go to
    their step logs only (``LQ_CLI_T0`` removed, see ``lq_engine.progress``)."""
    from lq_engine.progress import CLI_T0_ENV

    env = kwargs.get("env")
    kwargs["env"] = {k: v for k, v in (os.environ if env is None else env).items() if k != CLI_T0_ENV}
    parent = os.getpid()
    proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=lambda: _die_with_parent(parent), **kwargs)
    watchdog = subprocess.Popen([sys.executable, "-I", str(Path(__file__).with_name("watchdog.py")), str(parent),
                                 str(proc.pid)], stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=lambda: _die_with_parent(parent))
    proc.lq_watchdog = watchdog  # type: ignore[attr-defined]  # reaped by reap_watchdog
    return proc


def reap_watchdog(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """After ``proc`` stopped: its watchdog exits on its own (nothing left to watch); wait for it."""
    w = getattr(proc, "lq_watchdog", None)
    if w is None:
        return
    try:
        w.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        w.kill()
        w.wait()


@dataclass(frozen=True)
class Stale:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})"


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(a.decode(errors="replace").split("=", 1) for a in raw.split(b"\0") if b"=" in a)


# a kind of Dagster process, and the module lq runs it as (``python -m ...``)
KINDS = {"dagster-daemon": ("dagster-daemon", "lq_assets.daemon"),
         "dagster-webserver": ("dagster-webserver", "lq_assets.webserver")}


def dagster_processes(dagster_home: str, kind: str) -> list[Stale]:
    """Processes of this user running Dagster's ``kind`` (``dagster-daemon``, ``dagster-webserver``)
    with DAGSTER_HOME = ``dagster_home`` (other instances are none of ours)."""
    if not Path("/proc").is_dir():
        return []
    home = os.path.realpath(dagster_home)
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        cmd = _cmdline(int(d.name))
        words = cmd.split()
        if not any(Path(w).name in KINDS.get(kind, (kind,)) for w in words[:3]):
            continue
        env_home = _environ(int(d.name)).get("DAGSTER_HOME")
        if env_home and os.path.realpath(env_home) == home:
            out.append(Stale(int(d.name), cmd))
    return sorted(out, key=lambda s: s.pid)


def port_holder(port: int, host: str = "127.0.0.1") -> Stale | None:
    """The process listening on ``host:port`` (from /proc/net/tcp and the fds of this user's
    processes), or None if the port is free. A holder we cannot see is named as pid 0."""
    import socket

    with socket.socket() as s:
        # as a server binds (uvicorn does): connections of an earlier server left in TIME_WAIT do not
        # hold the port, only a listening socket does
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return None
        except OSError:
            pass
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f[9])
    if not inodes:  # nothing listens on it (the bind failed for another reason): free for a server
        return None
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            for fd in (d / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return Stale(int(d.name), _cmdline(int(d.name)))
        except OSError:
            continue
    return Stale(0, "a process this user cannot see")


def worker_init(parent: int, verbose: bool, log_file: str | None) -> None:
    """Initializer of a spawned worker process of ``lq`` (lq_assets.launch.RunWorker): die with lq,
    SIGKILL included; leave a terminal's Ctrl-C to lq (which kills us); log and keep Dagster's notices
    quiet as lq does. Imports nothing heavy: it runs before the worker unpickles its first task."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    from lq_assets.cli.environment import configure_logging, quiet_warnings

    quiet_warnings()
    if log_file:
        configure_logging(verbose, Path(log_file))
