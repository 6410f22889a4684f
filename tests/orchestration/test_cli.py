"""The `lq` command end to end, as a user runs it (real subprocesses, temp data and instance)."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import duckdb

from tests.orchestration.bars import age, write_daily_csv
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import BIN, free_port, run_lq, start, wait_for, webserver_up
import pytest


VERBS = ("demo", "ingest", "generate", "ui", "backfill", "optimize", "sql", "paper", "native", "check")


def test_every_verb_has_help(capsys):
    """Each verb's --help, through the parser `lq` builds (in this process: ten `lq` processes took
    19 s), and one through the installed `lq` command."""
    from lq_assets.cli.main import build_parser

    for verb in VERBS:
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([verb, "--help"])
        assert exited.value.code == 0 and "usage: lq " + verb in capsys.readouterr().out
    r = run_lq(["backfill", "--help"], env=None)
    assert r.returncode == 0 and "usage: lq backfill" in r.stdout


def procs_of(home: Path) -> list[str]:
    """Command lines of the processes (but this one) whose environment names this DAGSTER_HOME:
    everything an `lq` command started for this instance (daemon, code servers, run workers)."""
    needle = f"DAGSTER_HOME={home}".encode()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                out.append((d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200])
        except OSError:
            continue
    return out


@pytest.mark.slow
def test_demo_then_backfill_then_ui_show_no_failure(data_paths, dagster_home, tmp_path):
    """`lq demo` (quiet: no warning), `lq sql`, `lq paper`; `lq backfill --wait` (one line per run, no
    process left behind); then `lq ui` (the real dagster-daemon and dagster-webserver) for two sensor
    and automation ticks and a dropped file: the landing sensor does not re-ingest what the CLI
    ingested, the empty universe synthetic_1m is skipped, and no run or backfill failed."""
    env = lq_env(data_paths, dagster_home)
    r = run_lq(["demo"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Warning" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "frozen dataset us_stocks_daily: hash" in r.stdout and "Stage timings:" in r.stdout
    with duckdb.connect(str(data_paths.catalog), read_only=True) as con:
        counts = dict(con.execute("SELECT symbol, count(*) FROM bars GROUP BY symbol").fetchall())
    assert {"AAPL", "GOOG", "IBM", "MSFT"} <= set(counts)
    assert all(n > 2000 for n in counts.values() if n != counts.get("FB")), counts
    r = run_lq(["sql", "SELECT symbol, count(*) AS n FROM bars GROUP BY symbol ORDER BY symbol"], env=env)
    assert r.returncode == 0 and "AAPL" in r.stdout and "3270" in r.stdout, r.stdout + r.stderr
    assert "Warning" not in r.stderr, r.stderr
    r = run_lq(["sql", "SELEC nonsense"], env=env)
    assert r.returncode == 2 and "query failed" in r.stderr and "Traceback" not in r.stderr

    # paper trading on the demo's frozen dataset: a partial run, then a resumed one
    base = ["paper", "--dataset", "us_stocks_daily", "--symbol", "IBM", "--strategy", "ma_cross",
            "--params", '{"fast": 10, "slow": 40, "side": "long"}']
    r = run_lq([*base, "--max-bars", "300"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_lq([*base, "--max-bars", "600"], env=env)
    assert r.returncode == 0 and "600 bars" in r.stdout and "from the starting capital of 100,000.00" in r.stdout, \
        r.stdout + r.stderr
    where = ["--dataset", "us_stocks_daily", "--symbol", "IBM", "--strategy", "ma_cross"]
    r = run_lq(["paper", "status", *where], env=env)
    assert r.returncode == 0 and re.search(r"^bars processed +600", r.stdout, re.M), r.stdout + r.stderr
    assert re.search(r"^return +[+-]\d+\.\d\d%$", r.stdout, re.M), r.stdout
    r = run_lq(["paper", "status", "--json", *where], env=env)
    assert r.returncode == 0 and '"bars_processed": 600' in r.stdout
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        ev = instance.get_latest_materialization_event(dg.AssetKey("paper_trading"))
    assert ev is not None and ev.asset_materialization.metadata["bars"].value == 600

    # a backfill run by a daemon of its own, which it stops with everything the daemon started
    r = run_lq(["backfill", "market_bars", "--from", "2013-11", "--to", "2013-12", "--symbols", "IBM", "--wait"],
               env=env)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stdout + r.stderr
    assert procs_of(dagster_home) == []
    assert re.search(r"run [0-9a-f]{8} SUCCESS", r.stdout) and "dagster.daemon" not in r.stdout + r.stderr
    assert len(r.stdout.splitlines()) <= 15 and "Warning" not in r.stderr, r.stdout + r.stderr  # no daemon log
    from lq_assets.cli.backfill import daemon_alive

    with dg.DagsterInstance.get() as instance:  # the next `lq backfill --wait` starts its daemon at once
        assert not daemon_alive(instance), "the stopped daemon's heartbeat is still fresh"
    r = run_lq(["backfill", "market_bars", "--from", "2013-11", "--to", "2013-12", "--symbols", "NOPE"], env=env)
    assert r.returncode == 2 and "not registered" in r.stderr

    # lq ui: the daemon with its sensors and declarative automation on, and the webserver
    port = free_port()
    log = tmp_path / "ui.log"
    ui = start([str(BIN / "lq"), "ui", "--port", str(port)],
               lq_env(data_paths, dagster_home, LQ_LANDING_SENSOR_INTERVAL="2", LQ_AUTOMATION_INTERVAL="2",
                      LQ_LANDING_SETTLE_SECONDS="1"), log)
    try:
        wait_for(lambda: webserver_up(port), 180, "the webserver", log)

        daemon_log = data_paths.root / "logs" / "dagster-daemon.log"  # lq ui keeps the daemon's log there
        assert f"dagster-daemon log: {daemon_log}" in log.read_text()

        def ticks(n: int):
            text = daemon_log.read_text(errors="replace") if daemon_log.exists() else ""
            return (text.count("Checking for new runs for sensor: landing_sensor") >= n
                    and text.count("Finished auto-materialization tick for lq_automation") >= n)

        wait_for(lambda: ticks(2), 240, "two landing-sensor and automation ticks", daemon_log)
        with dg.DagsterInstance.get() as instance:
            sensed = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "landing_sensor"}))
            assert not sensed, "the landing sensor re-ingested a file the CLI had ingested"
            # new bars outside us_stocks_daily: ingested by the sensor; automation re-freezes both
            # universes (us_stocks_daily to the same hash, so no re-optimization; synthetic_1m has no bars)
            age(write_daily_csv(data_paths.landing / "zzz.csv", ["ZZZ"], "2013-12-02", 10))

            def frozen_runs():
                runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "lq_automation"}))
                parts = {r.tags.get("dagster/partition") for r in runs if r.is_finished}
                return {"synthetic_1m", "us_stocks_daily"} <= parts

            wait_for(frozen_runs, 300, "automation to re-freeze both universes", daemon_log)
            wait_for(lambda: not instance.get_runs(filters=dg.RunsFilter(statuses=[
                dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED])),
                300, "every run to finish", daemon_log)
            runs = instance.get_runs()
            failed = [(r.run_id[:8], r.job_name, r.tags.get("dagster/partition")) for r in runs
                      if r.status != dg.DagsterRunStatus.SUCCESS]
            assert not failed, failed
            bad = [(b.backfill_id, b.status.value) for b in instance.get_backfills()
                   if b.status.value not in ("COMPLETED", "COMPLETED_SUCCESS")]
            assert not bad, bad
            landed = [r.tags.get("lq/landing_file") for r in
                      instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "landing_sensor"}))]
            assert landed == ["zzz.csv"], landed
    finally:
        if ui.poll() is None:
            ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=90) == 0


@pytest.mark.slow
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
