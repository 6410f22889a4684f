"""The engine's layers hold: ``lint-imports`` (import-linter, contracts in pyproject.toml) passes on
the repository, and fails, naming the broken contract, on a copy with a planted back-import, a
planted cycle or a planted Dagster import (so the contracts are not vacuous)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lq_engine.project import CHECKOUT_ROOT

LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), str(root / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def copy_of_the_packages(tmp: Path) -> Path:
    """The Python sources of both packages and pyproject.toml, in ``tmp`` (first on PYTHONPATH)."""
    for pkg in ("lq_engine", "lq_assets"):
        shutil.copytree(CHECKOUT_ROOT / pkg, tmp / pkg,
                        ignore=lambda d, names: [n for n in names if not (n.endswith(".py") or (Path(d) / n).is_dir())
                                                 or n in ("__pycache__", "_shipped", "bundled")])
    shutil.copy(CHECKOUT_ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def plant(root: Path, module: str, line: str) -> None:
    f = root / (module.replace(".", "/") + ".py")
    f.write_text(f.read_text() + f"\n{line}\n")


def test_the_repository_keeps_every_contract():
    res = lint(CHECKOUT_ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 kept, 0 broken" in res.stdout


@pytest.mark.parametrize("module, line, broken", [
    # kernels sit below the optimizer
    ("lq_engine.kernels.metrics", "from lq_engine.optimize import folds", "lq_engine's layers: imports run down only"),
    # the authoring API sits below the machinery that compiles it
    ("lq_engine.authoring.params", "import lq_engine.strategies.spec",
     "lq_engine's layers: imports run down only"),
    # two data modules importing each other
    ("lq_engine.data.paths", "from lq_engine.data import catalog",
     "no import cycles in lq_engine (between the modules of any one package)"),
    ("lq_engine.execution.orders", "import dagster", "lq_engine never imports Dagster or lq_assets"),
])
def test_a_planted_import_breaks_its_contract(tmp_path, module, line, broken):
    root = copy_of_the_packages(tmp_path)
    assert lint(root).returncode == 0  # the copy itself is clean
    plant(root, module, line)
    res = lint(root)
    assert res.returncode != 0
    assert f"{broken} BROKEN" in res.stdout, res.stdout
    assert line.split()[-1].rsplit(".", 1)[-1] in res.stdout  # the report names the planted import


def test_the_low_layers_load_no_polars():
    """``kernels.threads.configure_threads`` must run before polars is imported (POLARS_MAX_THREADS is
    read once), and ``lq_assets`` calls it after importing the kernels: so nothing in the kernels,
    execution, core or authoring layers may import polars (e.g. by hoisting a lazy data.schema import)."""
    import pkgutil

    import lq_engine

    mods = sorted(m.name for m in pkgutil.walk_packages(lq_engine.__path__, "lq_engine.")
                  if m.name.split(".")[1] in ("kernels", "execution", "core", "authoring"))
    assert "lq_engine.kernels.metrics" in mods and "lq_engine.kernels.threads" in mods
    code = "import sys\n" + "".join(f"import {m}\n" for m in mods) + "print('polars' in sys.modules)\n"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=CHECKOUT_ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False", f"one of {mods} imports polars at import time"
