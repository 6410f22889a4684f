"""Once live: the real daemon picks files up from the landing folder and re-freezes on its own."""

from __future__ import annotations

import dagster as dg
import pytest

from lq_engine.data.catalog import symbol_row_counts
from tests.orchestration.bars import write_daily_csv
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import start_daemon, stop, wait_for

pytestmark = pytest.mark.slow  # starts Dagster processes (the fast lane: -m "not slow")


def test_dropped_files_are_ingested_and_frozen_by_the_daemon(data_paths, dagster_home, tmp_path):
    env = lq_env(
        data_paths, dagster_home,
        LQ_LANDING_SENSOR_INTERVAL="2", LQ_AUTOMATION_INTERVAL="2", LQ_LANDING_SETTLE_SECONDS="1",
    )
    log = tmp_path / "daemon.log"
    daemon = start_daemon(env, log)
    try:
        # Two files at once: two runs may execute together; their DuckDB writes must not collide.
        write_daily_csv(data_paths.landing / "aapl.csv", ["AAPL"], "2013-10-01", 60)
        write_daily_csv(data_paths.landing / "msft.csv", ["MSFT"], "2013-10-01", 60)
        with dg.DagsterInstance.get() as instance:

            def ingest_runs():
                runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "landing_sensor"}))
                done = [r for r in runs if r.is_finished]
                return runs if len(done) == 2 else None

            runs = wait_for(ingest_runs, 300, "two landing-sensor runs to finish", log)
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [r.status for r in runs]
            assert symbol_row_counts(data_paths) == {"AAPL": 60, "MSFT": 60}

            def frozen():
                ev = instance.get_latest_materialization_event(dg.AssetKey("frozen_dataset"))
                return ev if ev and ev.asset_materialization.partition == "us_stocks_daily" else None

            ev = wait_for(frozen, 300, "frozen_dataset to re-materialize on its own", log)
            assert ev.asset_materialization.metadata["rows"].value == 120
    finally:
        stop(daemon)
