"""Suite-wide settings: how many pytest-xdist workers ``-n auto`` starts, and the end-to-end tests first.

The end-to-end tests (marked ``slow``) spend about half their time waiting on the processes they start
(Dagster's daemon, run and step processes, servers), so the suite keeps 2 cores busy only with more
workers than cores: ``-n auto`` starts 3 on 2 cores (measured: 51 min with one process, 32 with 2
workers). Run one test with ``-n0`` to skip the workers' start-up.
"""

from __future__ import annotations

import os

import pytest


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto``: one and a half per core (at least 1); LQ_TEST_WORKERS overrides."""
    if os.environ.get("LQ_TEST_WORKERS"):
        return int(os.environ["LQ_TEST_WORKERS"])
    cores = len(os.sched_getaffinity(0))
    return max(1, cores * 3 // 2)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The end-to-end tests first (stable otherwise). With ``--dist loadfile --no-loadscope-reorder``
    a file is one unit of work, run by one worker (its module-scoped fixtures, a built wheel, started
    servers, an optimization, are built once), and the files holding the long tests go out first:
    every worker starts on one of them and the fast files fill the gaps, instead of a ten-minute test
    starting last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
