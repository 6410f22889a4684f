"""Deterministic fan-out: tasks in a fixed order, results merged in that same order.

One worker runs the tasks in-process; more use a ``ProcessPoolExecutor`` with the "spawn" context
(polars and numba threads are unsafe after fork). Each worker sets its thread counts first so that
workers x threads never exceed the cores.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence
from lq_engine.errors import InputError
from lq_engine.kernels.threads import configure_threads


def _init_worker(workers: int) -> None:
    configure_threads(workers)


class TaskRunner:
    """``runner.map(fn, tasks)`` -> results in task order; use as a context manager."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise InputError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> TaskRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> list[Any]:
        if self.workers == 1 or len(tasks) <= 1:
            return [fn(t) for t in tasks]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.workers,))
        return list(self._pool.map(fn, tasks, chunksize=1))
