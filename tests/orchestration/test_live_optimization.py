"""Once live under the daemon: new data flows on its own through freeze, both optimizer stages and
the report (declarative automation); then the nightly schedule launches and completes its runs."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from tests.orchestration.bars import write_daily_csv
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import start_daemon, stop, wait_for

pytestmark = pytest.mark.slow  # starts Dagster processes (the fast lane: -m "not slow")

STRATEGIES = ("bollinger", "donchian_atr", "ma_cross", "rsi")
NEVER_DURING_THE_TEST = "0 0 1 1 *"


def _env(data_paths, dagster_home, cron: str, config) -> dict[str, str]:
    return lq_env(
        data_paths, dagster_home,
        LQ_LANDING_SENSOR_INTERVAL="2", LQ_AUTOMATION_INTERVAL="2", LQ_LANDING_SETTLE_SECONDS="1",
        LQ_STRATEGIES_SENSOR_INTERVAL="2", LQ_NIGHTLY_CRON=cron, LQ_NATIVE_BACKEND="numba", LQ_CONFIG=str(config),
    )


def _project(tmp_path):
    """The repository's configuration, with the project taking four of the shipped strategies."""
    text = (REPO_ROOT / "luminaquant.toml").read_text()
    config = tmp_path / "project" / "luminaquant.toml"
    config.parent.mkdir()
    config.write_text(f"[project]\nshipped_strategies = {list(STRATEGIES)}\n\n" + text)
    return config


def test_new_data_reoptimizes_on_its_own_and_the_schedule_fires(data_paths, dagster_home, tmp_path):
    log = tmp_path / "daemon.log"
    config = _project(tmp_path)
    daemon = start_daemon(_env(data_paths, dagster_home, NEVER_DURING_THE_TEST, config), log)
    try:
        write_daily_csv(data_paths.landing / "stocks.csv", ["AAPL", "MSFT"], "2010-01-01", 700)
        with dg.DagsterInstance.get() as instance:

            def optimized():
                done = instance.get_materialized_partitions(dg.AssetKey("replay_results"))
                return done if len(done) == len(STRATEGIES) else None

            done = wait_for(optimized, 600, "replay_results of every strategy via automation", log, interval=3)
            assert done == {f"us_stocks_daily|{s}" for s in STRATEGIES}
            report = wait_for(lambda: instance.get_latest_materialization_event(dg.AssetKey("optimization_report")),
                              600, "the report via automation", log, interval=3)
            assert "report.html" in report.asset_materialization.metadata["report"].value
    finally:
        stop(daemon)

    # The schedule, once: a cron two minutes ahead, under a fresh daemon.
    at = datetime.now(timezone.utc) + timedelta(minutes=2)
    log2 = tmp_path / "daemon2.log"
    daemon = start_daemon(_env(data_paths, dagster_home, f"{at.minute} {at.hour} * * *", config), log2)
    try:
        with dg.DagsterInstance.get() as instance:

            def nightly_runs():
                runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": "nightly_optimization"}))
                return runs if len(runs) == len(STRATEGIES) and all(r.is_finished for r in runs) else None

            runs = wait_for(nightly_runs, 900, "the nightly_optimization runs to finish", log2, interval=3)
            assert {r.tags.get("dagster/partition") for r in runs} == done
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [r.status for r in runs]
            failed = [r.run_id for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]
            assert not failed, f"failed runs: {failed}"
    finally:
        stop(daemon)
