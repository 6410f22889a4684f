"""Accepted layouts: aliases, Binance klines (ms and us), Parquet, offsets, multi-symbol, inference."""

from pathlib import Path

import polars as pl
import pytest

from landing_files import bar_lines, write_csv
from lq_engine.data.ingest import IngestError, ingest_file, load_bars, scan_file
from lq_engine.data.lake import list_partitions, read_bars
from lq_engine.data.schema import PartitionKey

NS_2024 = 1_704_067_200 * 10**9
MIN = 60 * 10**9


def _binance(path: Path, t0: int, step: int, n: int) -> Path:
    rows = []
    for i in range(n):
        t = t0 + i * step
        rows.append(f"{t},42000.1,42100,41900,42050,12.5,{t + step - 1},500000,100,6,250000,0")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("t0,step", [(1_704_067_200_000, 60_000), (1_704_067_200_000_000, 60_000_000)])
def test_binance_klines_ms_and_us(paths, t0, step):
    f = _binance(paths.landing / "BTCUSDT-1m-2024-01.csv", t0, step, 5)
    scan = scan_file(f)
    assert scan.symbols == ("BTCUSDT",) and scan.timeframe == "1m" and scan.months == ("2024-01",)
    r = ingest_file(f, paths)
    assert r.rows_new == 5
    bars = read_bars(paths)
    assert bars["ts"].to_list() == [NS_2024 + i * MIN for i in range(5)]
    assert bars["volume"].to_list() == [12.5] * 5


def test_aliases_case_insensitive_and_declared_symbol(paths):
    f = paths.landing / "whatever.csv"
    f.write_text("Date;OPEN;High;low;Close;Vol\n2024-01-01;1;2;0.5;1.5;10\n2024-01-02;1.5;2;1;1.8;11\n")
    bars = load_bars(f, symbol="XYZ")
    assert bars["symbol"].to_list() == ["XYZ", "XYZ"]
    assert bars["timeframe"].to_list() == ["1d", "1d"]  # inferred from the spacing
    assert bars["close"].to_list() == [1.5, 1.8]


def test_symbol_from_file_stem_and_timeframe_inferred_with_gaps(paths):
    lines = bar_lines(3) + bar_lines(3, start_min=10)
    f = write_csv(paths.landing / "ETHUSD.csv", lines)
    scan = scan_file(f)
    assert scan.symbols == ("ETHUSD",) and scan.timeframe == "1m" and scan.rows == 6


def test_timeframe_cannot_be_inferred_from_one_row(paths):
    f = write_csv(paths.landing / "ONE.csv", bar_lines(1))
    with pytest.raises(IngestError, match="cannot infer the timeframe") as e:
        scan_file(f)
    assert e.value.field == "timeframe"


def test_parquet_with_datetimes_and_symbol_column(paths):
    df = pl.DataFrame({
        "Ticker": ["AAA", "AAA", "BBB"],
        "time": pl.Series([NS_2024, NS_2024 + MIN, NS_2024]).cast(pl.Datetime("ns", "UTC")),
        "open": [1.0, 1.0, 2.0], "high": [1.5, 1.5, 2.5], "low": [0.5, 0.5, 1.5], "close": [1.2, 1.1, 2.1],
        "volume": [1, 2, 3],
    })
    f = paths.landing / "mixed.parquet"
    df.write_parquet(f)
    r = ingest_file(f, paths, timeframe="1m")
    assert r.rows_new == 3
    assert list_partitions(paths) == [PartitionKey("1m", "AAA", "2024-01"), PartitionKey("1m", "BBB", "2024-01")]


def test_multi_month_file_splits_into_partitions(paths):
    lines = bar_lines(2, start_min=-1)  # 2023-12-31 23:59 and 2024-01-01 00:00
    f = write_csv(paths.landing / "SPAN_1m.csv", lines)
    r = ingest_file(f, paths)
    assert [p.month for p in r.partitions] == ["2023-12", "2024-01"]


def test_offsets_convert_to_utc(paths):
    f = paths.landing / "TZ_1h.csv"
    f.write_text("datetime,open,high,low,close,volume\n2024-01-01T02:00:00+02:00,1,2,0.5,1.5,1\n"
                 "2024-01-01T01:00:00Z,1,2,0.5,1.5,1\n")
    assert load_bars(f)["ts"].to_list() == [NS_2024, NS_2024 + 3600 * 10**9]


def test_big_file_goes_through_the_chunked_path(paths):
    lines = bar_lines(40_000)  # > 1 MiB, so the first chunk is checked before the full read
    f = write_csv(paths.landing / "BIG_1m.csv", lines)
    assert f.stat().st_size > 1024 * 1024
    r = ingest_file(f, paths)
    assert r.rows_new == 40_000
    assert read_bars(paths)["ts"].is_sorted()
