"""Process set-up shared by every ``lq`` verb: DAGSTER_HOME, data root, threads, logging."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from lq_engine.data.paths import DataPaths


def dagster_home() -> Path:
    """``$LQ_DAGSTER_HOME`` or the project's ``dagster_home/`` (``dagster_home/distributed/`` in the
    distributed profile); a fresh folder gets the profile's dagster.yaml."""
    from lq_assets.profile import default_dagster_home, instance_template
    from lq_engine.project import find_project

    home = Path(os.environ["LQ_DAGSTER_HOME"]).resolve() if os.environ.get("LQ_DAGSTER_HOME") else \
        default_dagster_home(find_project().dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(instance_template(), home / "dagster.yaml")
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
    from lq_assets.profile import check_services

    for checked in check_services():  # distributed profile: every server answers, or a clear error
        logging.getLogger("lq").debug(f"reachable: {checked}")
    return DataPaths.from_env().ensure()


def workspace() -> tuple[Path, Path]:
    """(workspace.yaml, working directory) for the Dagster processes ``lq`` starts: the project's
    own workspace.yaml (the shipped one if the project has none) and the project's root, so that
    the webserver, the daemon, its code servers and run workers all work in this project."""
    from lq_engine.project import find_project, shipped

    project = find_project()
    ws = project.workspace if project.workspace.is_file() else shipped("workspace.yaml")
    return ws, project.root


def step(msg: str) -> None:
    """One progress line for long work (flushed, so it shows even when piped)."""
    print(f"[lq] {msg}", flush=True)
