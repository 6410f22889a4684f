"""A killed `lq` never blocks the next: SIGKILL during an ingest, during stage 1 and during the report,
each followed by a plain rerun that completes in normal time, with no manual step, and ends with the
same results as an undisturbed run. The killed runs are found and marked failed by the rerun."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import dagster as dg
import pytest
import polars as pl

from lq_engine.data.paths import DataPaths
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from lq_engine.data.results import read_table
from lq_engine.data.samples import write_synthetic_to_landing
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import BIN, run_lq, wait_for

pytestmark = pytest.mark.slow  # starts Dagster processes (the fast lane: -m "not slow")

OPTIMIZE = ["optimize", "--dataset", "synthetic_1m", "--strategy", "ma_cross", "--sample", "40", "--top-k-max", "5"]


def _setup(root):
    paths = DataPaths(root / "data").ensure()
    home = root / "home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = lq_env(paths, home, LQ_NATIVE_BACKEND="numba", LQ_AUTOMATION="off")
    return paths, home, env


def _results(paths):
    winners = read_table(paths, "optimization_winners").select("dataset", "strategy", "winner_params",
                                                                 "holdout_mean_sharpe", "dataset_hash")
    return winners, read_table(paths, "prefilter_scores")


def _spawn(args, env, log):
    return subprocess.Popen([str(BIN / "lq"), *args], env=env, cwd=REPO_ROOT, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _kill(p):
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def _step_started(instance, step_key):
    """A predicate: the id of a started run whose step ``step_key`` has started. One instance for all
    its polls (opening one every 0.1 s took CPU from the lq process being waited on)."""
    def pred():
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            for rec in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START):
                if rec.dagster_event.step_key == step_key:
                    return run.run_id
        return None
    return pred


def test_sigkill_at_three_points_then_a_rerun_completes_with_the_same_results(tmp_path, monkeypatch):
    ref_paths, _, ref_env = _setup(tmp_path / "ref")
    files = write_synthetic_to_landing(ref_paths, 2, 3, 11, "2024-01-01")
    assert run_lq(["ingest", *map(str, files)], ref_env).returncode == 0
    r = run_lq(OPTIMIZE, ref_env)
    assert r.returncode == 0, r.stdout + r.stderr
    ref = _results(ref_paths)

    paths, home, env = _setup(tmp_path / "run")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    mine = [shutil.copy2(f, paths.landing / f.name) for f in files]
    killed = []

    # 1. ingest: killed between a partition's temporary file and its rename
    p = _spawn(["ingest", *map(str, mine)], {**env, "LQ_TEST_SLEEP_BEFORE_RENAME": "30"}, tmp_path / "k1.log")
    wait_for(lambda: list((paths.lake / "bars").rglob(".tmp-*")) if (paths.lake / "bars").exists() else None, 120,
             "a partition being written", tmp_path / "k1.log", interval=0.1)
    _kill(p)
    t0 = time.monotonic()
    r = run_lq(["ingest", *map(str, mine)], env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "marked failed" in r.stdout
    killed.append(time.monotonic() - t0)

    # 2. optimize: killed in stage 1
    watch = dg.DagsterInstance.get()  # DAGSTER_HOME is the run's home (monkeypatched above)
    p = _spawn(OPTIMIZE, env, tmp_path / "k2.log")
    wait_for(_step_started(watch, "prefilter_rankings"), 180, "stage 1 to start", tmp_path / "k2.log", interval=0.1)
    _kill(p)
    t0 = time.monotonic()
    r = run_lq(OPTIMIZE, env, timeout=300)
    assert r.returncode == 0 and "marked failed" in r.stdout, r.stdout + r.stderr
    killed.append(time.monotonic() - t0)

    # 3. optimize again: killed in the report
    p = _spawn(OPTIMIZE, env, tmp_path / "k3.log")
    wait_for(_step_started(watch, "optimization_report"), 300, "the report to start", tmp_path / "k3.log",
             interval=0.1)
    _kill(p)
    t0 = time.monotonic()
    r = run_lq(OPTIMIZE, env, timeout=300)
    assert r.returncode == 0 and "marked failed" in r.stdout, r.stdout + r.stderr
    killed.append(time.monotonic() - t0)

    watch.dispose()
    assert max(killed) < 240, killed  # normal time: nothing waited on the killed runs
    with dg.DagsterInstance.get() as instance:
        left = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED,
                                                                  dg.DagsterRunStatus.STARTING]))
        assert not left, [r.run_id for r in left]
        failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        assert len(failed) >= 3
    got = _results(paths)
    for a, b in zip(got, ref):
        assert a.sort(a.columns).equals(b.sort(b.columns))
    part = ("bars", "timeframe=1m", "symbol=SYN000", "month=2024-01", "data.parquet")
    assert pl.read_parquet(paths.lake.joinpath(*part)).equals(pl.read_parquet(ref_paths.lake.joinpath(*part)))
