"""Checks on frozen datasets: what was written reads back with the same content hash."""


from pathlib import Path

import dagster as dg

from lq_assets.datasets.assets import frozen_dataset
from lq_assets.partitions import UNIVERSES
from lq_engine.data.frozen import load_frozen


@dg.asset_check(
    asset=frozen_dataset,
    partitions_def=UNIVERSES,
    blocking=True,
    description="The frozen folder re-hashes to the content hash recorded at build time, and its arrays are read-only.",
)
def frozen_hash_verifies(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("frozen_dataset"), asset_partitions=[context.partition_key]),
        limit=1,
    ).records
    if not records:
        return dg.AssetCheckResult(passed=False, metadata={"error": "no materialization found for this universe"})
    meta = records[0].asset_materialization.metadata
    folder = Path(meta["folder"].value)
    try:
        ds = load_frozen(folder, verify=True)
    except Exception as e:  # any failure to read back is a failed check, with its reason
        return dg.AssetCheckResult(passed=False, metadata={"error": f"{type(e).__name__}: {e}"})
    writable = [n for n, a in ds.arrays.items() if a.flags.writeable]
    return dg.AssetCheckResult(
        passed=ds.content_hash == meta["content_hash"].value and not writable,
        metadata={"content_hash": ds.content_hash, "writable_arrays": ", ".join(writable) or "none"},
    )


frozen_dataset_checks = [frozen_hash_verifies]
