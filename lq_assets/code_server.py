"""``python -m lq_assets.code_server api grpc ...``: Dagster's code server (same arguments) whose runs
start from a warm process instead of a cold interpreter.

Dagster's code server starts each run in a *spawned* interpreter (``multiprocessing`` "spawn") that
imports Dagster and the libraries the definitions use (numba, scipy, polars, DuckDB, pyarrow, Celery)
before the run's first step is even queued: 4-6 CPU-s per run, most of a small run's cost. A
backfill of eight runs on a 2-core machine spent about 40 CPU-s on it while the Celery workers waited
for steps (scale-out benchmark, issue 25). Here a run is forked from a ``forkserver`` process that has
imported those *libraries* once (``PRELOAD``, ``preload_modules``): a run pays only for the import of
``lq_engine``, ``lq_assets`` and the project's strategies (about 0.4 CPU-s).

Our own code and the project's strategy files are *not* preloaded: a run imports them fresh, so a
strategy edited while the daemon runs takes effect in the next run, as with Dagster's spawn.

``lq_assets.daemon`` starts its code servers with this module (``use_for_code_servers``); a code
server started any other way (``dagster dev``, ``dagster api grpc``) keeps Dagster's spawn. Set
``LQ_RUN_START=spawn`` to keep the spawn here too.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import sys
from collections.abc import Sequence

# Libraries a run imports (the definitions, the executor, the instance's storage). Import errors are
# skipped (an optional extra not installed); a module that is not preloaded is imported by the run.
PRELOAD = (
    "dagster",
    "dagster._core.execution.api",
    "dagster._grpc.impl",
    "dagster_postgres",
    "dagster_celery",
    "celery",
    "numpy",
    "polars",
    "pyarrow",
    "pyarrow.parquet",
    "duckdb",
    "numba",
    "scipy.stats",
    "boto3",
)

_OWN = ("lq_engine", "lq_assets")


def preload_modules() -> list[str]:
    """``PRELOAD`` without what is not installed (``find_spec`` imports a submodule's parents, cheap
    next to the import that follows), never our own packages: besides being imported fresh by each
    run, ``lq_assets`` sets numba's thread count at import, which starts numba's threading layer, and
    OpenMP aborts any process forked from one that started it."""
    out = []
    for name in PRELOAD:
        if name.split(".")[0] in _OWN:
            continue
        try:
            if importlib.util.find_spec(name) is not None:
                out.append(name)
        except (ImportError, ValueError):
            continue
    return out


def forked_starts() -> bool:
    """Whether runs (and local steps) fork from a forkserver: ``LQ_RUN_START`` is not ``spawn``."""
    return os.environ.get("LQ_RUN_START", "forkserver") != "spawn"


def run_context() -> multiprocessing.context.BaseContext:
    """The context the code server starts runs in: a forkserver with ``preload_modules()`` (spawn
    when ``LQ_RUN_START=spawn``)."""
    if not forked_starts():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(preload_modules())
    return ctx


def _patch_server() -> None:
    from dagster._grpc import server

    init = server.DagsterApiServer.__init__
    if getattr(init, "_lq_patched", False):
        return

    def __init__(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        self._mp_ctx = run_context()  # read by StartRun only: the run's process, its queue and event

    __init__._lq_patched = True  # type: ignore[attr-defined]
    server.DagsterApiServer.__init__ = __init__


def entry_point(executable_path: str) -> Sequence[str]:
    """The command prefix of a code server: this module instead of ``python -m dagster``."""
    return [executable_path, "-m", "lq_assets.code_server"]


def use_for_code_servers() -> None:
    """Make the code servers this process starts (the daemon's) run ``lq_assets.code_server``."""
    from dagster._grpc import server

    server.get_python_environment_entry_point = entry_point


def main(argv: Sequence[str] | None = None) -> None:
    _patch_server()
    from dagster._cli import main as dagster_main

    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    dagster_main()


if __name__ == "__main__":
    main()
