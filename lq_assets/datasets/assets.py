"""Frozen datasets: one per named universe, read-only arrays keyed by their content hash."""


from collections.abc import Iterator

import dagster as dg

from lq_assets.market.assets import market_bars
from lq_assets.metadata import md_table
from lq_assets.partitions import UNIVERSES
from lq_assets.resources import LakeResource, ProjectConfigResource
from lq_assets.retries import transient_retries
from lq_engine.data.frozen import UniverseSpec, build_frozen
from lq_engine.data.lake import list_partitions
from lq_engine.errors import LQError


class UniverseError(LQError, ValueError):
    pass

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
        "data really changed. A universe with no data in the lake yet is skipped, not failed."
    ),
)
@transient_retries
def frozen_dataset(
    context: dg.AssetExecutionContext, lake: LakeResource, project: ProjectConfigResource
) -> Iterator[dg.MaterializeResult]:
    paths = lake.paths()
    u = project.load().universes[context.partition_key]
    available = sorted({p.symbol for p in list_partitions(paths) if p.timeframe == u.timeframe})
    symbols = u.resolve_symbols(available)
    missing = u.unmatched(available)
    if not available:
        context.log.info(f"universe {u.name}: no {u.timeframe} bars in the lake yet; skipped")
        return
    if not symbols:
        raise UniverseError(f"universe {u.name}: none of {list(u.symbols)} is in the lake's {u.timeframe} bars "
                            f"(it has {', '.join(available[:20])}{' ...' if len(available) > 20 else ''})")
    if missing:
        context.log.warning(f"universe {u.name}: not in the lake's {u.timeframe} bars: {', '.join(missing)}; "
                            f"frozen without them")
    spec = UniverseSpec(name=u.name, symbols=symbols, timeframe=u.timeframe, start=u.start, end=u.end)
    ds = build_frozen(paths, spec)
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
