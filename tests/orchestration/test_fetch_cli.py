"""`lq fetch` and the `exchange_bars` asset with its nightly schedule, against the local stand-in for
Binance USD-M (tests/data/exchange_server.py: recorded responses on 127.0.0.1, never the internet)."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import polars as pl
import pytest

from lq_engine.data.fetch import parse_when
from lq_engine.data.ingest import ingest_files, landing_files
from lq_engine.data.lake import read_bars
from lq_engine.data.paths import DataPaths
from tests.data.exchange_server import HOUR_MS, KLINES, FakeBinanceUsdm

PERP = "BTC/USDT:USDT"


@pytest.fixture
def server():
    with FakeBinanceUsdm() as s:
        yield s


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
"""


def test_exchange_bars_fetches_the_configured_sources_and_runs_nightly(server, data_paths, tmp_path, monkeypatch):
    from lq_assets.market.fetch import exchange_bars, nightly_fetch
    from lq_assets.resources import LakeResource, ProjectConfigResource

    when = datetime(2026, 12, 6, 0, 15, tzinfo=timezone.utc)
    with dg.build_schedule_context(scheduled_execution_time=when) as ctx:  # the repository's project: no [fetch]
        assert isinstance(nightly_fetch(ctx), dg.SkipReason)

    cfg = tmp_path / "luminaquant.toml"
    cfg.write_text(CONFIG.format(url=server.url))
    res = dg.materialize([exchange_bars], resources={
        "lake": LakeResource(data_dir=str(data_paths.root)), "project": ProjectConfigResource(config_file=str(cfg))})
    assert res.success
    (mat,) = res.asset_materializations_for_node("exchange_bars")
    assert mat.metadata["rows"].value == 28 + 10 and mat.metadata["files"].value == 2
    names = sorted(f.name for f in data_paths.landing.iterdir())
    assert names == ["fetch__binanceusdm__BTCUSDT__1h__20240101T000000Z-20240102T050000Z.csv",
                     "fetch__binanceusdm__BTCUSDT__funding__20240101T000000Z-20240104T000000Z.funding.csv"]

    monkeypatch.setenv("LQ_CONFIG", str(cfg))
    with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
        req = nightly_fetch(ctx)
    assert isinstance(req, dg.RunRequest) and req.run_key == "fetch:2026-12-06"
