"""Scale-out benchmark: an 8-partition optimization under the distributed profile with 1, then 2 Celery
workers, and the profile's fixed overhead against the local profile.

    uv run python scripts/benchmark_scaleout.py [--universes 4] [--days 10] [--repeats 3] [--json]

Starts PostgreSQL, Redis and SeaweedFS (S3) on 127.0.0.1 (``scaleout_servers``), lands SYNTHETIC
1-minute bars for one symbol per universe, ingests and freezes them (``lq ingest``, in process, into
the S3 lake), then times ``lq backfill prefilter_rankings replay_results`` of universes x strategies
(8 partitions by default) with 1 worker and with 2 (each ``lq worker`` runs one step at a time on
one thread, so N workers use N cores), after an untimed warm-up (numba's cache, the code servers).
``distributed_overhead_s`` is the time of a one-partition backfill under the distributed profile
(1 worker) minus the same backfill under the local profile (SQLite, the daemon's multiprocess
executor, the local lake), on the same data. Medians over ``--repeats``; prints ``name=value`` lines
(and one JSON line with --json).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

BIN = Path(sys.executable).parent
STRATEGIES = ("ma_cross", "rsi")


def _config(universes: list[str]) -> str:
    out = [f'[project]\nshipped_strategies = {list(STRATEGIES)}\n']
    for i, u in enumerate(universes):
        out.append(f'[universes.{u}]\ndescription = "SYNTHETIC"\nsymbols = ["SYN{i:03d}"]\ntimeframe = "1m"\n'
                   'calendar = "24/7"\n')
    out.append("[optimize]\nn_folds = 2\nsample_size = 80\ntop_k_min = 5\ntop_k_max = 5\naudit_size = 4\nseed = 7\n"
               "workers = 1\n")
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
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _timed_backfill(env: dict, partitions: list[str]) -> float:
    t0 = time.perf_counter()
    _lq(env, "backfill", "prefilter_rankings", "replay_results", "--partitions", *partitions, "--wait",
        "--timeout", "1800")
    return time.perf_counter() - t0


def _home(root: Path, template: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copyfile(template, root / "dagster.yaml")
    return root


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--universes", type=int, default=4, help="universes (x 2 strategies = partitions)")
    ap.add_argument("--days", type=int, default=10, help="days of 1-minute bars per symbol")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", action="store_true")
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
    config.write_text(_config(universes))
    servers = scaleout_servers.start(tmp / "servers")
    procs: list[subprocess.Popen] = []
    try:
        base = {**os.environ, "LQ_CONFIG": str(config), "LQ_AUTOMATION": "off", "LQ_NATIVE_BACKEND": "numba",
                "LQ_THREADS": "1", "LQ_RUN_LOG_LEVEL": "WARNING"}
        base.pop("LQ_PROJECT", None)
        dist = {**base, **servers.env, "LQ_DATA_DIR": str(tmp / "dist"),
                "LQ_DAGSTER_HOME": str(_home(tmp / "dist_home", ROOT / "dagster_home" / "distributed" / "dagster.yaml"))}
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
        daemon = _start([str(BIN / "dagster-daemon"), "run", "-w", workspace], dist, logs / "daemon.log")
        procs.append(daemon)
        workers = [_start([str(BIN / "lq"), "worker", "-n", "b1"], dist, logs / "b1.log")]
        procs += workers
        _timed_backfill(dist, partitions)  # warm-up: numba cache, frozen-dataset cache, code server
        one = [_timed_backfill(dist, partitions) for _ in range(args.repeats)]
        single = [_timed_backfill(dist, partitions[:1]) for _ in range(args.repeats)]
        w2 = _start([str(BIN / "lq"), "worker", "-n", "b2"], dist, logs / "b2.log")
        procs.append(w2)
        _timed_backfill(dist, partitions[:2])  # the new worker's warm-up
        two = [_timed_backfill(dist, partitions) for _ in range(args.repeats)]
        _stop(procs)
        procs.clear()

        ldaemon = _start([str(BIN / "dagster-daemon"), "run", "-w", workspace], local, logs / "local_daemon.log")
        procs.append(ldaemon)
        _timed_backfill(local, partitions[:1])  # warm-up
        local_single = [_timed_backfill(local, partitions[:1]) for _ in range(args.repeats)]
    finally:
        _stop(procs)
        servers.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    n = len(partitions)
    m1, m2 = statistics.median(one), statistics.median(two)
    out = {
        "partitions": n,
        "repeats": args.repeats,
        "days": args.days,
        "seconds_1": round(m1, 2),
        "seconds_2": round(m2, 2),
        "partitions_per_min_1": round(n / m1 * 60, 2),
        "partitions_per_min_2": round(n / m2 * 60, 2),
        "scaleout_ratio": round(m1 / m2, 3),
        "single_partition_distributed_s": round(statistics.median(single), 2),
        "single_partition_local_s": round(statistics.median(local_single), 2),
        "distributed_overhead_s": round(statistics.median(single) - statistics.median(local_single), 2),
        "cores": os.cpu_count(),
    }
    for k, v in out.items():
        print(f"{k}={v}")
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
