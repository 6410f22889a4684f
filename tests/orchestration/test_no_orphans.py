"""Issue 20 #10, #11: every process `lq` starts dies with it, SIGKILL included, and one left from an
earlier run is named before anything new starts.

- SIGKILL of `lq ui` (at a random moment after the UI is up) left the webserver holding the port;
  the next `lq ui` then printed "Dagster UI ready" (the orphan answered) and exited with code 3.
- SIGKILL of `lq backfill --wait` left its dagster-daemon running (35 minutes later), and the next
  `lq ui` found two daemons.
Before the fix the processes recorded here stay alive after the SIGKILL: the asserts on them fail.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lq_assets.cli.children import dagster_processes, port_holder
from lq_assets.cli.watchdog import _alive, _start_time
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import BIN, free_port, start, stop, wait_for, webserver_up

pytestmark = pytest.mark.slow


def _tree(pid: int) -> dict[int, str]:
    """Living descendants of ``pid``: pid -> start time (so a recycled pid is not mistaken)."""
    from lq_assets.cli.backfill import descendants

    return {p: s for p in descendants(pid) if (s := _start_time(p)) is not None}


def _gone(procs: dict[int, str], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p, s in procs.items() if _alive(p, s)]
        if not left:
            return []
        time.sleep(0.5)
    return left


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


def test_sigkill_of_lq_ui_leaves_no_process_and_the_next_ui_starts(data_paths, dagster_home, tmp_path):
    rng = random.Random(20)
    env = lq_env(data_paths, dagster_home)
    port = free_port()
    ui = start([str(BIN / "lq"), "ui", "--port", str(port)], env, tmp_path / "ui1.log")
    try:
        wait_for(lambda: webserver_up(port), 240, "the webserver", tmp_path / "ui1.log")
        wait_for(lambda: dagster_processes(str(dagster_home), "dagster-daemon"), 120, "the daemon")
        time.sleep(rng.uniform(0, 3))
        procs = _tree(ui.pid)
        kinds = " ".join(_cmd(p) for p in procs)
        assert "lq_assets.webserver" in kinds and "lq_assets.daemon" in kinds, kinds  # the guarded webserver,
        # the patient daemon (lq_assets/daemon.py)
    finally:
        _kill(ui)
    left = _gone(procs, 60)
    assert not left, "left running after SIGKILL of lq ui: " + "; ".join(f"{p}: {_cmd(p)}" for p in left)
    assert port_holder(port) is None and not dagster_processes(str(dagster_home), "dagster-daemon")
    # the next lq ui starts its own webserver and stops cleanly
    ui2 = start([str(BIN / "lq"), "ui", "--port", str(port), "--no-daemon"], env, tmp_path / "ui2.log")
    try:
        wait_for(lambda: webserver_up(port), 240, "the second webserver", tmp_path / "ui2.log")
        assert port_holder(port).pid in _tree(ui2.pid)
    finally:
        assert stop(ui2, timeout=60) == 0, (tmp_path / "ui2.log").read_text()[-3000:]


def test_a_stale_webserver_or_daemon_is_named_and_nothing_starts(data_paths, dagster_home, tmp_path):
    env = lq_env(data_paths, dagster_home)
    port = free_port()
    holder = subprocess.Popen(["python3", "-m", "http.server", "-b", "127.0.0.1", str(port)], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # a daemon left from an earlier run (its command name, this DAGSTER_HOME)
    daemon = subprocess.Popen(["bash", "-c", "exec -a dagster-daemon sleep 300"], env=env)
    try:
        wait_for(lambda: port_holder(port), 30, "the port holder")
        r = subprocess.run([str(BIN / "lq"), "ui", "--port", str(port)], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [
            f"lq ui: error: port {port} is already in use by pid {holder.pid} ({_cmd(holder.pid).strip()}): "
            f"stop it (kill {holder.pid}) or use --port"]
        holder.kill()
        holder.wait()
        r = subprocess.run([str(BIN / "lq"), "ui", "--port", str(port)], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 2, r.stderr
        line = r.stderr.strip().splitlines()[-1]
        assert line.startswith(f"lq ui: error: a dagster-daemon of DAGSTER_HOME={dagster_home} is already running: "
                               f"pid {daemon.pid} (dagster-daemon 300)"), line
        assert port_holder(port) is None  # nothing was started
    finally:
        for p in (holder, daemon):
            p.kill()
            p.wait()


def test_sigkill_of_lq_backfill_wait_stops_its_daemon(data_paths, dagster_home, tmp_path):
    rng = random.Random(10)
    env = lq_env(data_paths, dagster_home)
    log = tmp_path / "backfill.log"
    lq = start([str(BIN / "lq"), "backfill", "frozen_dataset", "--partitions", "us_stocks_daily", "--wait"], env, log)
    try:
        wait_for(lambda: dagster_processes(str(dagster_home), "dagster-daemon"), 240, "the backfill's daemon", log)
        time.sleep(rng.uniform(0, 5))
        procs = _tree(lq.pid)
        assert any("lq_assets.daemon" in _cmd(p) for p in procs), [_cmd(p) for p in procs]
    finally:
        _kill(lq)
    left = _gone(procs, 60)
    assert not left, "left running after SIGKILL of lq backfill: " + "; ".join(f"{p}: {_cmd(p)}" for p in left)
    assert not dagster_processes(str(dagster_home), "dagster-daemon")
