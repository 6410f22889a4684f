"""Helpers to run the real Dagster processes (daemon, webserver, `lq`) in tests."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT

BIN = Path(sys.executable).parent


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    fh = open(log, "wb")
    return subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


DAEMON = [sys.executable, "-m", "lq_assets.daemon", "run", "-w", str(REPO_ROOT / "workspace.yaml")]
"""dagster-daemon as `lq ui` and `lq backfill --wait` start it (lq_assets/daemon.py)."""


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    return start(DAEMON, env, log)


def stop(proc: subprocess.Popen, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_for(pred: Callable[[], object], timeout: float, what: str, log: Path | None = None, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tail}")


def run_lq(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "lq"), *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )


def lq_in_process(capsys, *argv: str) -> tuple[int, str, str]:
    """`lq ARGV` through the CLI's main in this process (its errors: one line, its exit code);
    (rc, stdout, stderr). main installs its SIGTERM handler and quiet warnings: restored after, this
    process is pytest's."""
    import signal
    import warnings

    from lq_assets.cli.main import main

    term, showwarning = signal.getsignal(signal.SIGTERM), warnings.showwarning
    try:
        rc = main(list(argv))
    finally:
        signal.signal(signal.SIGTERM, term)
        warnings.showwarning = showwarning
    out = capsys.readouterr()
    return rc, out.out, out.err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webserver_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False
