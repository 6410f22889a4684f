"""Issue 21 #1, a fresh project ingests cleanly: `lq ingest` of a 1-minute and of a daily file exits 0
in a new `lq init` project (a universe matching nothing in the lake is skipped with a note), each
file gets one summary line, `lq freeze [DATASET]` re-freezes, `lq lake rm SYMBOL` takes a symbol out
of the lake into the quarantine."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lq_assets.cli.main import main
from lq_engine.authoring.scaffold import init_project
from lq_engine.data.catalog import query_readonly, symbol_row_counts
from lq_engine.data.ingest import ingest_file
from tests.orchestration.bars import write_daily_csv
from tests.orchestration.live import BIN


def write_minute_csv(path: Path, symbol: str, start: str, minutes: int, price: float = 40000.0) -> Path:
    """A valid 1-minute CSV (header symbol,timestamp,open,high,low,close,volume)."""
    t0 = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
    lines = ["symbol,timestamp,open,high,low,close,volume"]
    p = price
    for i in range(minutes):
        c = p * (1.0005 if i % 3 else 0.999)
        lines.append(f"{symbol},{(t0 + timedelta(minutes=i)).strftime('%Y-%m-%dT%H:%M:%S')},{p:.2f},"
                     f"{max(p, c) + 1:.2f},{min(p, c) - 1:.2f},{c:.2f},{1 + i % 7}")
        p = c
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_ingested_file_gets_a_summary_line(data_paths):
    """What the ingest understood of a file: format, symbol(s), timeframe, rows, first and last bar
    (ISO UTC), and what the merge did; the rows already in the lake count as duplicates dropped."""
    f = write_daily_csv(data_paths.landing / "stocks.csv", ["AAPL", "MSFT"], "2013-11-15", 40)
    first = ingest_file(f, data_paths)
    assert first.summary() == ("stocks.csv: CSV, AAPL, MSFT, 1d, 80 rows 2013-11-15T00:00:00Z .. "
                               "2013-12-24T00:00:00Z; 80 new, 0 replaced, 0 duplicates dropped")
    m = write_minute_csv(data_paths.landing / "btc.csv", "BTCUSDT", "2024-01-01T00:00:00", 90)
    ingest_file(m, data_paths)
    again = ingest_file(m, data_paths)
    assert again.summary() == ("btc.csv: CSV, BTCUSDT, 1m, 90 rows 2024-01-01T00:00:00Z .. 2024-01-01T01:29:00Z; "
                               "0 new, 0 replaced, 90 duplicates dropped")


def test_lake_rm_moves_a_symbol_to_the_quarantine_and_out_of_the_catalog(data_paths, cli_env, capsys):
    ingest_file(write_daily_csv(data_paths.landing / "stocks.csv", ["AAPL", "MSFT"], "2013-11-15", 40), data_paths)
    ingest_file(write_minute_csv(data_paths.landing / "aapl_1m.csv", "AAPL", "2013-12-02T14:30:00", 30), data_paths)
    assert symbol_row_counts(data_paths) == {"AAPL": 70, "MSFT": 40}

    assert main(["lake", "rm", "APPL"]) == 2  # unknown: named, with the closest symbol of the lake
    assert capsys.readouterr().err.strip() == ("lq lake: error: symbol 'APPL' is not in the lake (did you mean "
                                               "'AAPL'?); symbols in the lake: AAPL, MSFT")
    assert main(["lake", "rm", "MSFT", "--timeframe", "1h"]) == 2
    assert capsys.readouterr().err.strip() == "lq lake: error: symbol MSFT has no 1h bars in the lake (it has 1d)"

    assert main(["lake", "rm", "AAPL", "--timeframe", "1d"]) == 0
    out = capsys.readouterr().out
    kept = data_paths.quarantine / "lake"
    assert f"moved AAPL 1d: 2 month partition(s) 2013-11 .. 2013-12 to {kept}" in out
    assert "universes with AAPL: us_stocks_daily; their frozen datasets keep it until re-frozen" in out
    assert sorted(p.name.split(".")[0] for p in kept.glob("*.parquet.removed")) == [
        "1d__AAPL__2013-11", "1d__AAPL__2013-12"]
    rows = query_readonly(data_paths, "SELECT symbol, timeframe, count(*) AS n FROM bars GROUP BY ALL ORDER BY ALL")
    assert rows.rows() == [("AAPL", "1m", 30), ("MSFT", "1d", 40)]
    assert not (data_paths.lake / "bars" / "timeframe=1d" / "symbol=AAPL").exists()

    assert main(["lake", "rm", "AAPL"]) == 0  # every timeframe left: the 1m bars
    assert "moved AAPL 1m: 1 month partition(s) 2013-12 .. 2013-12" in capsys.readouterr().out
    assert symbol_row_counts(data_paths) == {"MSFT": 40}
    ingest_file(data_paths.landing / "stocks.csv", data_paths)  # nothing lost: its file brings it back
    assert symbol_row_counts(data_paths) == {"AAPL": 40, "MSFT": 40}


def test_freeze_refuses_an_unknown_dataset_before_dagster_loads(cli_env, data_paths, capsys):
    assert main(["freeze", "us_stocks"]) == 2
    assert capsys.readouterr().err.strip() == (
        "lq freeze: error: DATASET: unknown dataset 'us_stocks' (did you mean 'us_stocks_daily'?); datasets of "
        "luminaquant.toml: synthetic_1m, us_stocks_daily")


def _lq(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`lq ARGS` inside ``project``, as a user runs it (its exit code is the test's to check)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LQ_DATA_DIR", "LQ_DAGSTER_HOME", "DAGSTER_HOME", "LQ_CONFIG")}
    env["LQ_PROJECT"] = str(project)
    return subprocess.run([str(BIN / "lq"), *args], env=env, cwd=project, capture_output=True, text=True,
                          timeout=600)


def _ok(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 0, (res.returncode, res.stdout[-3000:], res.stderr[-3000:])
    return res.stdout


@pytest.mark.slow  # real `lq` processes starting Dagster runs
def test_a_fresh_project_ingests_1m_and_1d_files_and_freezes(tmp_path):
    project = tmp_path / "research"
    init_project(project)
    minute = write_minute_csv(tmp_path / "btc.csv", "BTCUSDT", "2024-01-01T00:00:00", 600)

    # the 1-minute file: bars written and exit 0 (it was 1: synthetic_1m's SYN* matched nothing and failed)
    out = _ok(_lq(project, "ingest", str(minute)))
    assert ("btc.csv: CSV, BTCUSDT, 1m, 600 rows 2024-01-01T00:00:00Z .. 2024-01-01T09:59:00Z; 600 new, 0 replaced, "
            "0 duplicates dropped") in out
    assert "universe synthetic_1m skipped: none of SYN* is in the lake's 1m bars (it has BTCUSDT)" in out
    assert "universe us_stocks_daily skipped: no 1d bars in the lake for AAPL, GOOG, IBM, MSFT" in out

    # a universe of the user's own, then the daily file: frozen by the ingest, exit 0
    with open(project / "luminaquant.toml", "a") as fh:
        fh.write('\n[universes.my_daily]\nsymbols = ["SPY"]\ntimeframe = "1d"\ncalendar = "equities"\n')
    daily = write_daily_csv(tmp_path / "spy.csv", ["SPY"], "2020-01-01", 300)
    out = _ok(_lq(project, "ingest", str(daily)))
    last = (datetime(2020, 1, 1) + timedelta(days=299)).strftime("%Y-%m-%d")
    assert f"spy.csv: CSV, SPY, 1d, 300 rows 2020-01-01T00:00:00Z .. {last}T00:00:00Z; 300 new" in out
    assert "universe my_daily frozen: SPY (1d), 300 rows, hash " in out
    assert ("universe us_stocks_daily skipped: none of AAPL, GOOG, IBM, MSFT is in the lake's 1d bars "
            "(it has SPY)") in out

    # lq freeze: one universe (the same job as the ingest's), a skipped one named (exit 1), an unknown one (exit 2)
    out = _ok(_lq(project, "freeze", "my_daily"))
    assert "universe my_daily frozen: SPY (1d), 300 rows, hash " in out and "synthetic_1m" not in out
    res = _lq(project, "freeze", "synthetic_1m")
    assert res.returncode == 1 and res.stderr.strip().splitlines()[-1] == (
        "lq freeze: error: nothing frozen: universe synthetic_1m skipped: none of SYN* is in the lake's 1m bars "
        "(it has BTCUSDT)"), (res.stdout[-2000:], res.stderr[-2000:])
    res = _lq(project, "freeze", "my_dayly")
    assert res.returncode == 2 and res.stderr.strip() == (
        "lq freeze: error: DATASET: unknown dataset 'my_dayly' (did you mean 'my_daily'?); datasets of "
        "luminaquant.toml: my_daily, synthetic_1m, us_stocks_daily"), res.stderr[-2000:]

    # lq lake rm: gone from `lq sql`, kept in the quarantine
    out = _ok(_lq(project, "lake", "rm", "BTCUSDT"))
    assert f"moved BTCUSDT 1m: 1 month partition(s) 2024-01 .. 2024-01 to {project / 'data' / 'quarantine' / 'lake'}" \
        in out
    out = _ok(_lq(project, "sql", "SELECT DISTINCT symbol FROM bars ORDER BY 1"))
    assert "SPY" in out and "BTCUSDT" not in out
