"""A researcher's project in a temporary folder (luminaquant.toml, strategies/, dagster_home/) and
`lq` run inside it, as a user would: the end-to-end tests of user and portfolio strategies."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from tests.orchestration.live import BIN

BUNDLED = REPO_ROOT / "lq_engine" / "data" / "bundled" / "us_stocks_daily.parquet"


def bundled_toml(extra: str = "", **optimize: object) -> str:
    """A luminaquant.toml with the bundled daily stocks (AAPL, GOOG, IBM, MSFT) as ``us_stocks_daily``,
    an ``[optimize]`` table of ``optimize`` (small folds and top k: fast) and ``extra`` tables."""
    settings = {"n_folds": 2, "top_k_min": 3, "top_k_max": 4, "audit_size": 2, **optimize}
    lines = "".join(f"{k} = {v!r}\n" for k, v in settings.items())
    return ('[universes.us_stocks_daily]\nsymbols = ["AAPL", "GOOG", "IBM", "MSFT"]\ntimeframe = "1d"\n'
            f'calendar = "equities"\n\n[optimize]\n{lines}' + (f"\n{extra}" if extra else ""))


def small_bars(path: Path, symbols: tuple[str, ...] = ("AAPL", "MSFT"), since_year: int = 2011) -> Path:
    """``path``: the bundled bars of ``symbols`` from ``since_year`` on (AAPL and MSFT 2011-2013: 72
    month partitions to ingest instead of the whole file's ~650, for tests that need a dataset but
    not its size)."""
    import datetime as dt

    import polars as pl

    cut = int(dt.datetime(since_year, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000_000  # ts: ns
    pl.read_parquet(BUNDLED).filter(pl.col("symbol").is_in(list(symbols)) & (pl.col("ts") >= cut)).write_parquet(path)
    return path


def new_project(root: Path, toml: str, strategies: dict[str, str] | None = None) -> Path:
    """``root/research`` with ``toml`` as its luminaquant.toml and ``strategies`` (file stem -> source)."""
    project = root / "research"
    (project / "strategies").mkdir(parents=True)
    (project / "dagster_home").mkdir()
    shutil.copyfile(REPO_ROOT / "dagster_home" / "dagster.yaml", project / "dagster_home" / "dagster.yaml")
    (project / "luminaquant.toml").write_text(toml)
    for name, source in (strategies or {}).items():
        (project / "strategies" / f"{name}.py").write_text(source)
    return project


def lq(args: list[str], project: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """``lq ARGS`` in ``project`` (found through LQ_PROJECT); fails the test with its output unless it exits 0."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LQ_DATA_DIR", "LQ_DAGSTER_HOME", "DAGSTER_HOME", "LQ_CONFIG")}
    env["LQ_PROJECT"] = str(project)
    res = subprocess.run([str(BIN / "lq"), *args], env=env, cwd=project, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, f"lq {' '.join(args)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res
