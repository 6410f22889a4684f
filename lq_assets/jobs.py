"""Jobs: named selections the CLI, schedules and sensors launch."""

from __future__ import annotations

import dagster as dg

from lq_assets.datasets.assets import frozen_dataset
from lq_assets.kernels.assets import backend_benchmark
from lq_assets.market.assets import market_bars


ingest_job = dg.define_asset_job(
    "ingest_market_bars", selection=[market_bars],
    description="Ingest landing files into the lake for a range of (symbol, month) partitions.",
)
freeze_job = dg.define_asset_job(
    "freeze_datasets", selection=[frozen_dataset],
    description="Build the frozen dataset of one universe.",
)
benchmark_job = dg.define_asset_job(
    "benchmark_backends", selection=[backend_benchmark],
    description="Benchmark and parity-check the evaluation backends; pick the fastest.",
)
