"""Once live under the daemon: dropped files are ingested by the landing sensor (two at once: their
runs may execute together and must not collide) and re-frozen on its own; the new data flows on its
own through freeze, both optimizer stages and the report (declarative automation); then the nightly
schedule launches and completes its runs."""

import re
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from lq_engine.data.catalog import symbol_row_counts
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from tests.orchestration.bars import write_daily_csv
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import start_daemon, stop, wait_for

pytestmark = pytest.mark.slow  # starts Dagster processes (the fast lane: -m "not slow")

STRATEGIES = ("ma_cross", "rsi")
NEVER_DURING_THE_TEST = "0 0 1 1 *"
DAYS = 700
DAEMON_START_S = 20  # the scheduler's first look comes this long after the daemon starts, at most


def _env(data_paths, dagster_home, cron: str, config) -> dict[str, str]:
    return lq_env(
        data_paths, dagster_home,
        LQ_LANDING_SENSOR_INTERVAL="2", LQ_AUTOMATION_INTERVAL="2", LQ_LANDING_SETTLE_SECONDS="1",
        LQ_STRATEGIES_SENSOR_INTERVAL="2", LQ_NIGHTLY_CRON=cron, LQ_NATIVE_BACKEND="numba", LQ_CONFIG=str(config),
    )


SMALL = {"n_folds": 2, "top_k_min": 3, "top_k_max": 4, "audit_size": 2}  # what the test shows needs no more


def _project(tmp_path):
    """The repository's configuration, with the project taking two of the shipped strategies and a
    small optimization (two folds, a top k of at most 4 and 2 audited sets)."""
    text = (REPO_ROOT / "luminaquant.toml").read_text()
    for key, value in SMALL.items():
        text, n = re.subn(rf"^{key} = \d+", f"{key} = {value}", text, count=1, flags=re.M)
        assert n == 1, f"{key} is not in luminaquant.toml's [optimize] any more"
    config = tmp_path / "project" / "luminaquant.toml"
    config.parent.mkdir()
    config.write_text(f"[project]\nshipped_strategies = {list(STRATEGIES)}\n\n" + text)
    return config


def next_minute_after(seconds: float) -> datetime:
    """The first whole minute (UTC) at least ``seconds`` from now: the soonest a cron can name that a
    daemon started now sees coming (a tick it saw come is never skipped)."""
    at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return at.replace(second=0, microsecond=0) + timedelta(minutes=1 if at.second or at.microsecond else 0)


def test_next_minute_after_is_whole_and_far_enough():
    at = next_minute_after(DAEMON_START_S)
    now = datetime.now(timezone.utc)
    assert at.second == 0 and at.microsecond == 0
    assert timedelta(seconds=DAEMON_START_S - 1) <= at - now <= timedelta(seconds=DAEMON_START_S + 60)


def test_new_data_is_ingested_reoptimized_on_its_own_and_the_schedule_fires(data_paths, dagster_home, tmp_path):
    log = tmp_path / "daemon.log"
    config = _project(tmp_path)
    daemon = start_daemon(_env(data_paths, dagster_home, NEVER_DURING_THE_TEST, config), log)
    try:
        # Two files at once: two runs may execute together; their DuckDB writes must not collide.
        write_daily_csv(data_paths.landing / "aapl.csv", ["AAPL"], "2010-01-01", DAYS)
        write_daily_csv(data_paths.landing / "msft.csv", ["MSFT"], "2010-01-01", DAYS, price=110.0)
        with dg.DagsterInstance.get() as instance:

            def ingest_runs():
                runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "landing_sensor"}))
                done = [r for r in runs if r.is_finished]
                return runs if len(done) == 2 else None

            runs = wait_for(ingest_runs, 600, "two landing-sensor runs to finish", log, interval=0.5)
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [r.status for r in runs]
            assert symbol_row_counts(data_paths) == {"AAPL": DAYS, "MSFT": DAYS}

            def frozen_whole():  # re-frozen on its own with both files (maybe after a freeze of one)
                ev = instance.get_latest_materialization_event(dg.AssetKey("frozen_dataset"))
                ok = ev and ev.asset_materialization.partition == "us_stocks_daily"
                return ev if ok and ev.asset_materialization.metadata["rows"].value == 2 * DAYS else None

            wait_for(frozen_whole, 300, "frozen_dataset to re-materialize on its own with both files", log,
                     interval=0.5)

            def optimized():
                done = instance.get_materialized_partitions(dg.AssetKey("replay_results"))
                return done if len(done) == len(STRATEGIES) else None

            done = wait_for(optimized, 600, "replay_results of every strategy via automation", log, interval=1)
            assert done == {f"us_stocks_daily|{s}" for s in STRATEGIES}
            report = wait_for(lambda: instance.get_latest_materialization_event(dg.AssetKey("optimization_report")),
                              600, "the report via automation", log, interval=1)
            assert report.asset_materialization.metadata["report"].value.endswith("index.html")
    finally:
        stop(daemon)

    # The schedule, once: a cron at the first minute the fresh daemon surely sees coming.
    at = next_minute_after(DAEMON_START_S)
    log2 = tmp_path / "daemon2.log"
    daemon = start_daemon(_env(data_paths, dagster_home, f"{at.minute} {at.hour} * * *", config), log2)
    try:
        with dg.DagsterInstance.get() as instance:

            def nightly_runs():
                runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": "nightly_optimization"}))
                return runs if len(runs) == len(STRATEGIES) and all(r.is_finished for r in runs) else None

            runs = wait_for(nightly_runs, 900, "the nightly_optimization runs to finish", log2, interval=1)
            assert {r.tags.get("dagster/partition") for r in runs} == done
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [r.status for r in runs]
            assert all(r.tags.get(".dagster/scheduled_execution_time", "").startswith(at.strftime("%Y-%m-%dT%H:%M"))
                       for r in runs), [r.tags.get(".dagster/scheduled_execution_time") for r in runs]
            failed = [r.run_id for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]
            assert not failed, f"failed runs: {failed}"
    finally:
        stop(daemon)
