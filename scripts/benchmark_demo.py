"""`lq demo` cold, as a user meets it the first time (issue 21 #7: <= 120 s on 2 cores).

    uv run python scripts/benchmark_demo.py [--repeats 3] [--keep] [--json]

Each run starts from nothing: a fresh project made by ``lq init`` in a temporary folder (its own
``data/`` and ``dagster_home/``), an empty numba cache (``NUMBA_CACHE_DIR``) and an empty native
build folder (``LQ_NATIVE_BUILD_DIR``: the C and Rust kernels are compiled again), what a fresh
clone has; the variables that would point ``lq`` elsewhere (``LQ_PROJECT``, ``LQ_DATA_DIR``,
``LQ_DAGSTER_HOME``, ...) are removed. Then ``lq demo`` runs in that folder with this interpreter
and its wall time is taken from outside (interpreter start and imports included; installing the
environment, ``uv run``'s first step, is not).

Prints, per run, ``run<i>_demo_seconds`` and the stage timings the demo prints
(``run<i>_<stage>_seconds``; strategies under ``optimization`` as ``optimization.<strategy>``), then
``demo_seconds`` = the median run and the median of each stage, as ``name=value`` lines (--json:
one JSON line too). Timings on a shared machine are noisy: compare medians taken side by side.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import print_figures

REPO = Path(__file__).resolve().parents[1]
# variables that would make the demo use another project, data root, instance or cache
CLEARED = ("LQ_PROJECT", "LQ_CONFIG", "LQ_DATA_DIR", "LQ_LAKE_URI", "LQ_DAGSTER_HOME", "DAGSTER_HOME",
           "LQ_CLI_T0", "LQ_PROFILE", "NUMBA_CACHE_DIR", "LQ_NATIVE_BUILD_DIR")
STAGE_LINE = re.compile(r"^(?P<indent>\s{2,})(?P<name>\S.*?)\s{2,}(?P<secs>\d+\.\d)s$")


def lq_command() -> list[str]:
    exe = Path(sys.executable).with_name("lq")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "lq_assets.cli.main"]


def stage_timings(output: str) -> dict[str, float]:
    """The demo's "Stage timings:" table: stage -> seconds (nested stages as ``parent.child``)."""
    out: dict[str, float] = {}
    lines = output.splitlines()
    try:
        start = lines.index("Stage timings:") + 1
    except ValueError:
        return out
    parent = ""
    for line in lines[start:]:
        m = STAGE_LINE.match(line)
        if not m:
            break
        name = m["name"].strip().replace(" ", "_")
        if len(m["indent"]) == 2:
            parent = name
            key = name
        else:
            key = f"{parent}.{name}"
        if name != "total":
            out[key] = float(m["secs"])
    return out


def one_run(i: int, keep: bool) -> tuple[float, dict[str, float], str]:
    tmp = Path(tempfile.mkdtemp(prefix=f"lq_demo_bench{i}_"))
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(NUMBA_CACHE_DIR=str(tmp / "numba_cache"), LQ_NATIVE_BUILD_DIR=str(tmp / "native_build"),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p))
    try:
        subprocess.run([*lq_command(), "init", str(tmp / "proj")], env=env, check=True, capture_output=True,
                       text=True, cwd=tmp)
        t0 = time.perf_counter()
        done = subprocess.run([*lq_command(), "demo"], env=env, cwd=tmp / "proj", capture_output=True, text=True)
        secs = time.perf_counter() - t0
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit(f"run {i}: lq demo exited {done.returncode} (output above; folder {tmp})")
        return secs, stage_timings(done.stdout), done.stdout
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"# run {i} kept in {tmp}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="cold runs (default 3); the median is demo_seconds")
    ap.add_argument("--keep", action="store_true", help="keep each run's temporary folder (named on stderr)")
    ap.add_argument("--show", action="store_true", help="print each run's demo output to stderr")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    figures: dict[str, object] = {"cores": os.cpu_count() or 0, "repeats": args.repeats}
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    for i in range(1, args.repeats + 1):
        secs, timings, output = one_run(i, args.keep)
        if args.show:
            sys.stderr.write(output)
        totals.append(secs)
        figures[f"run{i}_demo_seconds"] = round(secs, 1)
        for k, v in timings.items():
            figures[f"run{i}_{k}_seconds"] = v
            stages.setdefault(k, []).append(v)
        print(f"# run {i}: {secs:.1f} s", file=sys.stderr, flush=True)
    figures["demo_seconds"] = round(statistics.median(totals), 1)
    for k, v in stages.items():
        figures[f"{k}_seconds"] = round(statistics.median(v), 1)
    print_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
