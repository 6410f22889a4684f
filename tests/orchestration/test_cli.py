"""The `lq` command end to end, as a user runs it (real subprocesses, temp data and instance)."""

from __future__ import annotations

import signal

import duckdb

from tests.orchestration.bars import write_daily_csv
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import BIN, free_port, run_lq, start, wait_for, webserver_up


def test_every_verb_has_help():
    for verb in ("demo", "ingest", "generate", "ui", "backfill", "optimize", "sql", "paper", "native", "check"):
        r = run_lq([verb, "--help"], env=None)
        assert r.returncode == 0 and "usage: lq " + verb in r.stdout


def test_demo_materializes_bundled_data(data_paths, dagster_home):
    r = run_lq(["demo"], env=lq_env(data_paths, dagster_home))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "frozen dataset us_stocks_daily: hash" in r.stdout
    with duckdb.connect(str(data_paths.catalog), read_only=True) as con:
        counts = dict(con.execute("SELECT symbol, count(*) FROM bars GROUP BY symbol").fetchall())
    assert {"AAPL", "GOOG", "IBM", "MSFT"} <= set(counts)
    assert all(n > 2000 for n in counts.values() if n != counts.get("FB")), counts
    r = run_lq(["sql", "SELECT symbol, count(*) AS n FROM bars GROUP BY symbol ORDER BY symbol"], env=lq_env(data_paths, dagster_home))
    assert r.returncode == 0 and "AAPL" in r.stdout and "3270" in r.stdout, r.stdout + r.stderr
    r = run_lq(["sql", "SELEC nonsense"], env=lq_env(data_paths, dagster_home))
    assert r.returncode == 2 and "query failed" in r.stderr

    # paper trading on the demo's frozen dataset: a partial run, then a resumed one
    env = lq_env(data_paths, dagster_home)
    base = ["paper", "--dataset", "us_stocks_daily", "--symbol", "IBM", "--strategy", "ma_cross",
            "--params", '{"fast": 10, "slow": 40, "side": "long"}']
    r = run_lq([*base, "--max-bars", "300"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_lq([*base, "--max-bars", "600"], env=env)
    assert r.returncode == 0 and "600 bars" in r.stdout, r.stdout + r.stderr
    r = run_lq(["paper", "status", "--dataset", "us_stocks_daily", "--symbol", "IBM", "--strategy", "ma_cross"], env=env)
    assert r.returncode == 0 and '"bars_processed": 600' in r.stdout, r.stdout + r.stderr
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        ev = instance.get_latest_materialization_event(dg.AssetKey("paper_trading"))
    assert ev is not None and ev.asset_materialization.metadata["bars"].value == 600


def test_backfill_runs_under_the_daemon_and_reports(data_paths, dagster_home):
    env = lq_env(data_paths, dagster_home)
    src = write_daily_csv(data_paths.root / "stocks.csv", ["AAPL", "IBM"], "2013-11-01", 50)
    r = run_lq(["ingest", str(src), "--no-freeze"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_lq(["backfill", "market_bars", "--from", "2013-11", "--to", "2013-12", "--symbols", "IBM", "--wait"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "succeeded" in r.stdout
    r = run_lq(["backfill", "market_bars", "--from", "2013-11", "--to", "2013-12", "--symbols", "NOPE"], env=env)
    assert r.returncode == 2 and "not registered" in r.stderr


def test_ui_serves_and_stops_cleanly_on_sigterm(data_paths, dagster_home, tmp_path):
    port = free_port()
    log = tmp_path / "ui.log"
    proc = start([str(BIN / "lq"), "ui", "--port", str(port)], lq_env(data_paths, dagster_home), log)
    try:
        wait_for(lambda: webserver_up(port), 180, "the webserver to answer", log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert "stopped" in log.read_text()
        assert not webserver_up(port)
    finally:
        if proc.poll() is None:
            proc.kill()
