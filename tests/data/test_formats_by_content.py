"""Formats users have, recognised by content (issue 21, finding 2): Yahoo Finance files with Adj Close
give adjusted bars; Binance klines (spot and futures, header or not, ms or us, plain or zipped) need
no Binance file name; ``--symbol`` names the symbol of a file whose name does not say it."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest

from lq_engine.data.ingest import IngestError, ingest_file, landing_files, load_bars, scan_file
from lq_engine.data.lake import list_partitions, read_bars
from lq_engine.data.readers import sniff
from lq_engine.data.schema import BAR_COLUMNS, PartitionKey

NS_2024 = 1_704_067_200 * 10**9
MIN = 60 * 10**9
FUTURES_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                  "taker_buy_quote_volume,ignore")


def _yahoo(path: Path, rows: list[tuple[str, float, float, float, float, float, int]]) -> Path:
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"] + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


YAHOO_ROWS = [  # (date, open, high, low, close, adj close, volume): a dividend between rows 2 and 3
    ("2024-01-02", 100.0, 102.0, 99.0, 101.0, 98.98, 1000),
    ("2024-01-03", 101.0, 103.0, 100.0, 102.0, 99.96, 1100),
    ("2024-01-04", 100.0, 101.0, 98.0, 100.0, 100.0, 1200),
]


def test_yahoo_adj_close_adjusts_ohlc_and_keeps_the_raw_close(paths):
    f = _yahoo(paths.landing / "AAPL.csv", YAHOO_ROWS)
    assert sniff(f).adjusted and "Adj Close" in sniff(f).format
    bars = load_bars(f)
    factor = [adj / c for _, _, _, _, c, adj, _ in YAHOO_ROWS]
    for col, k in (("open", 1), ("high", 2), ("low", 3), ("close", 4)):
        assert bars[col].to_list() == pytest.approx([r[k] * x for r, x in zip(YAHOO_ROWS, factor)], rel=1e-12), col
    assert bars["close"].to_list() == pytest.approx([r[5] for r in YAHOO_ROWS], rel=1e-12)  # = Adj Close
    assert bars["close_raw"].to_list() == [r[4] for r in YAHOO_ROWS]
    assert bars["volume"].to_list() == [1000.0, 1100.0, 1200.0]  # unchanged (documented)
    assert bars["symbol"].unique().to_list() == ["AAPL"] and bars["timeframe"].unique().to_list() == ["1d"]
    # the lake stores the adjusted bars in its fixed schema (the raw close stays in the raw archive)
    r = ingest_file(f, paths)
    assert r.rows_new == 3
    stored = read_bars(paths)
    assert stored.columns == list(BAR_COLUMNS)
    assert stored["close"].to_list() == pytest.approx([r[5] for r in YAHOO_ROWS], rel=1e-12)
    assert (paths.archive / r.sha256 / "AAPL.csv").read_bytes() == f.read_bytes()


@pytest.mark.parametrize("adj,what", [("0", "0.0 is not a positive number"), ("", "is missing")])
def test_yahoo_bad_adj_close_names_its_row(paths, adj, what):
    rows = [list(r) for r in YAHOO_ROWS]
    rows[1][5] = adj
    f = _yahoo(paths.landing / "AAPL.csv", rows)
    with pytest.raises(IngestError, match=f"adjusted close {what}") as e:
        load_bars(f)
    assert (e.value.row, e.value.field) == (2, "adj_close")


def _kline_rows(t0: int, step: int, n: int) -> list[str]:
    return [f"{t0 + i * step},42000.1,42100,41900,42050,12.5,{t0 + (i + 1) * step - 1},500000,100,6,250000,0"
            for i in range(n)]


def _klines(path: Path, *, header: bool, unit: str, n: int = 4) -> Path:
    t0, step = (1_704_067_200_000, 60_000) if unit == "ms" else (1_704_067_200_000_000, 60_000_000)
    lines = ([FUTURES_HEADER] if header else []) + _kline_rows(t0, step, n)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("header", [False, True], ids=["spot-no-header", "futures-header"])
@pytest.mark.parametrize("unit", ["ms", "us"])
def test_binance_klines_by_content_not_by_name(paths, header, unit):
    """A kline file named anything: recognised as Binance klines; its symbol must be given (the rows
    carry none), the timeframe comes from the bar spacing."""
    f = _klines(paths.landing / "klines.csv", header=header, unit=unit)
    layout = sniff(f)
    assert layout.binance and layout.format == "Binance klines"
    with pytest.raises(IngestError, match=r"klines\.csv, field 'symbol': Binance klines .*pass --symbol") as e:
        scan_file(f)
    assert e.value.field == "symbol"
    bars = load_bars(f, symbol="BTCUSDT")
    assert bars["symbol"].unique().to_list() == ["BTCUSDT"] and bars["timeframe"].unique().to_list() == ["1m"]
    assert bars["ts"].to_list() == [NS_2024 + i * MIN for i in range(4)]
    assert bars["close"].to_list() == [42050.0] * 4 and bars["volume"].to_list() == [12.5] * 4


@pytest.mark.parametrize("name,symbol", [("BTCUSDT-1m-2024-01.csv", "BTCUSDT"),  # USD-M futures, monthly
                                         ("BTCUSD_PERP-1m-2024-01-15.csv", "BTCUSD_PERP")])  # COIN-M, daily
def test_binance_file_names_give_symbol_and_timeframe(paths, name, symbol):
    scan = scan_file(_klines(paths.landing / name, header=True, unit="ms"))
    assert scan.symbols == (symbol,) and scan.timeframe == "1m"


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    path.write_bytes(buf.getvalue())
    return path


def test_binance_zip_dump_is_ingested_as_it_is(paths, tmp_path):
    """data.binance.vision's zips: one CSV inside, named like the zip; the zip itself is archived.
    Its last line needs no line break (the member's CRC proves it whole)."""
    csv = _klines(tmp_path / "BTCUSDT-1m-2024-01.csv", header=False, unit="us").read_bytes().rstrip(b"\n")
    f = _zip(paths.landing / "BTCUSDT-1m-2024-01.zip", {"BTCUSDT-1m-2024-01.csv": csv})
    assert f in landing_files(paths)  # the landing folder picks zips up
    layout = sniff(f)
    assert layout.binance and layout.member == "BTCUSDT-1m-2024-01.csv" and "zip" in layout.format
    scan = scan_file(f)
    assert scan.symbols == ("BTCUSDT",) and scan.timeframe == "1m" and scan.rows == 4
    r = ingest_file(f, paths)
    assert r.rows_new == 4 and list_partitions(paths) == [PartitionKey("1m", "BTCUSDT", "2024-01")]
    assert read_bars(paths)["ts"].to_list() == [NS_2024 + i * MIN for i in range(4)]
    assert (paths.archive / r.sha256 / f.name).read_bytes() == f.read_bytes()


def test_renamed_zip_takes_names_from_its_member_or_needs_symbol(paths, tmp_path):
    csv = _klines(tmp_path / "k.csv", header=True, unit="ms").read_bytes()
    named = _zip(tmp_path / "download.zip", {"ETHUSDT-1m-2024-01.csv": csv})
    assert scan_file(named).symbols == ("ETHUSDT",)
    anon = _zip(tmp_path / "download (1).zip", {"data.csv": csv})
    with pytest.raises(IngestError, match=r"pass --symbol"):
        scan_file(anon)
    assert load_bars(anon, symbol="ETHUSDT")["symbol"].unique().to_list() == ["ETHUSDT"]


def test_zip_with_other_than_one_csv_is_refused(paths, tmp_path):
    csv = _klines(tmp_path / "k.csv", header=False, unit="ms").read_bytes()
    two = _zip(tmp_path / "BTCUSDT-1m-2024-01.zip", {"a.csv": csv, "b.csv": csv})
    with pytest.raises(IngestError, match="exactly one CSV file; this one holds 2"):
        scan_file(two)
    bad = _zip(tmp_path / "ETHUSDT-1m-2024-01.zip", {"ETHUSDT-1m-2024-01.csv": b"open_time;nothing\n1;2\n"})
    with pytest.raises(IngestError, match=r"zip member 'ETHUSDT-1m-2024-01.csv': missing column"):
        scan_file(bad)


def test_declared_symbol_must_match_a_symbol_column(paths):
    f = paths.landing / "prices.csv"
    f.write_text("symbol,timestamp,open,high,low,close,volume\n"
                 "SPY,2024-01-02,10,11,9,10.5,100\nSPY,2024-01-03,10,11,9,10.5,100\nQQQ,2024-01-04,10,11,9,10.5,100\n")
    with pytest.raises(IngestError, match=r"--symbol SPY was given, but the file's symbol column holds 'QQQ'") as e:
        load_bars(f, symbol="SPY")
    assert (e.value.row, e.value.field) == (3, "symbol")
    f.write_text(f.read_text().replace("QQQ", "SPY"))
    assert load_bars(f, symbol="SPY")["symbol"].unique().to_list() == ["SPY"]


def test_declared_symbol_names_a_file_whose_name_does_not_say_it(paths):
    f = paths.landing / "export (3).csv"  # not a valid symbol: refused without --symbol
    f.write_text("timestamp,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10,11,9,10.5,100\n")
    with pytest.raises(IngestError, match="not a valid symbol"):
        scan_file(f)
    assert scan_file(f, symbol="SPY").symbols == ("SPY",)


def test_lq_ingest_has_a_symbol_flag():
    from lq_assets.cli.main import build_parser

    args = build_parser().parse_args(["ingest", "--symbol", "BTCUSDT", "klines.zip"])
    assert args.symbol == "BTCUSDT" and [str(p) for p in args.paths] == ["klines.zip"]


@pytest.mark.slow  # real `lq ingest` processes (one loads Dagster)
def test_lq_ingest_symbol_end_to_end(tmp_path):
    from lq_engine.data.paths import DataPaths
    from lq_engine.project import CHECKOUT_ROOT
    from tests.orchestration.conftest import lq_env
    from tests.orchestration.live import run_lq

    data = DataPaths(tmp_path / "data").ensure()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(CHECKOUT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = lq_env(data, home)
    csv = _klines(tmp_path / "k.csv", header=False, unit="us").read_bytes()
    dump = _zip(tmp_path / "klines.zip", {"data.csv": csv})
    r = run_lq(["ingest", "--no-freeze", str(dump)], env=env, timeout=300)
    assert r.returncode == 2 and "pass --symbol" in r.stderr, (r.returncode, r.stderr[-2000:])
    r = run_lq(["ingest", "--no-freeze", "--symbol", "BTCUSDT", str(dump)], env=env, timeout=300)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    assert list_partitions(data) == [PartitionKey("1m", "BTCUSDT", "2024-01")]
    bars = read_bars(data)
    assert bars.height == 4 and bars["symbol"].unique().to_list() == ["BTCUSDT"]
