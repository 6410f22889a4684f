"""One place that sets Numba, Polars and native thread counts together.

``configure_threads`` must run before polars is first imported (POLARS_MAX_THREADS is read once at
import); the CLI calls it at start. Threads per process = cores // workers (at least 1), capped by
LQ_THREADS, so threads never outnumber cores. The chosen counts are logged on logger "lq_engine".
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

from lq_engine.errors import EnvVarError, InputError

log = logging.getLogger("lq_engine")


@dataclass(frozen=True)
class ThreadConfig:
    cores: int
    workers: int
    threads: int  # per process: numba, polars and native kernels
    polars_threads: int
    polars_applied: bool  # False if polars was imported before we could set it


_current: ThreadConfig | None = None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def plan_threads(workers: int = 1, requested: int | None = None, cores: int | None = None) -> int:
    cores = cores or available_cores()
    per = max(1, cores // max(1, workers))
    if requested is None:
        env = os.environ.get("LQ_THREADS")
        if env:
            try:
                requested = int(env)
            except ValueError:
                raise EnvVarError(f"LQ_THREADS must be a positive integer, got {env!r}") from None
    if requested is not None:
        if requested < 1:
            raise InputError(f"thread count must be >= 1, got {requested}")
        per = min(per, requested)
    return per


def configure_threads(workers: int = 1, threads: int | None = None) -> ThreadConfig:
    """Set and log thread counts for this process (call first thing in a CLI or worker)."""
    global _current
    n = plan_threads(workers, threads)
    # polars reads POLARS_MAX_THREADS at import: already imported, it is applied only if it was set so
    # (a process forked from lq's forkserver imported polars under its parent's setting)
    applied = "polars" not in sys.modules or os.environ.get("POLARS_MAX_THREADS") == str(n)
    if "polars" not in sys.modules:
        os.environ["POLARS_MAX_THREADS"] = str(n)
    elif not applied:
        log.warning("polars already imported; POLARS_MAX_THREADS=%s cannot change now",
                    os.environ.get("POLARS_MAX_THREADS", "default"))
    os.environ.setdefault("NUMBA_NUM_THREADS", str(available_cores()))
    import numba  # after NUMBA_NUM_THREADS is set: numba reads it once, at import

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    pol = n if applied else int(os.environ.get("POLARS_MAX_THREADS", available_cores()))
    _current = ThreadConfig(available_cores(), workers, n, pol, applied)
    log.info("threads: cores=%d workers=%d numba=%d polars=%d native=%d",
             _current.cores, workers, numba.get_num_threads(), pol, n)
    return _current


def kernel_threads() -> int:
    """Thread count for kernels: the configured count, else numba's current setting."""
    import numba  # not at the top: configure_threads sets NUMBA_NUM_THREADS before numba loads

    return numba.get_num_threads() if _current is None else min(_current.threads, numba.get_num_threads())
