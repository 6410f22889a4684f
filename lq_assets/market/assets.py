"""Market data: validated bars in the Parquet lake, one partition per (symbol, month)."""


from pathlib import Path

import dagster as dg

from lq_assets.metadata import md_table
from lq_assets.partitions import MARKET, split_market_keys
from lq_assets.resources import LakeResource
from lq_assets.retries import transient_retries
from lq_assets.sqlite_speed import fast_sqlite_writes
from lq_engine.data.catalog import ensure_catalog, symbol_row_counts
from lq_engine.data.ingest import ingest_files, reingest_landing


class MarketBarsConfig(dg.Config):
    files: list[str] = []
    """Landing files to ingest (the landing sensor fills this). Empty: re-ingest every landing
    file that carries data for the selected partitions (what a UI materialization or a
    backfill does)."""
    symbol: str | None = None
    """The symbol of single-symbol files whose name does not say it (``lq ingest --symbol``);
    a file whose symbol column holds another symbol is rejected."""


@dg.asset(
    partitions_def=MARKET,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="market",
    kinds={"parquet", "duckdb"},
    description=(
        "Validated OHLCV bars in the hive-partitioned Parquet lake (timeframe/symbol/month), "
        "exposed by the `bars` view of the DuckDB catalog. A run covers a range of "
        "(symbol, month) partitions; a rejected file is quarantined and nothing in the lake changes."
    ),
)
@transient_retries
def market_bars(
    context: dg.AssetExecutionContext, config: MarketBarsConfig, lake: LakeResource,
) -> dg.MaterializeResult:
    fast_sqlite_writes()  # this run records one materialization per (symbol, month): hundreds of events
    paths = lake.paths()
    pairs = split_market_keys(list(context.partition_keys))
    symbols = sorted({s for s, _ in pairs})
    months = sorted({m for _, m in pairs})
    wanted = set(pairs)
    if config.files:
        reports = ingest_files([Path(f) for f in config.files], paths, only_partitions=wanted,
                               symbol=config.symbol, report=context.log.info)
    else:
        reports = reingest_landing(paths, symbols=symbols, months=months, report=context.log.info)
    ensure_catalog(paths)  # catalog.duckdb for other tools (rebuilt only if its views changed)
    try:
        counts = md_table(sorted(symbol_row_counts(paths).items()), ["symbol", "rows"])
    except Exception as e:  # an unrelated damaged partition: the ingest itself is complete
        counts = f"unavailable: {' '.join(str(e).split())[:300]} (run `lq lake verify`)"
        context.log.warning(f"lake summary {counts}")
    rows = [
        {
            "file": Path(r.file).name,
            "rows read": r.rows_read,
            "new": r.rows_new,
            "replaced": r.rows_replaced,
            "unchanged": r.rows_unchanged,
            "partitions": len(r.partitions),
        }
        for r in reports
    ]
    context.log.info(f"ingested {len(reports)} file(s) into {len(pairs)} partition(s)")
    return dg.MaterializeResult(
        metadata={
            "files": len(reports),
            "rows_read": sum(r.rows_read for r in reports),
            "rows_new": sum(r.rows_new for r in reports),
            "rows_replaced": sum(r.rows_replaced for r in reports),
            "partitions_in_run": len(pairs),
            "symbols": ", ".join(symbols),
            "months": f"{months[0]} .. {months[-1]}" if months else "",
            "ingest": md_table(rows, ["file", "rows read", "new", "replaced", "unchanged", "partitions"]),
            # per file, what was understood of it (format, symbols, timeframe, span): `lq ingest` prints these
            "file_summaries": dg.MetadataValue.json([r.summary() for r in reports]),
            "lake_rows_by_symbol": counts,
            "lake": paths.store.uri,
        }
    )
