"""The nightly optimization: every (dataset, strategy) whose dataset has been frozen."""

import os

import dagster as dg

from lq_assets.optimize.assets import optimization_report, prefilter_rankings, replay_results
from lq_assets.partitions import OPTIMIZE, optimize_key, register_strategies, split_optimize_key
from lq_assets.profile import schedule_status

optimize_job = dg.define_asset_job(
    "optimize",
    selection=[prefilter_rankings, replay_results],
    description="Stage 1 and stage 2 of one (dataset, strategy); the report follows on its own.",
)

report_job = dg.define_asset_job(
    "build_report", selection=[optimization_report],
    description="Rebuild the HTML report from every stored optimization result.",
)


def frozen_universes(instance: dg.DagsterInstance) -> set[str]:
    status = instance.get_materialized_partitions(dg.AssetKey("frozen_dataset"))
    return set(status)


@dg.schedule(
    name="nightly_optimization",
    cron_schedule=os.environ.get("LQ_NIGHTLY_CRON", "0 2 * * *"),
    execution_timezone="UTC",
    job=optimize_job,
    default_status=schedule_status(),
    description="02:00 UTC: re-optimize every strategy on every frozen dataset (one run per partition).",
)
def nightly_optimization(context: dg.ScheduleEvaluationContext):
    ready = frozen_universes(context.instance)
    register_strategies(context.instance)  # a strategy file added since yesterday is optimized tonight
    keys = [k for k in OPTIMIZE.get_partition_keys(dynamic_partitions_store=context.instance)
            if split_optimize_key(k)[0] in ready]
    if not keys:
        return dg.SkipReason("no frozen dataset yet: nothing to optimize")
    date = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [dg.RunRequest(run_key=f"{date}:{k}", partition_key=k, tags={"lq/nightly": date}) for k in keys]


__all__ = ["nightly_optimization", "optimize_job", "optimize_key", "report_job"]
