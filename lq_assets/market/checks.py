"""Data-quality checks on market_bars. Blocking: bad data must not reach the frozen datasets."""


import dagster as dg

from lq_assets.market.assets import market_bars
from lq_assets.resources import LakeResource
from lq_engine.data.catalog import catalog_reader
from lq_engine.data.errors import IngestError
from lq_engine.data.lake import bar_objects, read_bars
from lq_engine.data.validate import validate_bars


@dg.asset_check(
    asset=market_bars, blocking=True,
    description="Every bar in the lake obeys the bar rules (ordered, unique, finite, OHLC envelope, volume >= 0).",
)
def lake_bars_valid(lake: LakeResource) -> dg.AssetCheckResult:
    df = read_bars(lake.paths())
    try:
        if df.height:
            validate_bars("lake", df)
    except IngestError as e:
        return dg.AssetCheckResult(passed=False, metadata={"error": str(e)})
    return dg.AssetCheckResult(passed=True, metadata={"rows_checked": df.height})


@dg.asset_check(
    asset=market_bars, blocking=True,
    description="The catalog's `bars` view sees exactly the rows stored in the lake's Parquet files.",
)
def catalog_matches_lake(lake: LakeResource) -> dg.AssetCheckResult:
    paths = lake.paths()
    store = paths.store
    in_files = sum(store.parquet_rows(f) for f in bar_objects(paths))
    with catalog_reader(paths) as con:
        in_view = con.execute("SELECT count(*) FROM bars").fetchall()[0][0] if in_files else 0
    return dg.AssetCheckResult(
        passed=in_view == in_files, metadata={"rows_in_files": in_files, "rows_in_view": in_view},
    )


market_bars_checks = [lake_bars_valid, catalog_matches_lake]

