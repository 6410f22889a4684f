"""Fixtures for the Dagster layer: a temp data root and a temp DAGSTER_HOME per test."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from lq_engine.data.paths import DataPaths
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT


@pytest.fixture
def data_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataPaths:
    root = tmp_path / "data"
    monkeypatch.setenv("LQ_DATA_DIR", str(root))
    return DataPaths(root).ensure()


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("LQ_DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def lq_env(data_paths: DataPaths, home: Path, **extra: str) -> dict[str, str]:
    """Environment for an `lq` / dagster subprocess confined to the temp folders."""
    env = dict(os.environ)
    env.update(LQ_DATA_DIR=str(data_paths.root), LQ_DAGSTER_HOME=str(home), DAGSTER_HOME=str(home), **extra)
    return env


@pytest.fixture
def cli_env(dagster_home, monkeypatch):
    """What `setup` of an in-process `lq` verb sets (os.environ, the root logger's handlers), undone
    after the test."""
    for var, value in (("LQ_RUN_LOG_LEVEL", "CRITICAL"), ("DAGSTER_GRPC_TIMEOUT_SECONDS", "300")):
        monkeypatch.setenv(var, os.environ.get(var, value))
    monkeypatch.delenv("LQ_CLI_T0", raising=False)  # setup sets it: removed again afterwards
    root = logging.getLogger()
    level = root.level
    yield dagster_home
    for h in [h for h in root.handlers if getattr(h, "_lq", False)]:
        root.removeHandler(h)
        h.close()
    root.setLevel(level)
