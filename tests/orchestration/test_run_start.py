"""Runs launched by lq's daemon start from a warm forkserver (``lq_assets.code_server``): the
libraries are imported once per code server, our code and the strategies fresh per run.

A real Dagster code server (``python -m lq_assets.code_server api grpc``, started the way the daemon
starts it) launches real runs through Dagster's run launcher; each run writes what its process saw.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test, instance_for_test, poll_for_finished_run
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget

from lq_assets import code_server

pytestmark = pytest.mark.slow  # starts Dagster code servers and runs

DEFS = """
import json, os, sys
from pathlib import Path

import dagster as dg
import numba

# what this run's process had imported before it imported this module
SEEN_AT_IMPORT = {{"polars": "polars" in sys.modules, "dagster": "dagster" in sys.modules}}
VERSION = {version}


@dg.op
def probe() -> None:
    import polars as pl  # preloaded, never used before the fork: its thread pool starts here

    parent = Path(f"/proc/{{os.getppid()}}/cmdline").read_bytes().replace(b"\\0", b" ").decode()
    sums = pl.DataFrame({{"a": range(2_000_000)}}).group_by(pl.col("a") % 7).agg(pl.len())["len"].sum()
    out = dict(SEEN_AT_IMPORT, version=VERSION, parent=parent, pid=os.getpid(), rows=int(sums))
    Path(os.environ["LQ_TEST_PROBE_OUT"], f"{{os.getpid()}}.json").write_text(json.dumps(out))


@dg.job(executor_def=dg.in_process_executor)
def probe_job():
    probe()


from lq_assets.profile import executor  # the local profile's: steps forked from a forkserver per run


@numba.njit(parallel=True)
def _parallel_sum(n):
    s = 0.0
    for i in numba.prange(n):
        s += i
    return s


@dg.op
def step_a() -> int:
    # numba's parallel layer in a step (every sweep's): OpenMP aborts a process forked from one that
    # had started it ("fork() called from a process already using GNU OpenMP")
    assert _parallel_sum(1000) == 499500.0
    return os.getppid()


@dg.op
def step_b(a: int) -> None:
    parents = {{p: Path(f"/proc/{{p}}/cmdline").read_bytes().replace(b"\\0", b" ").decode() for p in (a, os.getppid())}}
    Path(os.environ["LQ_TEST_PROBE_OUT"], "steps.json").write_text(json.dumps(list(parents.values())))


@dg.job(executor_def=executor())
def steps_job():
    step_b(step_a())


defs = dg.Definitions(jobs=[probe_job, steps_job])
"""


def _launch_and_wait(instance, workspace_ctx, n: int, job_name: str = "probe_job") -> list[dg.DagsterRun]:
    workspace = workspace_ctx.create_request_context()
    job = workspace.get_code_location("probe").get_repository("__repository__").get_full_job(job_name)
    runs = []
    for _ in range(n):
        run = create_run_for_test(instance, job_name=job_name, remote_job_origin=job.get_remote_origin(),
                                  job_code_origin=job.get_python_origin())
        instance.launch_run(run.run_id, workspace)
        runs.append(run)
    return [poll_for_finished_run(instance, r.run_id, timeout=120) for r in runs]


def _probes(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


@pytest.mark.parametrize("start", ["forkserver", "spawn"])
def test_runs_start_from_a_warm_forkserver_and_import_our_code_fresh(tmp_path, monkeypatch, start):
    code = tmp_path / "code"
    code.mkdir()
    (code / "probe_defs.py").write_text(textwrap.dedent(DEFS.format(version=1)))
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("LQ_TEST_PROBE_OUT", str(out))
    monkeypatch.setenv("LQ_RUN_START", start)  # read by the code server: the test's spawn twin
    monkeypatch.setattr("dagster._grpc.server.get_python_environment_entry_point", code_server.entry_point)
    target = ModuleTarget(module_name="probe_defs", attribute=None, working_directory=str(code),
                          location_name="probe")
    with instance_for_test() as instance, WorkspaceProcessContext(instance, target) as ctx:
        if start == "spawn":  # the twin: one run shows what a spawned run sees
            assert [r.status for r in _launch_and_wait(instance, ctx, 1)] == [dg.DagsterRunStatus.SUCCESS]
        else:
            first = _launch_and_wait(instance, ctx, 2)
            assert [r.status for r in first] == [dg.DagsterRunStatus.SUCCESS] * 2
            # the strategy file (here the definitions module) changes while the code server runs
            (code / "probe_defs.py").write_text(textwrap.dedent(DEFS.format(version=2)))
            second = _launch_and_wait(instance, ctx, 1)
            assert second[0].status == dg.DagsterRunStatus.SUCCESS
        steps = _launch_and_wait(instance, ctx, 1, "steps_job")  # two steps, the local profile's executor
        assert steps[0].status == dg.DagsterRunStatus.SUCCESS
    step_parents = json.loads((out / "steps.json").read_text())
    (out / "steps.json").unlink()
    # both steps are children of one process: the run's forkserver, or (spawn) the run itself
    assert len(step_parents) == 1
    assert ("multiprocessing.forkserver" in step_parents[0]) is (start == "forkserver"), step_parents
    probes = _probes(out)
    assert all(p["rows"] == 2_000_000 for p in probes)  # polars' thread pool works in the run's process
    if start == "forkserver":
        assert len(probes) == 3 and len({p["pid"] for p in probes}) == 3  # a process per run
        # our code is imported by each run, not inherited: the edit shows in the next run
        assert sorted(p["version"] for p in probes) == [1, 1, 2]
        assert all("multiprocessing.forkserver" in p["parent"] for p in probes), probes
        assert all(p["polars"] and p["dagster"] for p in probes)  # the libraries came preloaded
    else:  # the twin shows the probe is not vacuous: a spawned run imports everything itself
        assert len(probes) == 1
        assert not any("multiprocessing.forkserver" in p["parent"] for p in probes), probes
        assert not any(p["polars"] for p in probes)


def test_the_preload_list_is_libraries_only():
    mods = code_server.preload_modules()
    assert "dagster" in mods and "polars" in mods and "numba" in mods
    assert not any(m.split(".")[0] in ("lq_engine", "lq_assets") for m in mods)
    assert all(m in sys.modules or __import__(m) for m in mods)  # each really imports


def test_the_daemon_starts_its_code_servers_through_lq_assets_code_server(monkeypatch):
    from dagster._grpc import server

    import dagster._daemon.controller as controller

    from lq_assets import daemon

    for name in ("DAEMON_GRPC_SERVER_HEARTBEAT_TTL", "DEFAULT_DAEMON_INTERVAL_SECONDS"):
        monkeypatch.setattr(controller, name, getattr(controller, name))  # restored after
    monkeypatch.setattr(server, "get_python_environment_entry_point", server.get_python_environment_entry_point)
    monkeypatch.setattr("dagster._daemon.cli.main", lambda: None)
    daemon.main()
    assert server.get_python_environment_entry_point("/x/python") == ["/x/python", "-m", "lq_assets.code_server"]
    # the command open_server_process builds still names the entry point it read from the module
    import inspect

    assert "get_python_environment_entry_point(executable_path or sys.executable)" in inspect.getsource(
        server.open_server_process)
