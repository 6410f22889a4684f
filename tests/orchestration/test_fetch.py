"""The exchange fetch against a local stand-in for Binance USD-M (tests/data/exchange_server.py:
recorded responses on 127.0.0.1, a real ccxt.binanceusdm pointed at it, never the internet): paging,
a gap, the still-open bar, a 429, an outage mid-fetch, funding rates, the landing files going through
the normal ingest; `lq fetch`'s outage and resume (nothing lost, nothing duplicated); the
`exchange_bars` asset and its nightly schedule. One file, so ccxt (slow to import) is imported once."""

from __future__ import annotations

import csv
from datetime import datetime, timezone

import dagster as dg
import polars as pl
import pytest

from lq_engine.data.fetch import (FUNDING_HEADER, FetchError, FetchPolicy, fetch_to_landing,
                                  open_exchange, parse_when)
from lq_engine.data.funding import last_funding_ns
from lq_engine.data.ingest import ingest_files, landing_files
from lq_engine.data.lake import last_bar_ts, read_bars
from lq_engine.data.paths import DataPaths
from lq_engine.errors import InputError
from tests.data.exchange_server import FUNDING, HOUR_MS, KLINES, FakeBinanceUsdm

PERP = "BTC/USDT:USDT"
SINCE = parse_when("2024-01-01")
NOW = parse_when("2024-01-03")  # every recorded bar closed
LATER = parse_when("2024-01-05")  # every recorded funding time past
T0_MS = KLINES[0][0]


@pytest.fixture
def server():
    with FakeBinanceUsdm() as s:
        yield s


def _exchange(server: FakeBinanceUsdm):
    return open_exchange("binanceusdm", api_url=server.url, config={"rateLimit": 1})


def _recorded_bars(upto_ms: int | None = None) -> pl.DataFrame:
    rows = [(r[0] * 1_000_000, *(float(x) for x in r[1:6])) for r in KLINES if upto_ms is None or r[0] < upto_ms]
    return pl.DataFrame(rows, schema=["ts", "open", "high", "low", "close", "volume"], orient="row")


def test_pages_until_no_more_data_keeps_the_gap_and_ingests(server, data_paths):
    sleeps: list[float] = []
    r = fetch_to_landing(_exchange(server), data_paths, PERP, "1h", since_ns=SINCE, now_ns=NOW, sleep=sleeps.append,
                         policy=FetchPolicy(limit=7, pages_per_file=2))
    assert r.symbol == "BTCUSDT" and r.rows == len(KLINES) == 28
    # pages of 7 from the cursor, each starting one hour after the last bar of the one before, then an empty page
    starts = server.data_starts("/fapi/v1/klines")
    assert starts == [T0_MS, KLINES[6][0] + HOUR_MS, KLINES[13][0] + HOUR_MS, KLINES[20][0] + HOUR_MS,
                      KLINES[27][0] + HOUR_MS]
    assert [f.name for f in r.files] == [
        "fetch__binanceusdm__BTCUSDT__1h__20240101T000000Z-20240101T150000Z.csv",
        "fetch__binanceusdm__BTCUSDT__1h__20240101T160000Z-20240102T050000Z.csv"]
    assert not list(data_paths.landing.glob(".*")), "no temporary file is left in the landing folder"
    first = r.files[0].read_text().splitlines()
    assert first[0] == "symbol,timeframe,ts,open,high,low,close,volume"
    assert first[1] == "BTCUSDT,1h,2024-01-01T00:00:00Z,42283.6,42307.0,42173.5,42193.2,3100.123"
    reports = ingest_files(landing_files(data_paths), data_paths)
    assert sum(x.rows_new for x in reports) == 28
    lake = read_bars(data_paths, ["BTCUSDT"], "1h").select("ts", "open", "high", "low", "close", "volume")
    assert lake.equals(_recorded_bars())  # the exchange's numbers, every bar once
    hours = {(t // 10**9 // 3600) % 24 for t in lake["ts"].to_list() if t < parse_when("2024-01-02")}
    assert hours == set(range(24)) - {10, 11}  # the gap stays a gap: no bar invented


def test_the_still_open_bar_and_bars_from_until_on_are_left_out(server, data_paths):
    ex = _exchange(server)
    last = KLINES[-1][0] * 1_000_000
    r = fetch_to_landing(ex, data_paths, "BTCUSDT", "1h", since_ns=SINCE, now_ns=last + 30 * 60 * 10**9)
    assert r.rows == 27 and r.last_ns == KLINES[-2][0] * 1_000_000  # the last one closes in 30 minutes
    r = fetch_to_landing(ex, data_paths, PERP, "1h", since_ns=SINCE, until_ns=parse_when("2024-01-01T05:30Z"),
                         resume=False, now_ns=NOW, as_symbol="BTC-PERP")
    assert r.symbol == "BTC-PERP" and r.rows == 6  # 00:00 .. 05:00 open before --until


def test_a_rate_limit_answer_is_retried_after_its_retry_after(server, data_paths):
    server.rate_limited = 1
    sleeps: list[float] = []
    r = fetch_to_landing(_exchange(server), data_paths, PERP, "1h", since_ns=SINCE, now_ns=NOW, sleep=sleeps.append,
                         policy=FetchPolicy(backoff_s=0.01, retries=2))
    assert r.rows == 28
    assert [q["_answered"] for p, q in server.requests if p == "/fapi/v1/klines"][:2] == ["429", "200"]
    assert sleeps == [1.0]  # Binance's Retry-After, not the 0.01 s backoff


def test_an_outage_stops_with_where_and_keeps_the_pages_before(server, data_paths):
    server.fail_after = 2
    sleeps: list[float] = []
    with pytest.raises(FetchError) as e:
        fetch_to_landing(_exchange(server), data_paths, PERP, "1h", since_ns=SINCE, now_ns=NOW, sleep=sleeps.append,
                         policy=FetchPolicy(limit=5, pages_per_file=10, retries=3, backoff_s=0.5, backoff_max_s=1.5))
    msg = str(e.value)
    assert "binanceusdm BTC/USDT:USDT 1h: stopped at since=2024-01-01T10:00:00Z" in msg, msg
    assert "ExchangeNotAvailable after 4 tries" in msg and "10 rows before it are in the landing folder" in msg
    assert sleeps == [0.5, 1.0, 1.5]  # exponential backoff, capped
    (f,) = landing_files(data_paths)  # the two completed pages, written although a file holds up to 10
    assert f.name.endswith("20240101T000000Z-20240101T090000Z.csv")


def test_funding_rates_to_landing_files_and_resume_from_the_lake(server, data_paths):
    ex = _exchange(server)
    r = fetch_to_landing(ex, data_paths, PERP, "funding", since_ns=SINCE, now_ns=LATER, policy=FetchPolicy(limit=4))
    assert r.rows == len(FUNDING) == 10 and len(server.data_starts("/fapi/v1/fundingRate")) == 4  # 4+4+2, then empty
    (f,) = r.files
    assert f.name == "fetch__binanceusdm__BTCUSDT__funding__20240101T000000Z-20240104T000000Z.funding.csv"
    lines = f.read_text().splitlines()
    assert lines[0] == FUNDING_HEADER == "symbol,ts,funding_rate"
    rows = list(csv.DictReader(lines))
    # whole seconds (Binance stamps some a few ms late), the rate as recorded (a fraction per interval)
    assert [x["ts"] for x in rows[:3]] == ["2024-01-01T00:00:00Z", "2024-01-01T08:00:00Z", "2024-01-01T16:00:00Z"]
    assert [float(x["funding_rate"]) for x in rows] == [float(x["fundingRate"]) for x in FUNDING]
    assert rows[8]["funding_rate"] == "-0.00004237"  # no exponent

    # resume: after the lake's funding file (the funding ingest's layout), not after a landing file
    f.unlink()
    stored = pl.DataFrame({"ts": [parse_when(x["ts"]) for x in rows[:6]],
                           "funding_rate": [float(x["funding_rate"]) for x in rows[:6]]})
    data_paths.store.write_parquet("funding/symbol=BTCUSDT/data.parquet", stored)
    assert last_funding_ns(data_paths, "BTCUSDT") == parse_when("2024-01-02T16:00Z")
    r = fetch_to_landing(ex, data_paths, PERP, "funding", now_ns=LATER)
    assert r.resumed_from == parse_when("2024-01-02T16:00Z") and r.rows == 4
    assert server.data_starts("/fapi/v1/fundingRate")[-2] == parse_when("2024-01-02T16:00:01Z") // 10**6


def test_bad_requests_are_named(server, data_paths):
    ex = _exchange(server)
    with pytest.raises(InputError, match="is not one ccxt .* knows .*did you mean 'binanceusdm'"):
        open_exchange("binanceusdn")
    with pytest.raises(InputError, match="binanceusdm has no market 'BTCUSD'.*did you mean 'BTCUSDT'"):
        fetch_to_landing(ex, data_paths, "BTCUSD", "1h", since_ns=SINCE)
    with pytest.raises(InputError, match=r"binanceusdm has no 7m bars \(timeframe .7m.\); it offers .*1m, 3m, 5m"):
        fetch_to_landing(ex, data_paths, PERP, "7m", since_ns=SINCE)
    with pytest.raises(InputError, match="no 1h bars of BTCUSDT in the lake or the landing folder yet: give --since"):
        fetch_to_landing(ex, data_paths, PERP, "1h")
    with pytest.raises(InputError, match="--until '2024-13-01' is not an ISO date"):
        parse_when("2024-13-01", "--until")
    assert last_bar_ts(data_paths, "BTCUSDT", "1h") is None


def test_project_config_fetch_tables(tmp_path):
    from lq_engine.settings import SettingsError, load_project_config

    base = '[universes.u]\nsymbols = ["BTCUSDT"]\ntimeframe = "1h"\ncalendar = "24/7"\n'
    f = tmp_path / "luminaquant.toml"
    f.write_text(base + '[fetch.perps]\nexchange = "binanceusdm"\nsymbols = ["BTC/USDT:USDT"]\ntimeframes = ["1h"]\n'
                 'since = 2024-01-01\nfunding = true\nsuffix = "-PERP"\nmin_interval = 0.25\n')
    src = load_project_config(f).fetch["perps"]
    assert (src.exchange, src.symbols, src.timeframes, src.since, src.funding, src.suffix, src.min_interval) == \
        ("binanceusdm", ("BTC/USDT:USDT",), ("1h",), "2024-01-01", True, "-PERP", 0.25)
    for body, message in [
        ('exchange = "binance"\nsymbols = ["BTC/USDT"]\ntimeframes = ["1h"]\nsince = "2024-01-01"\nsymbolz = []\n',
         r"\[fetch.x\]: unknown key 'symbolz' \(did you mean 'symbols'\?\)"),
        ('exchange = "binance"\nsymbols = ["BTC/USDT"]\ntimeframes = ["1h"]\n', r"\[fetch.x\]: missing key 'since'"),
        ('exchange = "binance"\nsymbols = ["BTC/USDT"]\nsince = "2024-01-01"\n', r"\[fetch.x\]: nothing to fetch"),
        ('exchange = "binance"\nsymbols = ["BTC/USDT"]\ntimeframes = ["1h"]\nsince = "01/01/2024"\n',
         r"\[fetch.x\] since: '01/01/2024' is not an ISO date"),
    ]:
        f.write_text(base + "[fetch.x]\n" + body)
        with pytest.raises(SettingsError, match=message):
            load_project_config(f)


def test_missing_ccxt_names_the_extra(monkeypatch):
    import sys

    from lq_engine.data.fetch import CcxtMissingError, require_ccxt

    monkeypatch.setitem(sys.modules, "ccxt", None)  # import ccxt raises ImportError
    with pytest.raises(CcxtMissingError, match=r"lq fetch needs ccxt.*'exchange' extra.*luminaquant\[exchange\]"):
        require_ccxt()


def _lake(paths: DataPaths) -> pl.DataFrame:
    return read_bars(paths, ["BTCUSDT"], "1h").select("ts", "open", "high", "low", "close", "volume")


def _lq_fetch(capsys, *extra: str) -> tuple[int, str, str]:
    from lq_assets.cli.main import main

    code = main(["fetch", "binanceusdm", PERP, "1h", *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_lq_fetch_outage_then_resume_loses_and_duplicates_nothing(server, cli_env, tmp_path, monkeypatch, capsys):
    """The command stops on an outage (exit 1, naming where); run again, it resumes after the last bar
    it wrote; ingested, the lake equals a single clean fetch, every bar once. Then, with the landing
    files gone, a third run resumes after the lake's last bar, and a full re-fetch changes nothing."""
    args = ["--since", "2024-01-01", "--api-url", server.url, "--limit", "5", "--pages-per-file", "1"]

    clean = DataPaths(tmp_path / "clean").ensure()
    monkeypatch.setenv("LQ_DATA_DIR", str(clean.root))
    code, out, err = _lq_fetch(capsys, *args)
    assert code == 0, err
    assert "28 1h bars (2024-01-01T00:00:00Z .. 2024-01-02T05:00:00Z) in 6 landing file(s)" in out, out
    ingest_files(landing_files(clean), clean)

    paths = DataPaths(tmp_path / "data").ensure()
    monkeypatch.setenv("LQ_DATA_DIR", str(paths.root))
    server.requests.clear()
    server.data_requests, server.fail_after = 0, 3
    code, out, err = _lq_fetch(capsys, *args, "--retries", "0")
    assert code == 1
    assert err.strip().startswith("lq fetch: error: binanceusdm BTC/USDT:USDT 1h: stopped at "
                                  "since=2024-01-01T17:00:00Z: ExchangeNotAvailable"), err
    assert len(landing_files(paths)) == 3

    server.fail_after = None
    code, out, err = _lq_fetch(capsys, *args)
    assert code == 0, err
    # resumed after the last bar written, not re-fetched
    assert server.data_starts("/fapi/v1/klines")[3] == parse_when("2024-01-01T17:00Z") // 10**6
    assert "13 1h bars (2024-01-01T17:00:00Z .. 2024-01-02T05:00:00Z)" in out, out
    reports = ingest_files(landing_files(paths), paths)
    assert sum(r.rows_new for r in reports) == 28 and sum(r.rows_replaced + r.rows_unchanged for r in reports) == 0
    assert _lake(paths).equals(_lake(clean)) and _lake(paths)["ts"].is_unique().all()

    for f in landing_files(paths):
        f.unlink()
    server.requests.clear()
    code, out, err = _lq_fetch(capsys, "--api-url", server.url)
    assert code == 0 and "0 1h bars (nothing new from 2024-01-02T06:00:00Z)" in out, out
    assert server.data_starts("/fapi/v1/klines") == [KLINES[-1][0] + HOUR_MS]  # after the lake's last bar

    code, out, err = _lq_fetch(capsys, *args, "--no-resume")  # the overlap: identical bars change nothing
    assert code == 0, err
    reports = ingest_files(landing_files(paths), paths)
    assert sum(r.rows_new + r.rows_replaced for r in reports) == 0 and sum(r.rows_unchanged for r in reports) == 28
    assert _lake(paths).equals(_lake(clean))


CONFIG = """[universes.perps]
symbols = ["BTCUSDT"]
timeframe = "1h"
calendar = "24/7"

[fetch.perps]
exchange = "binanceusdm"
symbols = ["BTC/USDT:USDT"]
timeframes = ["1h"]
funding = true
since = 2024-01-01
api_url = "{url}"

[fetch.broken]
exchange = "binanceusdm"
symbols = ["NOPE/USDT:USDT"]
timeframes = ["1h"]
since = 2024-01-01
api_url = "{url}"
"""


def test_exchange_bars_fetches_the_configured_sources_and_runs_nightly(server, data_paths, tmp_path, monkeypatch):
    from lq_assets.market.fetch import exchange_bars, nightly_fetch
    from lq_assets.resources import LakeResource, ProjectConfigResource

    when = datetime(2026, 12, 6, 0, 15, tzinfo=timezone.utc)
    with dg.build_schedule_context(scheduled_execution_time=when) as ctx:  # the repository's project: no [fetch]
        assert isinstance(nightly_fetch(ctx), dg.SkipReason)

    cfg = tmp_path / "luminaquant.toml"
    cfg.write_text(CONFIG.format(url=server.url))
    resources = {"lake": LakeResource(data_dir=str(data_paths.root)),
                 "project": ProjectConfigResource(config_file=str(cfg))}
    res = dg.materialize([exchange_bars], resources=resources,
                         run_config={"ops": {"exchange_bars": {"config": {"sources": ["perps"]}}}})
    assert res.success
    (mat,) = res.asset_materializations_for_node("exchange_bars")
    assert mat.metadata["rows"].value == 28 + 10 and mat.metadata["files"].value == 2
    names = sorted(f.name for f in data_paths.landing.iterdir())
    assert names == ["fetch__binanceusdm__BTCUSDT__1h__20240101T000000Z-20240102T050000Z.csv",
                     "fetch__binanceusdm__BTCUSDT__funding__20240101T000000Z-20240104T000000Z.funding.csv"]

    # every source: perps resume (nothing new), the broken one fails the run, naming its table and market
    res = dg.materialize([exchange_bars], resources=resources, raise_on_error=False)
    assert not res.success
    (failure,) = [e for e in res.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "[fetch.broken] binanceusdm has no market 'NOPE/USDT:USDT'" in message, message
    assert len(list(data_paths.landing.iterdir())) == 2

    monkeypatch.setenv("LQ_CONFIG", str(cfg))
    with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
        req = nightly_fetch(ctx)
    assert isinstance(req, dg.RunRequest) and req.run_key == "fetch:2026-12-06"
