"""Derive lq_engine/data/bundled/us_stocks_daily.parquet from the bokeh-sampledata wheel.

    pip download --no-deps bokeh-sampledata==2026.1 -d /tmp/bsd
    uv run python scripts/derive_bundled_dataset.py /tmp/bsd/bokeh_sampledata-2026.1-py3-none-any.whl

Reads ``bokeh_sampledata/_data/stocks.csv.gz`` (Ticker, Date, Open, High, Low, Close, Volume,
Adj Close; prices from Quandl WIKI, public domain) and ADJUSTS them for splits and dividends:
open, high, low and close are multiplied by Adj Close / Close and volume divided by it (dollar
volume is kept), so a 2:1 split is not a 50% crash to a strategy. Sets
ts = the trading day at 00:00 UTC and timeframe "1d", and repairs rows that break the bar validity
rules: a low above min(open, close) is lowered to it and a high below max(open, close) is raised to
it (counted per ticker); rows with a non-positive or missing price are dropped (counted). Prints
the counts for PROVENANCE.md. Deterministic: same wheel, same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import polars as pl
from figures import print_figures

OUT = Path(__file__).resolve().parents[1] / "lq_engine" / "data" / "bundled" / "us_stocks_daily.parquet"
MEMBER = "bokeh_sampledata/_data/stocks.csv.gz"


def derive(wheel: Path) -> tuple[pl.DataFrame, dict]:
    with zipfile.ZipFile(wheel) as z:
        gz = z.read(MEMBER)
    raw = pl.read_csv(io.BytesIO(gzip.decompress(gz)), schema_overrides={"Volume": pl.Float64})
    factor = pl.col("Adj Close").cast(pl.Float64) / pl.col("Close").cast(pl.Float64)
    df = raw.select(
        pl.col("Ticker").alias("symbol"),
        pl.lit("1d").alias("timeframe"),
        pl.col("Date").str.strptime(pl.Datetime("ns"), "%Y-%m-%d").dt.epoch("ns").alias("ts"),
        *((pl.col(c.title()).cast(pl.Float64) * factor).alias(c) for c in ("open", "high", "low", "close")),
        (pl.col("Volume").cast(pl.Float64) / factor).alias("volume"),
    )
    stats: dict = {"source_rows": raw.height, "gz_sha256": hashlib.sha256(gz).hexdigest()}
    prices = ["open", "high", "low", "close"]
    bad = pl.any_horizontal([pl.col(c).is_null() | ~pl.col(c).is_finite() | (pl.col(c) <= 0) for c in prices]) | (
        pl.col("volume") < 0
    )
    stats["dropped"] = df.filter(bad).group_by("symbol").len().sort("symbol").rows()
    df = df.filter(~bad)
    body_lo = pl.min_horizontal("open", "close")
    body_hi = pl.max_horizontal("open", "close")
    stats["low_repaired"] = df.filter(pl.col("low") > body_lo).group_by("symbol").len().sort("symbol").rows()
    stats["high_repaired"] = df.filter(pl.col("high") < body_hi).group_by("symbol").len().sort("symbol").rows()
    df = df.with_columns(
        pl.min_horizontal("low", body_lo).alias("low"), pl.max_horizontal("high", body_hi).alias("high")
    )
    dups = df.filter(pl.struct("symbol", "ts").is_duplicated()).height
    stats["duplicates_dropped"] = dups
    df = df.unique(["symbol", "ts"], keep="first", maintain_order=True).sort("symbol", "ts")
    stats["rows"] = df.height
    stats["per_symbol"] = (
        df.group_by("symbol")
        .agg(pl.len(), pl.from_epoch("ts", "ns").min().dt.date().alias("first"),
             pl.from_epoch("ts", "ns").max().dt.date().alias("last"))
        .sort("symbol")
        .rows()
    )
    return df, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel", type=Path, help="bokeh_sampledata-*.whl")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    df, stats = derive(args.wheel)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(args.out, compression="zstd", compression_level=19, statistics=False)
    stats["wheel_sha256"] = hashlib.sha256(args.wheel.read_bytes()).hexdigest()
    stats["out_sha256"] = hashlib.sha256(args.out.read_bytes()).hexdigest()
    stats["out_bytes"] = args.out.stat().st_size
    print_figures(stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
