"""The one code location (``luminaquant``): every asset domain assembled into Definitions."""

from __future__ import annotations

import os

import dagster as dg

from lq_assets.datasets.assets import frozen_dataset
from lq_assets.datasets.checks import frozen_dataset_checks
from lq_assets.jobs import benchmark_job, freeze_job, ingest_job
from lq_assets.kernels.assets import backend_benchmark
from lq_assets.market.assets import market_bars
from lq_assets.market.checks import market_bars_checks
from lq_assets.market.fetch import exchange_bars, fetch_job, nightly_fetch
from lq_assets.market.sensors import landing_sensor
from lq_assets.optimize.assets import optimization_report, prefilter_rankings, replay_results
from lq_assets.optimize.schedules import nightly_optimization, optimize_job, report_job
from lq_assets.optimize.sensors import strategies_sensor
from lq_assets.profile import executor, sensor_status
from lq_assets.resources import LakeResource, ProjectConfigResource

automation_sensor = dg.AutomationConditionSensorDefinition(
    "lq_automation",
    target=dg.AssetSelection.all(),
    default_status=sensor_status(),
    minimum_interval_seconds=int(os.environ.get("LQ_AUTOMATION_INTERVAL", "15")),
    description="Evaluates the assets' automation conditions (re-freeze after new data, and so on).",
    # One run per requested partition, not an asset backfill: a backfill marks a requested partition
    # that its (successful) run did not materialize as failed, so a universe with no data yet, which
    # frozen_dataset skips, would show as a failed backfill in the UI. A skipped universe is not a failure.
    emit_backfills=False,
)

paper_trading = dg.AssetSpec(
    "paper_trading",
    group_name="live",
    kinds={"sqlite", "duckdb"},
    description=(
        "Paper-trading runs (`lq paper`): each run reports a materialization here with its fills, "
        "position, cash and equity; the details are in the catalog tables paper_runs, paper_fills "
        "and paper_equity. State lives in SQLite (WAL) under data/paper/."
    ),
)

defs = dg.Definitions(
    assets=[
        exchange_bars, market_bars, frozen_dataset, backend_benchmark, prefilter_rankings, replay_results,
        optimization_report, paper_trading,
    ],
    asset_checks=[*market_bars_checks, *frozen_dataset_checks],
    jobs=[fetch_job, ingest_job, freeze_job, benchmark_job, optimize_job, report_job],
    schedules=[nightly_fetch, nightly_optimization],
    sensors=[landing_sensor, strategies_sensor, automation_sensor],
    resources={"lake": LakeResource(), "project": ProjectConfigResource()},
    executor=executor(),  # None (Dagster's default) locally; Celery in the distributed profile
)
