"""Finding the current frozen dataset of a universe (from its latest materialization)."""

from pathlib import Path

import dagster as dg

from lq_engine.data.frozen import FrozenDataset, load_frozen, open_frozen
from lq_engine.data.paths import DataPaths
from lq_engine.errors import LQError


class NotFrozenError(LQError, ValueError):
    """The universe has no frozen dataset yet (no data ingested for it, or never frozen)."""


def _latest(instance: dg.DagsterInstance, universe: str):
    recs = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("frozen_dataset"), asset_partitions=[universe]), limit=1
    ).records
    if not recs:
        raise NotFrozenError(f"no frozen dataset {universe!r} yet: run `lq demo` (or `lq ingest FILE`, or materialize "
                             "frozen_dataset)")
    return recs[0].asset_materialization.metadata


def frozen_folder(instance: dg.DagsterInstance, universe: str) -> Path:
    return Path(_latest(instance, universe)["folder"].value)


def current_frozen(instance: dg.DagsterInstance, universe: str, paths: DataPaths | None = None) -> FrozenDataset:
    """The dataset of the latest materialization, by its content hash: from this machine's cache,
    fetched from the lake (and verified) on first use."""
    meta = _latest(instance, universe)
    if paths is None or "content_hash" not in meta:
        return load_frozen(Path(meta["folder"].value))
    return open_frozen(paths, universe, str(meta["content_hash"].value))
