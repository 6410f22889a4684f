"""The strategies sensor: strategy files become optimizer partitions, and edited ones re-optimize.

Each tick it lists the project's strategies (shipped, installed, ``strategies/``) and hashes their
files, without importing them (a sensor runs no user code). A new name becomes a partition of the
strategy dimension, so the optimizer assets, the automation and the nightly schedule include it.
A strategy whose file changed and which has results gets fresh optimization runs on every frozen
universe (its old results are of another version of it). The cursor holds name -> source hash.
"""

import json
import os

import dagster as dg

from lq_assets.optimize.schedules import frozen_universes, optimize_job
from lq_assets.partitions import STRATEGIES, optimize_key
from lq_assets.profile import sensor_status
from lq_engine.strategies.registry import source_hashes

INTERVAL_SECONDS = int(os.environ.get("LQ_STRATEGIES_SENSOR_INTERVAL", "30"))


@dg.sensor(
    name="strategies_sensor",
    job=optimize_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=sensor_status(),
    description="Registers new strategy files as optimizer partitions; re-optimizes a strategy whose file changed.",
)
def strategies_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    hashes = source_hashes()
    known = set(context.instance.get_dynamic_partitions(STRATEGIES.name))
    new = sorted(n for n in hashes if n not in known)
    changed = sorted(n for n, h in hashes.items() if n in seen and seen[n] != h)
    requests = []
    if changed:
        done = context.instance.get_materialized_partitions(dg.AssetKey("replay_results"))
        for universe in sorted(frozen_universes(context.instance)):
            for name in changed:
                key = str(optimize_key(universe, name))
                if key in done:
                    requests.append(dg.RunRequest(run_key=f"{name}:{hashes[name][:12]}:{universe}", partition_key=key,
                                                  tags={"lq/strategy_changed": name}))
    dyn = [STRATEGIES.build_add_request(new)] if new else []
    cursor = json.dumps(hashes, sort_keys=True)
    if not requests and not dyn:
        return dg.SensorResult(skip_reason="no new or changed strategy", cursor=cursor)
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=dyn, cursor=cursor)
