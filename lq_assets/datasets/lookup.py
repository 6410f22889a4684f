"""Finding the current frozen dataset of a universe (from its latest materialization)."""

from pathlib import Path

import dagster as dg

from lq_engine.data.frozen import FrozenDataset, load_frozen


def frozen_folder(instance: dg.DagsterInstance, universe: str) -> Path:
    recs = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("frozen_dataset"), asset_partitions=[universe]), limit=1
    ).records
    if not recs:
        raise ValueError(f"no frozen dataset {universe!r} yet: run `lq demo` (or materialize frozen_dataset)")
    return Path(recs[0].asset_materialization.metadata["folder"].value)


def current_frozen(instance: dg.DagsterInstance, universe: str) -> FrozenDataset:
    return load_frozen(frozen_folder(instance, universe))
