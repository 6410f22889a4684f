"""The user's mistakes get one line, exit code 2 and no traceback; bugs keep their traceback;
Dagster's and DuckDB's warnings show only with -v. Real `lq` subprocesses, one temp data root and
instance for the module (most mistakes are caught before Dagster loads, so these are quick)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from lq_engine.data.paths import DataPaths
from lq_engine.strategies.registry import list_strategies
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import run_lq


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("mistakes")
    home = root / "dagster_home"
    home.mkdir()
    return lq_env(DataPaths(root / "data").ensure(), home)


def one_line_error(env, args: list[str]) -> str:
    r = run_lq(args, env=env, timeout=300)
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.slow  # real lq processes
def test_unknown_dataset_names_the_known_ones(env):
    assert one_line_error(env, ["optimize", "--dataset", "us_stocks"]) == (
        "lq optimize: error: --dataset: unknown dataset 'us_stocks' (did you mean 'us_stocks_daily'?); "
        "datasets of luminaquant.toml: synthetic_1m, us_stocks_daily")
    assert one_line_error(env, ["paper", "--dataset", "crypto"]) == (
        "lq paper: error: --dataset: unknown dataset 'crypto'; datasets of luminaquant.toml: synthetic_1m, "
        "us_stocks_daily")


@pytest.mark.slow  # real lq processes
def test_unknown_strategy_names_the_known_ones(env):
    known = ", ".join(list_strategies())
    assert one_line_error(env, ["optimize", "--strategy", "ma_cros"]) == (
        f"lq optimize: error: --strategy: unknown strategy 'ma_cros' (did you mean 'ma_cross'?); strategies: {known} "
        "(see `lq strategy list`)")


@pytest.mark.slow  # real lq processes
def test_bad_optimizer_settings_name_their_flags(env):
    assert one_line_error(env, ["optimize", "--top-k-min", "10", "--top-k-max", "3"]) == (
        "lq optimize: error: --top-k-max (3) is below --top-k-min (10)")
    assert one_line_error(env, ["optimize", "--holdout", "1.5"]) == (
        "lq optimize: error: --holdout must be in (0.0, 1.0), got 1.5")
    assert one_line_error(env, ["optimize", "--search", "tpe", "--sample", "50"]) == (
        "lq optimize: error: --sample samples the grid; search 'tpe' takes --trials (and --timeout) instead")
    assert one_line_error(env, ["optimize", "--no-brackets", "--stop-loss", "0.02"]) == (
        "lq optimize: error: --no-brackets contradicts --stop-loss")


@pytest.mark.slow  # real lq processes
def test_bad_month_says_the_expected_format(env):
    assert one_line_error(env, ["backfill", "market_bars", "--from", "2013-13", "--to", "2014-01"]) == (
        "lq backfill: error: --from: '2013-13' is not a month: expected YYYY-MM, e.g. 2013-01")
    assert one_line_error(env, ["backfill", "market_bars", "--from", "2014-02", "--to", "2014-01"]) == (
        "lq backfill: error: --from 2014-02 is after --to 2014-01")
    assert one_line_error(env, ["backfill", "market_bars", "--from", "2013-01"]) == (
        "lq backfill: error: market_bars needs --from YYYY-MM and --to YYYY-MM")


@pytest.mark.slow  # real lq processes
def test_bad_file_says_where_it_went(env, tmp_path):
    data = DataPaths(Path(env["LQ_DATA_DIR"]))
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,timestamp,open,high,low,close,volume\n"
                   "AAA,2024-01-02T00:00:00,10,11,9,10.5,100\nAAA,2024-01-03T00:00:00,10,11,9,-1,100\n")
    q = data.quarantine / "bad.csv"
    assert one_line_error(env, ["ingest", str(bad)]) == (
        f"lq ingest: error: bad.csv rejected: {tmp_path.name}/bad.csv, row 2, field 'close': close -1.0 is not a "
        f"positive price; copied to {q} (reason in bad.csv.reason.json)")  # read in place, left there
    assert q.exists() and q.with_name("bad.csv.reason.json").exists() and bad.exists()
    assert one_line_error(env, ["ingest", str(tmp_path / "missing.csv")]) == (
        f"lq ingest: error: {tmp_path / 'missing.csv'}: no such file")


@pytest.mark.slow  # real lq processes
def test_warnings_and_logs_show_with_verbose_only(env):
    """A verb that loads the Dagster definitions: quiet by default, Dagster's notices with -v (and
    the log file is named)."""
    args = ["backfill", "market_bars", "--from", "2013-11", "--to", "2013-12", "--symbols", "NOPE"]
    line = one_line_error(env, args)
    assert line == "lq backfill: error: no symbols registered yet: ingest data first (lq demo / lq ingest)" or \
        line.startswith("lq backfill: error: --symbols: not registered"), line
    r = run_lq(["-v", *args], env=env)
    assert r.returncode == 2 and "BetaWarning" in r.stderr and "PreviewWarning" in r.stderr, r.stderr[-3000:]
    log = os.path.join(env["LQ_DATA_DIR"], "logs", "lq.log")
    assert f"log file: {log}" in r.stdout
    assert "BetaWarning" in open(log).read()  # the log file has them either way


def test_bugs_keep_their_traceback(monkeypatch, capsys):
    """Anything that is not an LQError propagates (Python prints the traceback); LQErrors are one line."""
    from lq_assets.cli import main as cli
    from lq_engine.errors import UsageError

    def parser_with(exc: BaseException):
        def build():
            p = argparse.ArgumentParser(prog="lq")
            p.add_argument("-v", "--verbose", action="store_true")
            sub = p.add_subparsers(dest="verb", required=True)
            v = sub.add_parser("boom")

            def fail(_args):
                raise exc

            v.set_defaults(func=fail)
            return p
        return build

    monkeypatch.setattr(cli, "build_parser", parser_with(KeyError("a bug")))
    with pytest.raises(KeyError):
        cli.main(["boom"])
    monkeypatch.setattr(cli, "build_parser", parser_with(ValueError("a bug too")))
    with pytest.raises(ValueError):
        cli.main(["boom"])
    monkeypatch.setattr(cli, "build_parser", parser_with(UsageError("--x: bad")))
    assert cli.main(["boom"]) == 2
    assert capsys.readouterr().err == "lq boom: error: --x: bad\n"


def test_settings_are_declared_once():
    """OptimizeSettings (Dagster run config) and the `lq optimize` flags come from OptimizeConfig."""
    from lq_assets.cli.main import build_parser
    from lq_assets.cli.optimize import settings_of
    from lq_assets.optimize.settings import BracketSettings, OptimizeSettings
    from lq_engine.optimize.config import bracket_legs, run_settings

    names = [s.name for s in run_settings()]
    assert set(OptimizeSettings.model_fields) == {*names, "brackets", "dataset_hash"}
    assert list(BracketSettings.model_fields) == list(bracket_legs())
    argv = ["optimize"]
    for s in run_settings():
        argv += [s.flag, str(s.choices[-1] if s.choices else (s.default if s.default is not None else 1))]
    given = settings_of(build_parser().parse_args(argv))
    assert sorted(given) == sorted(names)
    assert OptimizeSettings(**given).model_dump()["top_k_max"] == given["top_k_max"]
