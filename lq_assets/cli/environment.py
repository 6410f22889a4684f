"""Process set-up shared by every ``lq`` verb: DAGSTER_HOME, data root, threads, logging."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from lq_engine.data.paths import REPO_ROOT, DataPaths

INSTANCE_TEMPLATE = REPO_ROOT / "dagster_home" / "dagster.yaml"


def dagster_home() -> Path:
    """``$LQ_DAGSTER_HOME`` or the project's ``dagster_home/``; a fresh folder gets our dagster.yaml."""
    from lq_engine.project import find_project

    home = find_project().dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
    return home


def setup(verbose: bool = False) -> DataPaths:
    """Point Dagster at our instance, make the data folders, log to stderr."""
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Thread counts were set when lq_assets was imported (before polars); see lq_assets/__init__.py.
    return DataPaths.from_env().ensure()


def step(msg: str) -> None:
    """One progress line for long work (flushed, so it shows even when piped)."""
    print(f"[lq] {msg}", flush=True)
