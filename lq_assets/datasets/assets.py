"""Frozen datasets: one per named universe, read-only arrays keyed by their content hash."""


from collections.abc import Iterable, Iterator

import dagster as dg

from lq_assets.market.assets import market_bars
from lq_assets.metadata import md_table
from lq_assets.partitions import UNIVERSES
from lq_assets.resources import LakeResource, ProjectConfigResource
from lq_assets.retries import transient_retries
from lq_engine.data.universes import freeze_universe

SKIPPED = "skipped"
"""The metadata key of the observation a skipped universe records: the note, one line."""


def skip_note(name: str, patterns: Iterable[str], timeframe: str, available: list[str]) -> str:
    """'universe NAME skipped: ...': why a universe has nothing to freeze (which patterns, which
    timeframe, and what the lake has of that timeframe)."""
    pats = ", ".join(patterns)
    if not available:
        return f"universe {name} skipped: no {timeframe} bars in the lake for {pats}"
    has = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
    return f"universe {name} skipped: none of {pats} is in the lake's {timeframe} bars (it has {has})"


def _skipped(context: dg.AssetExecutionContext, note: str) -> None:
    """No materialization (the last frozen dataset, if any, stays current) and an observation
    carrying the note, which the UI shows on the asset and ``lq ingest`` / ``lq freeze`` print."""
    context.log.info(note)
    context.log_event(dg.AssetObservation(asset_key=context.asset_key, partition=context.partition_key,
                                          metadata={SKIPPED: note}))


# Re-freeze whenever market bars change, without waiting for every (symbol, month) partition to
# exist (most never will: a universe covers a few symbols over a few years).
FREEZE_ON_NEW_DATA = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


@dg.asset(
    partitions_def=UNIVERSES,
    deps=[dg.AssetDep(market_bars, partition_mapping=dg.AllPartitionMapping())],
    automation_condition=FREEZE_ON_NEW_DATA,
    output_required=False,
    group_name="datasets",
    kinds={"numpy"},
    description=(
        "Contiguous read-only arrays (memory-mapped .npy) of one universe of luminaquant.toml. "
        "The content hash is the Dagster data version, so downstream work re-runs only when the "
        "data really changed. A universe none of whose symbols is in the lake (yet) is skipped with a "
        "note (an observation), not failed."
    ),
)
@transient_retries
def frozen_dataset(
    context: dg.AssetExecutionContext, lake: LakeResource, project: ProjectConfigResource
) -> Iterator[dg.MaterializeResult]:
    u = project.load().universes[context.partition_key]
    fu = freeze_universe(lake.paths(), u)
    if fu.dataset is None:  # nothing of it in the lake (yet): skipped, not failed (issue 21 #1)
        _skipped(context, skip_note(u.name, u.symbols, u.timeframe, fu.available))
        return
    missing, ds = fu.missing, fu.dataset
    if missing:
        context.log.warning(f"universe {u.name}: not in the lake's {u.timeframe} bars: {', '.join(missing)}; "
                            f"frozen without them")
    rows = [(s, *ds.symbol_span(s)) for s in ds.symbols]
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(ds.content_hash),
        metadata={
            "content_hash": ds.content_hash,
            "rows": ds.n_rows,
            "symbols": ", ".join(ds.symbols),
            "timeframe": ds.timeframe,
            "calendar": u.calendar,
            "synthetic": any(s.startswith("SYN") for s in ds.symbols),
            "folder": dg.MetadataValue.path(str(ds.folder)),
            "per_symbol": md_table(rows, ["symbol", "first bar", "last bar"]),
            "missing_symbols": ", ".join(missing) or "none",
        },
    )
