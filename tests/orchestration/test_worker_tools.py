"""Issue 20 #15: ``.venv/bin/lq worker`` without the venv on PATH died with
``FileNotFoundError: 'celery'`` (dagster-celery starts ``celery`` by name). ``lq worker`` puts its
own interpreter's folder first on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lq_assets.cli.worker import command, own_tools_first

BIN = Path(sys.executable).parent
BARE_PATH = "/usr/bin:/bin"


def test_own_tools_first():
    assert shutil.which("celery", path=BARE_PATH) is None  # the finding's environment
    env = own_tools_first({"PATH": BARE_PATH, "X": "1"})
    assert env["X"] == "1" and env["PATH"].split(os.pathsep) == [str(BIN), "/usr/bin", "/bin"]
    assert shutil.which("celery", path=env["PATH"]) == str(BIN / "celery")
    assert own_tools_first(env) == env  # not added twice


@pytest.mark.slow
def test_dagster_celery_finds_celery_without_the_venv_on_path(tmp_path):
    """The command `lq worker` runs (with Dagster's default Celery app: ours needs the distributed
    profile's servers), with `--help` for celery (it prints and exits): before, on a
    bare PATH it failed with FileNotFoundError 'celery'; with own_tools_first it reaches celery."""
    cmd = [*command("w", 1), "--help"]
    cmd[cmd.index("lq_assets.celery_app")] = "dagster_celery.app"  # ours needs the profile's servers
    bare = {**os.environ, "PATH": BARE_PATH, "DAGSTER_HOME": str(tmp_path)}
    before = subprocess.run(cmd, env=bare, capture_output=True, text=True, timeout=300)
    assert before.returncode != 0 and "FileNotFoundError" in before.stderr and "'celery'" in before.stderr
    after = subprocess.run(cmd, env=own_tools_first(bare), capture_output=True, text=True, timeout=300)
    assert after.returncode == 0, after.stderr[-2000:]
    assert "celery worker" in after.stdout.lower() or "usage" in after.stdout.lower()
