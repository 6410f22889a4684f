"""Portfolio strategies in every check (issue 18, finding 2): `lq strategy check` and the test that
`lq strategy new --portfolio` writes run them (they crashed with AttributeError: 'Bars' object has no
attribute 'n_symbols'), `lq check lookahead` runs them (it refused them), on generated universes with
gaps and late starts or on a frozen dataset."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lq_engine.replay.lookahead import generated_panel
from lq_engine.optimize.checks import check_strategy, generated_data
from lq_engine.strategies.registry import list_strategies, load_file, resolve
from lq_engine.authoring.scaffold import render, write_strategy

CHECKS = ["declaration", "compile", "decisions", "lookahead", "parity", "speed"]


@pytest.fixture(autouse=True)
def _no_project_env(monkeypatch):
    for var in ("LQ_PROJECT", "LQ_CONFIG", "LQ_DATA_DIR", "LQ_DAGSTER_HOME", "DAGSTER_HOME"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("name", list_strategies(portfolio=True))
def test_strategy_check_runs_every_shipped_portfolio_strategy(name):
    report = check_strategy(name, timing=False, sweep_bars=1_000)
    assert report.ok, report.summary()
    assert [r.name for r in report.results] == CHECKS
    detail = {r.name: r.detail for r in report.results}
    assert "symbols (gaps, a late start)" in detail["decisions"]
    assert "portfolio event engine == replay" in detail["parity"]


def test_the_generated_universe_has_gaps_a_late_start_and_an_early_end():
    p = generated_data(resolve("pairs"), 1_000)
    first = p.first_bars()
    last = p.n - 1 - (p.mask[:, ::-1].argmax(axis=1))
    assert p.n_symbols == 5 and first.max() >= 200 and last.min() <= 900
    assert not p.mask[0].all()  # gaps
    assert generated_panel(1_000).n == 1_000


def test_the_portfolio_template_and_its_test_pass_the_checks(tmp_path):
    path, test = write_strategy(tmp_path, tmp_path / "strategies", "top_momentum", portfolio=True)
    assert "lq.PortfolioStrategy" in path.read_text() and path.read_text() == render("top_momentum", True)
    assert 'check_strategy("top_momentum"' in test.read_text()
    spec = load_file(path)
    assert spec.is_portfolio
    report = check_strategy(spec, timing=False, sweep_bars=1_000)
    assert report.ok, report.summary()
    assert [r.name for r in report.results] == CHECKS


def test_a_portfolio_cheat_fails_the_strategy_check():
    from pathlib import Path

    spec = load_file(Path(__file__).parent / "cheats" / "future_rank.py")
    report = check_strategy(spec, timing=False, sweep_bars=1_000)
    bad = [r for r in report.results if not r.ok]
    assert [r.name for r in bad] == ["lookahead"], report.summary()
    assert bad[0].detail.startswith("lookahead: the decision at bar ")


def test_lq_check_lookahead_runs_a_portfolio_strategy(tmp_path, monkeypatch, capsys):
    from lq_assets.cli.main import main

    proj = tmp_path / "p"
    assert main(["init", str(proj)]) == 0
    monkeypatch.chdir(proj)
    capsys.readouterr()
    assert main(["check", "lookahead", "xs_momentum", "--cuts", "2"]) == 0
    out = capsys.readouterr().out
    assert "lookahead scan xs_momentum:" in out and "OK" in out and "generated bars (SYNTHETIC)" in out
    assert main(["check", "lookahead", "xs_momentum", "--cuts", "0"]) == 2


def test_the_dataset_option_checks_the_frozen_series_or_panel():
    import polars as pl

    from lq_assets.cli.check import _dataset_data
    from lq_engine.data.samples import bundled_daily_path
    from lq_engine.optimize.inputs import dataset_from_frame
    from lq_engine.replay.lookahead import gate_sets, lookahead_scan
    from lq_engine.strategies.panel import Panel

    ds = dataset_from_frame(pl.read_parquet(bundled_daily_path()), "us_stocks_daily")
    panel = _dataset_data(resolve("xs_momentum"), ds)
    assert isinstance(panel, Panel) and panel.symbols == tuple(ds.symbols)
    series = _dataset_data(resolve("ma_cross"), ds)
    assert [s.symbol for s in series] == list(ds.symbols)
    scan = lookahead_scan("ma_cross", gate_sets(resolve("ma_cross"))[:3], series)
    assert scan.ok and scan.runs > 3 * 16 * len(series)


@pytest.mark.slow
def test_lq_strategy_new_portfolio_writes_a_test_that_passes(tmp_path):
    """`lq strategy new NAME --portfolio` in a new project, then pytest on the test it wrote."""
    from tests.orchestration.live import BIN

    proj = tmp_path / "p"
    env = {k: v for k, v in os.environ.items() if k not in ("LQ_PROJECT", "LQ_CONFIG", "LQ_DATA_DIR",
                                                             "LQ_DAGSTER_HOME", "DAGSTER_HOME")}

    def lq(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "lq"), *args], cwd=proj if proj.exists() else tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    assert lq("init", str(proj)).returncode == 0
    r = lq("strategy", "new", "leaders", "--portfolio")
    assert r.returncode == 0, r.stderr
    assert "lq.PortfolioStrategy" in (proj / "strategies" / "leaders.py").read_text()
    t = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/test_strategy_leaders.py"],
                       cwd=proj, env=env, capture_output=True, text=True, timeout=900)
    assert t.returncode == 0, t.stdout[-3000:] + t.stderr[-3000:]
    assert "1 passed" in t.stdout
