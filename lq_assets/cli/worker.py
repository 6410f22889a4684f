"""``lq worker``: a Celery worker of the distributed profile (a thin wrapper of
``dagster-celery worker start`` with the project's environment)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "worker",
        help="run a Celery worker that executes steps of the distributed profile",
        description="Start `dagster-celery worker start -A lq_assets.celery_app` with DAGSTER_HOME, the "
        "lake and the broker of the distributed profile (LQ_PROFILE=distributed, LQ_PG_URL, "
        "LQ_CELERY_BROKER, LQ_LAKE_URI, AWS_*). Start as many as you like, on any machine that "
        "reaches the servers. Ctrl-C stops it (a step it was running goes back to the queue).",
    )
    p.add_argument("--name", "-n", help="worker name (default lq-<host>-<pid>); shows in the event log "
                                        "as 'Celery worker: NAME@host'")
    p.add_argument("--concurrency", "-c", type=int, default=1,
                   help="steps run at once by this worker (default 1: one step uses the cores of the process)")
    p.add_argument("--loglevel", "-l", default="INFO")
    p.set_defaults(func=run)


def own_tools_first(env: dict) -> dict:
    """``env`` with this interpreter's folder (the venv's ``bin``) first on PATH: dagster-celery
    starts ``celery`` by name, which failed (FileNotFoundError) for ``.venv/bin/lq worker`` run
    without the venv on PATH."""
    here = str(Path(sys.executable).parent)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != here]
    return {**env, "PATH": os.pathsep.join([here, *parts])}


def command(name: str, concurrency: int, loglevel: str = "INFO") -> list[str]:
    """The plain Dagster command this verb runs (also usable by hand)."""
    exe = Path(sys.executable).parent / "dagster-celery"
    return [str(exe) if exe.exists() else "dagster-celery", "worker", "start", "-A", "lq_assets.celery_app",
            "-n", name, "-l", loglevel, "--", f"--concurrency={concurrency}", "--without-gossip",
            "--without-mingle"]


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step
    from lq_assets.profile import ProfileError, distributed

    if not distributed():
        raise ProfileError("lq worker serves the distributed profile: set LQ_PROFILE=distributed "
                           "(docs/how-to/scale-out.md)")
    setup(args.verbose)  # checks PostgreSQL, the broker and the lake first
    name = args.name or f"lq-{socket.gethostname()}-{os.getpid()}"
    step(f"Celery worker {name} (concurrency {args.concurrency}), DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
    os.environ.setdefault("LQ_WORKERS", str(args.concurrency))
    # Celery's pool processes run many steps each, and Dagster forks (log capture) at every step:
    # numba's OpenMP layer aborts a process that forks after using it; the workqueue layer is fork-safe.
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
    os.environ["PATH"] = own_tools_first(dict(os.environ))["PATH"]
    return run_group(command(name, args.concurrency, args.loglevel))


STOP_TIMEOUT_S = 60.0


def run_group(cmd: list[str]) -> int:
    """Run ``cmd`` in its own process group and pass SIGTERM / Ctrl-C to the whole group: the
    dagster-celery wrapper starts celery as a child, which must not outlive us (warm shutdown:
    a step in progress finishes or goes back to the queue)."""
    proc = subprocess.Popen(cmd, start_new_session=True)
    stopping: list[float] = []

    def stop(_signum: int, _frame: object) -> None:
        if not stopping:
            stopping.append(time.monotonic())
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rc = None
    while True:
        try:
            rc = proc.wait(timeout=1.0) if rc is None else rc
            os.killpg(proc.pid, 0)  # members of the group left (celery finishing its warm shutdown)?
            if not stopping:
                stop(signal.SIGTERM, None)
            time.sleep(0.5)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return 0 if stopping else rc
        if stopping and time.monotonic() - stopping[0] > STOP_TIMEOUT_S:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
