"""``lq ui``: the Dagster webserver and daemon on 127.0.0.1, stopped together on Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

STOP_TIMEOUT_S = 20.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ui",
        help="run the Dagster webserver and daemon (schedules, sensors, backfills) on 127.0.0.1",
        description="Start dagster-webserver and dagster-daemon against workspace.yaml with "
        "DAGSTER_HOME set to dagster_home/ (or $LQ_DAGSTER_HOME). Ctrl-C or SIGTERM stops both. Their logs go "
        "to data/logs/dagster-webserver.log and data/logs/dagster-daemon.log (to the terminal with lq -v). "
        "The webserver refuses requests with a Host other than 127.0.0.1/localhost:PORT, cross-site ones "
        "(Origin, Sec-Fetch-Site) and GraphQL mutations sent over GET.",
    )
    p.add_argument("--port", type=int, default=3000, help="webserver port (default 3000)")
    p.add_argument("--no-daemon", action="store_true", help="webserver only (no sensors, schedules or backfills)")
    p.set_defaults(func=run)


def _output(log: Path | None) -> dict:
    """Popen arguments sending a child's stdout and stderr to ``log`` (appended), or nothing."""
    if log is None:
        return {}
    return {"stdout": open(log, "ab"), "stderr": subprocess.STDOUT}


def wait_ready(url: str, timeout_s: float, procs: list[subprocess.Popen]) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            with urllib.request.urlopen(url + "/server_info", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def refuse_stale(port: int, daemon: bool) -> None:
    """A webserver on our port, or a daemon of this DAGSTER_HOME, left from an earlier run (its
    ``lq`` killed before this version tied them to it) is named, and nothing is started: a second
    daemon would run every sensor twice, and the UI would be the old process's."""
    from lq_assets.cli.children import dagster_processes, port_holder
    from lq_engine.errors import LQError

    holder = port_holder(port)
    if holder is not None:
        raise LQError(f"port {port} is already in use by {holder}: stop it (kill {holder.pid}) or use --port")
    if daemon:
        stale = dagster_processes(os.environ["DAGSTER_HOME"], "dagster-daemon")
        if stale:
            raise LQError(f"a dagster-daemon of DAGSTER_HOME={os.environ['DAGSTER_HOME']} is already running: "
                          + ", ".join(map(str, stale)) + f"; stop it (kill {' '.join(str(s.pid) for s in stale)}) "
                          "or use --no-daemon")


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.children import reap_watchdog, start_tied
    from lq_assets.cli.environment import log_dir, setup, step
    from lq_assets.cli.environment import workspace as project_workspace

    paths = setup(args.verbose)
    refuse_stale(args.port, not args.no_daemon)
    ws, root = project_workspace()  # the project's workspace.yaml, run from the project's root
    workspace = str(ws)
    # dagster-webserver behind a guard refusing cross-site requests and foreign Host headers
    # (lq_assets/webserver.py), then the daemon
    cmds = {"dagster-webserver": [sys.executable, "-m", "lq_assets.webserver", "-h", "127.0.0.1",
                                  "-p", str(args.port), "-w", workspace]}
    if not args.no_daemon:
        # dagster-daemon, its code servers patient under load (lq_assets/daemon.py)
        cmds["dagster-daemon"] = [sys.executable, "-m", "lq_assets.daemon", "run", "-w", workspace]
    # Own sessions: a terminal's Ctrl-C reaches only us, and we stop the children in order. Their logs
    # (and Dagster's beta/preview notices) go to files under data/logs/, or to the terminal with -v.
    logs = {} if args.verbose else {name: log_dir(paths) / f"{name}.log" for name in cmds}
    # Tied to us: they (and what they start) stop when we die, SIGKILL included (lq_assets/cli/children.py)
    procs = [start_tied(c, cwd=root, **_output(logs.get(name))) for name, c in cmds.items()]
    names = {p.pid: name for p, name in zip(procs, cmds)}
    for name, log in logs.items():
        step(f"{name} log: {log}")
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    url = f"http://127.0.0.1:{args.port}"
    step(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
    if wait_ready(url, 120, procs):
        step(f"Dagster UI ready at {url} (daemon {'off' if args.no_daemon else 'on'}); Ctrl-C stops")
    rc = 0
    while not stopping:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            name = names[dead[0].pid]
            where = f" (its log: {logs[name]})" if name in logs else ""
            step(f"{name} exited with code {dead[0].returncode}{where}; stopping")
            rc = dead[0].returncode or 1
            break
        time.sleep(0.5)
    step("stopping webserver and daemon")
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    for p in procs:
        reap_watchdog(p)
    step("stopped")
    return rc
