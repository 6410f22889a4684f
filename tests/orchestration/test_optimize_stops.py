"""Issue 20 #9: a strategy whose ``decide`` loops forever ran until SIGKILL: `lq optimize --timeout 10`
had no effect (the sampler checks its timeout between batches, and compiled code never returned
from the first), and SIGINT and SIGTERM were ignored (numba code cannot be interrupted in the
process running it). The optimize runs of `lq` now run in a worker process that lq kills: on the
hard limit of --timeout (2 x timeout + 60 s) and on Ctrl-C / SIGTERM, within seconds; the run is
marked failed and no process is left."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from lq_assets.launch import hard_limit
from tests.orchestration.live import BIN, wait_for
from tests.orchestration.project import bundled_toml, lq, new_project, small_bars

pytestmark = pytest.mark.slow

SPIN = '''"""Never returns from decide (issue 20 #9)."""

import lq_engine.api as lq


class Spin(lq.Strategy):
    """Loops while the close is positive (always)."""

    fast = lq.Int(2, 50, grid=(5, 10))

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        k = 0
        while bars.close[i] > 0.0:
            k += 1
        return 1.0 if k > p.fast else 0.0
'''


def _env(project) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LQ_DATA_DIR", "LQ_DAGSTER_HOME", "DAGSTER_HOME", "LQ_CONFIG")}
    return {**env, "LQ_PROJECT": str(project)}


def _tree(pid: int) -> list[int]:
    from lq_assets.cli.backfill import descendants

    return descendants(pid)


def _alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmd(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:300]
    except OSError:
        return "?"


def _runs(project):
    import dagster as dg

    with dg.DagsterInstance.from_config(str(project / "dagster_home")) as instance:
        return {r.run_id: r.status.value for r in instance.get_runs() if r.job_name == "optimize"}


def test_a_strategy_that_never_returns_is_stopped(tmp_path, monkeypatch):
    assert hard_limit(None) is None and hard_limit(2) == 64
    project = new_project(tmp_path, bundled_toml(), {"spin": SPIN})
    monkeypatch.setenv("DAGSTER_HOME", str(project / "dagster_home"))  # for _runs (lq's env is _env)
    lq(["ingest", str(small_bars(tmp_path / "bars.parquet"))], project)  # the data does not matter: decide spins
    env = _env(project)
    cmd = [str(BIN / "lq"), "optimize", "--dataset", "us_stocks_daily", "--strategy", "spin"]

    # Ctrl-C and SIGTERM: stopped within seconds, no process left, the run marked failed
    for sig in (signal.SIGINT, signal.SIGTERM):
        p = subprocess.Popen(cmd, env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        wait_for(lambda: "STARTED" in _runs(project).values() or p.poll() is not None, 600, "the optimize run")
        time.sleep(5)  # in the strategy's loop (the lookahead gate runs it first)
        assert p.poll() is None, p.communicate()
        procs = _tree(p.pid)
        sent = time.monotonic()
        p.send_signal(sig)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail(f"lq optimize still running 30 s after {sig.name}")
        assert time.monotonic() - sent < 30
        assert p.returncode == 130, err[-3000:]
        deadline = time.monotonic() + 20  # the worker is killed; multiprocessing's helper exits with lq
        while [c for c in procs if _alive(c)] and time.monotonic() < deadline:
            time.sleep(0.5)
        left = [c for c in procs if _alive(c)]
        assert not left, f"processes left after {sig.name}: " + "; ".join(_cmd(c) for c in left)
        assert sorted(_runs(project).values()).count("FAILURE") == (1 if sig == signal.SIGINT else 2)

    # --timeout 2: the search's first batch never returns; the hard limit (2 x 2 + 60 s) stops it
    t = time.monotonic()
    r = subprocess.run([*cmd, "--search", "random", "--timeout", "2"], env=env, cwd=project, capture_output=True,
                       text=True, timeout=600)
    took = time.monotonic() - t
    assert r.returncode == 1, r.stderr[-3000:]
    assert "the optimization of spin on us_stocks_daily ran past 64 s (2 x --timeout + 60 s) and was stopped" \
        in r.stderr, r.stderr[-3000:]
    assert took < 64 + 120  # the limit plus lq's own start on a busy machine
    assert sorted(_runs(project).values()) == ["FAILURE"] * 3
