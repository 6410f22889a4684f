import os
import subprocess
import sys

import pytest

from lq_engine.kernels import threads


def test_plan_never_exceeds_cores(monkeypatch):
    monkeypatch.delenv("LQ_THREADS", raising=False)
    assert threads.plan_threads(workers=1, cores=2) == 2
    assert threads.plan_threads(workers=2, cores=2) == 1
    assert threads.plan_threads(workers=8, cores=2) == 1
    assert threads.plan_threads(workers=1, requested=16, cores=2) == 2
    monkeypatch.setenv("LQ_THREADS", "1")
    assert threads.plan_threads(workers=1, cores=2) == 1
    monkeypatch.setenv("LQ_THREADS", "lots")
    with pytest.raises(ValueError, match="LQ_THREADS"):
        threads.plan_threads(cores=2)


_SCRIPT = r"""
import logging, os, sys
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
from lq_engine.kernels.threads import configure_threads
cfg = configure_threads(workers=int(sys.argv[1]))
import polars as pl, numba
print("RESULT", cfg.threads, os.environ["POLARS_MAX_THREADS"], pl.thread_pool_size(), numba.get_num_threads())
"""


@pytest.mark.parametrize("workers,expected", [(1, None), (2, 1)])
def test_configure_sets_polars_and_numba_together_and_logs(workers, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("LQ_THREADS", "POLARS_MAX_THREADS")}
    res = subprocess.run([sys.executable, "-c", _SCRIPT, str(workers)], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    n = expected or threads.available_cores()
    assert f"RESULT {n} {n} {n} {n}" in res.stdout
    assert f"lq_engine threads: cores={threads.available_cores()} workers={workers} numba={n} polars={n}" in res.stderr


_PRELOADED = r"""
import logging, os, sys
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
os.environ["POLARS_MAX_THREADS"] = sys.argv[2]
import polars as pl  # imported first, as in a process forked from lq's forkserver
from lq_engine.kernels.threads import configure_threads
cfg = configure_threads(workers=int(sys.argv[1]))
print("RESULT", cfg.polars_threads, cfg.polars_applied, pl.thread_pool_size())
"""


@pytest.mark.parametrize("applied", [True, False])
def test_polars_imported_first_counts_as_applied_only_under_the_planned_setting(applied):
    """A run forked from the forkserver imported polars under its parent's POLARS_MAX_THREADS: the same
    plan is applied (no warning); another is not, and the warning says so."""
    planned = threads.available_cores()  # workers=1: every core
    preset = str(planned if applied else planned + 1)
    env = {k: v for k, v in os.environ.items() if k != "LQ_THREADS"}
    res = subprocess.run([sys.executable, "-c", _PRELOADED, "1", preset], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert f"RESULT {preset} {applied} {preset}" in res.stdout
    assert ("cannot change now" in res.stderr) is (not applied)
