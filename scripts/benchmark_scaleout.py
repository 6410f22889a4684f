"""Scale-out benchmark: an 8-partition optimization under the distributed profile with 1, then 2 Celery
workers, and the profile's fixed overhead against the local profile.

    uv run python scripts/benchmark_scaleout.py [--universes 4] [--days 180] [--sample 3000] [--repeats 3] [--hog N]
        [--json] [--keep]

Starts PostgreSQL, Redis and SeaweedFS (S3) on 127.0.0.1 (``scaleout_servers``), lands SYNTHETIC
1-minute bars for one symbol per universe, ingests and freezes them (``lq ingest``, in process, into
the S3 lake), then times ``lq backfill prefilter_rankings replay_results`` of universes x strategies
(8 partitions by default) with 1 worker and with 2 (each ``lq worker`` runs one step at a time on
one thread, so N workers use N cores), after an untimed warm-up (numba's cache, the code servers).
A backfill's time is the span of its runs in the instance, first start to last end
(``seconds_N``); the wall time of ``lq backfill --wait`` also carries the daemon's 30 s polling of
backfills (``backfill_wall_N_s``). ``distributed_overhead_s`` is the run time of a one-partition
backfill under the distributed profile (1 worker) minus the same under the local profile (SQLite,
the daemon's multiprocess executor, the local lake), on the same data. ``step_work_N_s`` is the time
inside steps (STEP_START to STEP_SUCCESS, summed over all steps of the backfill) and
``run_start_spread_N_s`` the first to the last run start (how fast the runs got launched): step work
far below N x seconds_N means the workers waited. Medians over ``--repeats``; prints ``name=value``
lines (and one JSON line with --json). ``--keep`` keeps the temp folder: logs and ``steps.json``
(every run and step: worker, start, span, parameter sets, dataset hash). ``--hog N`` keeps N processes
spinning on a CPU for the whole run (a busy scheduler machine). ``failed_runs``: partitions whose
last run failed (``lq backfill`` then fails and the script stops with its reason; 0 when it prints);
``retried_runs``: runs that failed outside their steps and were run again by the instance's run
retries (a retried run counts by its retry).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from figures import print_figures  # noqa: E402  (scripts/ is on sys.path)

BIN = Path(sys.executable).parent
STRATEGIES = ("ma_cross", "rsi")


def _config(universes: list[str], sample: int) -> str:
    out = [f'[project]\nshipped_strategies = {list(STRATEGIES)}\n']
    for i, u in enumerate(universes):
        out.append(f'[universes.{u}]\ndescription = "SYNTHETIC"\nsymbols = ["SYN{i:03d}"]\ntimeframe = "1m"\n'
                   'calendar = "24/7"\n')
    out.append(f"[optimize]\nn_folds = 3\nsample_size = {sample}\ntop_k_min = 8\ntop_k_max = 8\n"
               "audit_size = 6\nseed = 7\nworkers = 1\n")
    return "\n".join(out)


def _lq(env: dict, *args: str, timeout: float = 1800) -> str:
    r = subprocess.run([str(BIN / "lq"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        raise RuntimeError(f"lq {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def _start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Stop each process with its whole group (``_start`` makes each a group leader): a daemon's code
    server and run workers too, which outlived a daemon stopped alone."""
    import signal

    def signal_group(p: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    for p in procs:
        signal_group(p, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        signal_group(p, signal.SIGKILL)  # what is left of the group


@contextmanager
def _instance(env: dict):
    """The Dagster instance of ``env`` (its LQ_/DAGSTER_/AWS_ variables set for the duration)."""
    import dagster as dg

    old = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("LQ_", "DAGSTER_", "AWS_"))})
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance
    finally:
        os.environ.clear()
        os.environ.update(old)


def _wait_daemon(env: dict, timeout: float = 120) -> None:
    """Wait for the daemon's first backfill heartbeat: ``lq backfill --wait`` starts a daemon of its
    own when none has beaten yet, and a daemon still importing the code has not, so without this the
    first backfill ran with two daemons on one instance (duplicate-heartbeat errors in daemon.log)."""

    def daemon_alive(instance) -> bool:  # as lq backfill judges it (lq_assets.cli.backfill.daemon_alive)
        beat = instance.get_daemon_heartbeats().get("BACKFILL")
        return bool(beat) and time.time() - beat.timestamp < 60.0

    with _instance(env) as instance:
        deadline = time.monotonic() + timeout
        while not daemon_alive(instance):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the daemon sent no heartbeat within {timeout:.0f} s")
            time.sleep(1.0)


RETRIED: list[int] = []  # per timed backfill: runs that failed and were run again by the run retries
FAILED: list[int] = []  # per timed backfill: partitions whose last run did not succeed


def _steps(env: dict, backfill_id: str) -> list[dict]:
    """Per run of a backfill that counts (a run the instance retried counts by its retry): when it was
    created, started and ended, and per step the worker that ran it, its span (start to success) and
    what it read (parameter sets, dataset hash). Notes the retried runs and the failed partitions
    (``RETRIED``, ``FAILED``)."""
    import dagster as dg

    from lq_assets.cli.backfill import retried_runs

    out = []
    with _instance(env) as instance:
        recs = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        retried = retried_runs([r.dagster_run for r in recs])
        recs = [r for r in recs if r.dagster_run.run_id not in retried]
        RETRIED.append(len(retried))
        FAILED.append(sum(r.dagster_run.status != dg.DagsterRunStatus.SUCCESS for r in recs))
        for r in recs:
            run = {"run_id": r.dagster_run.run_id[:8], "partition": r.dagster_run.tags.get("dagster/partition"),
                   "created": r.create_timestamp.timestamp(), "start": r.start_time, "end": r.end_time,
                   "steps": {}}
            for e in instance.all_logs(r.dagster_run.run_id):
                ev = e.dagster_event
                if ev is None or not e.step_key:
                    continue
                st = run["steps"].setdefault(e.step_key, {})
                t = ev.event_type_value
                if t == "STEP_START":
                    st["start"] = e.timestamp
                elif t == "STEP_SUCCESS":
                    st["end"] = e.timestamp
                elif t == "ENGINE_EVENT" and "Celery worker" in (ev.event_specific_data.metadata or {}):
                    st.setdefault("queued", e.timestamp)
                    st["worker"] = ev.event_specific_data.metadata["Celery worker"].value
                elif t == "ASSET_MATERIALIZATION":
                    md = ev.event_specific_data.materialization.metadata
                    for k in ("parameter_sets", "dataset_hash", "n_trials"):
                        if k in md:
                            st[k] = md[k].value
            for st in run["steps"].values():
                if "start" in st and "end" in st:
                    st["seconds"] = round(st["end"] - st["start"], 2)
            out.append(run)
    return out


REPORT: list[dict] = []


def _timed_backfill(env: dict, partitions: list[str], label: str = "") -> tuple[float, float]:
    """(execution span of the backfill's runs, wall time of `lq backfill --wait`)."""
    t0 = time.perf_counter()
    out = _lq(env, "backfill", "prefilter_rankings", "replay_results", "--partitions", *partitions, "--wait",
              "--timeout", "1800")
    wall = time.perf_counter() - t0
    backfill_id = out.split("backfill ", 1)[1].split(":", 1)[0]
    runs = _steps(env, backfill_id)
    # the execution, without the daemon's 30 s polling of backfills before and after
    span = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    REPORT.append({"label": label, "backfill": backfill_id, "span": span, "wall": wall, "runs": runs})
    return span, wall


def _home(root: Path, template: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copyfile(template, root / "dagster.yaml")
    return root


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--universes", type=int, default=4, help="universes (x 2 strategies = partitions)")
    ap.add_argument("--days", type=int, default=180, help="days of 1-minute bars per symbol")
    ap.add_argument("--sample", type=int, default=3000, help="stage-1 parameter sets per strategy")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (logs, steps.json)")
    ap.add_argument("--hog", type=int, default=0, metavar="N",
                    help="N processes spinning on a CPU beside the scheduler for the whole run (a busy machine)")
    args = ap.parse_args(argv)

    import scaleout_servers

    from lq_engine.data.paths import DataPaths
    from lq_engine.data.samples import write_synthetic_to_landing

    tmp = Path(tempfile.mkdtemp(prefix="lq-bench-scaleout-"))
    logs = tmp / "logs"
    logs.mkdir()
    universes = [f"u{i}" for i in range(args.universes)]
    partitions = [f"{u}|{s}" for u in universes for s in STRATEGIES]
    (tmp / "project").mkdir()
    config = tmp / "project" / "luminaquant.toml"
    config.write_text(_config(universes, args.sample))
    servers = scaleout_servers.start(tmp / "servers")
    procs: list[subprocess.Popen] = []
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(args.hog)]
    try:
        from lq_assets.cli.environment import GRPC_TIMEOUT_S

        # the daemon is started here directly, not by lq: give it lq's gRPC limit (``environment.setup``)
        base = {**os.environ, "LQ_CONFIG": str(config), "LQ_AUTOMATION": "off", "LQ_NATIVE_BACKEND": "numba",
                "LQ_THREADS": "1", "LQ_RUN_LOG_LEVEL": "WARNING", "DAGSTER_GRPC_TIMEOUT_SECONDS": str(GRPC_TIMEOUT_S)}
        base.pop("LQ_PROJECT", None)
        dist = {**base, **servers.env, "LQ_DATA_DIR": str(tmp / "dist"),
                "LQ_DAGSTER_HOME": str(_home(tmp / "dist_home",
                                             ROOT / "dagster_home" / "distributed" / "dagster.yaml"))}
        dist["DAGSTER_HOME"] = dist["LQ_DAGSTER_HOME"]
        local = {k: v for k, v in base.items() if k not in servers.env}
        local.update(LQ_DATA_DIR=str(tmp / "local"),
                     LQ_DAGSTER_HOME=str(_home(tmp / "local_home", ROOT / "dagster_home" / "dagster.yaml")))
        local["DAGSTER_HOME"] = local["LQ_DAGSTER_HOME"]

        files = write_synthetic_to_landing(DataPaths((tmp / "dist").resolve()).ensure(), args.universes, args.days,
                                           args.seed, "2024-01-01")
        _lq(dist, "ingest", *map(str, files))  # in process: into the S3 lake, frozen datasets published
        _lq(local, "ingest", *map(str, files))

        workspace = str(ROOT / "workspace.yaml")
        daemon = _start([sys.executable, "-m", "lq_assets.daemon", "run", "-w", workspace], dist, logs / "daemon.log")
        procs.append(daemon)
        _wait_daemon(dist)
        workers = [_start([str(BIN / "lq"), "worker", "-n", "b1"], dist, logs / "b1.log")]
        procs += workers
        _timed_backfill(dist, partitions, "warmup1")  # warm-up: numba cache, frozen-dataset cache, code server
        one = [_timed_backfill(dist, partitions, "w1") for _ in range(args.repeats)]
        single = [_timed_backfill(dist, partitions[:1], "single_dist") for _ in range(args.repeats)]
        w2 = _start([str(BIN / "lq"), "worker", "-n", "b2"], dist, logs / "b2.log")
        procs.append(w2)
        _timed_backfill(dist, partitions[:2], "warmup2")  # the new worker's warm-up
        two = [_timed_backfill(dist, partitions, "w2") for _ in range(args.repeats)]
        _stop(procs)
        procs.clear()

        ldaemon = _start([sys.executable, "-m", "lq_assets.daemon", "run", "-w", workspace], local,
                         logs / "local_daemon.log")
        procs.append(ldaemon)
        _wait_daemon(local)
        _timed_backfill(local, partitions[:1], "warmup_local")  # warm-up
        local_single = [_timed_backfill(local, partitions[:1], "single_local") for _ in range(args.repeats)]
    finally:
        _stop(procs + hogs)
        servers.stop()
        (tmp / "steps.json").write_text(json.dumps(REPORT, indent=1, default=str))
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    def med(xs, i):
        return statistics.median(x[i] for x in xs)

    def step_med(label: str, f) -> float:
        return round(statistics.median(f(b["runs"]) for b in REPORT if b["label"] == label), 2)

    def step_work(runs):  # seconds inside steps (STEP_START to STEP_SUCCESS), all steps of all runs
        return sum(st.get("seconds", 0.0) for r in runs for st in r["steps"].values())

    def start_spread(runs):  # first run start to last run start: how fast the runs got launched
        return max(r["start"] for r in runs) - min(r["start"] for r in runs)

    n = len(partitions)
    m1, m2 = med(one, 0), med(two, 0)
    out = {
        "partitions": n,
        "repeats": args.repeats,
        "days": args.days,
        "seconds_1": round(m1, 2),
        "seconds_2": round(m2, 2),
        "partitions_per_min_1": round(n / m1 * 60, 2),
        "partitions_per_min_2": round(n / m2 * 60, 2),
        "scaleout_ratio": round(m1 / m2, 3),
        # each repeat's figures, in order (the ratio of repeat k pairs the k-th 1- and 2-worker backfills)
        "seconds_1_each": ",".join(f"{x[0]:.2f}" for x in one),
        "seconds_2_each": ",".join(f"{x[0]:.2f}" for x in two),
        "scaleout_ratio_each": ",".join(f"{a[0] / b[0]:.3f}" for a, b in zip(one, two)),
        "backfill_wall_1_s": round(med(one, 1), 2),
        "backfill_wall_2_s": round(med(two, 1), 2),
        "single_partition_distributed_s": round(med(single, 0), 2),
        "single_partition_local_s": round(med(local_single, 0), 2),
        "distributed_overhead_s": round(med(single, 0) - med(local_single, 0), 2),
        "step_work_1_s": step_med("w1", step_work),
        "step_work_2_s": step_med("w2", step_work),
        "run_start_spread_1_s": step_med("w1", start_spread),
        "run_start_spread_2_s": step_med("w2", start_spread),
        "single_step_work_distributed_s": step_med("single_dist", step_work),
        "single_step_work_local_s": step_med("single_local", step_work),
        "cores": os.cpu_count(),
        "hog_processes": args.hog,
        "failed_runs": sum(FAILED),  # partitions whose last run failed, over every timed backfill
        "retried_runs": sum(RETRIED),  # runs that failed outside their steps and were run again
    }
    print_figures(out, args.json)
    return out


if __name__ == "__main__":
    main()
