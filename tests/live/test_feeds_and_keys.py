"""Feeds (replay pacing, the optional ccxt feed) and API keys that never reach logs or state."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from lq_engine.data.paths import DataPaths
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from lq_engine.live import record_to_catalog, status
from lq_engine.live.credentials import load_credentials
from lq_engine.live.errors import FeedUnavailableError
from lq_engine.live.feeds import CcxtFeed, ReplayFeed
from lq_engine.live.run import run_paper
from lq_engine.replay.engine import replay

from .conftest import PARAMS, SYMBOL

KEY, SECRET = "AKIAtestKEY0123456789", "sEcReT-value-9876543210-xyz"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, d: float) -> None:
        self.sleeps.append(d)
        self.t += d


def test_replay_feed_paces_bars_per_second(frozen_series):
    clock = FakeClock()
    feed = ReplayFeed(frozen_series, speed=4.0, clock=clock, sleep=clock.sleep)
    it = feed.bars(10, 20)
    got = [next(it) for _ in range(5)]
    assert [b.index for b in got] == [10, 11, 12, 13, 14]
    assert got[0].ts == int(frozen_series.ts[10]) and got[0].close == float(frozen_series.close[10])
    assert clock.sleeps == pytest.approx([0.25] * 5)
    assert feed.latest_index() == 14
    clock.t += 100.0  # the trader stalls: the feed is ahead, up to the run's stop
    assert feed.latest_index() == 19
    assert [b.index for b in it] == list(range(15, 20)) and len(clock.sleeps) == 5  # no waiting when late


def test_replay_feed_unpaced_and_bad_speed(frozen_series):
    feed = ReplayFeed(frozen_series)
    assert len(list(feed.bars(0, None))) == frozen_series.n
    with pytest.raises(ValueError, match="speed must be > 0"):
        ReplayFeed(frozen_series, speed=0.0)


def test_run_paper_from_the_lake(tmp_path, data_paths, frozen_series):
    res = run_paper(tmp_path / "st", "ma_cross", PARAMS, lake_symbol=SYMBOL, paths=data_paths, timeframe="1m",
                    max_bars=50)
    assert res.fills == replay("ma_cross", PARAMS, frozen_series.head(50)).fills.rows()
    with pytest.raises(ValueError, match="no 1m bars for 'NOPE'"):
        run_paper(tmp_path / "st2", "ma_cross", PARAMS, lake_symbol="NOPE", paths=data_paths)


class StubExchange:
    """Stands in for a ccxt exchange (no network here): serves closed 1m candles plus a forming one."""

    def __init__(self, series, fail_with: str | None = None) -> None:
        self.s, self.fail_with, self.calls = series, fail_with, 0

    def fetch_ohlcv(self, symbol, timeframe, since=None):
        self.calls += 1
        if self.fail_with:
            raise ConnectionError(self.fail_with)
        ms = self.s.ts // 1_000_000
        i = int(np.searchsorted(ms, since))
        j = min(i + 25, self.s.n)
        return [[int(ms[k]), *(float(getattr(self.s, f)[k]) for f in ("open", "high", "low", "close", "volume"))]
                for k in range(i, j)]


@pytest.fixture()
def creds(monkeypatch):
    monkeypatch.setenv("LQ_EXCHANGE_API_KEY", KEY)
    monkeypatch.setenv("LQ_EXCHANGE_SECRET", SECRET)
    c = load_credentials()
    assert c.api_key == KEY and KEY not in repr(c) and SECRET not in str(c)
    return c


def _assert_no_secret(text: str | bytes) -> None:
    for s in (KEY, SECRET):
        assert (s.encode() if isinstance(text, bytes) else s) not in text


def test_ccxt_feed_without_ccxt_fails_clearly(creds, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ccxt", None)  # not installed (it is a dev dependency): import ccxt fails
    with pytest.raises(FeedUnavailableError) as e:
        CcxtFeed("binance", "BTC/USDT", "1m", since_ns=0, credentials=creds)
    msg = str(e.value)
    assert "needs ccxt" in msg and "not installed" in msg and "'exchange' extra" in msg, msg
    _assert_no_secret(msg)


def test_exchange_errors_are_redacted(creds, frozen_series):
    feed = CcxtFeed("binance", SYMBOL, "1m", int(frozen_series.ts[0]), creds,
                    exchange=StubExchange(frozen_series, fail_with=f"401 bad apiKey={KEY}&secret={SECRET}"))
    with pytest.raises(FeedUnavailableError, match="unreachable or refused") as e:
        next(feed.bars(0, 1))
    _assert_no_secret(str(e.value))


def test_key_never_reaches_logs_state_or_catalog(tmp_path, creds, frozen_series, caplog):
    caplog.set_level(logging.DEBUG)
    ex = StubExchange(frozen_series)
    feed = CcxtFeed("binance", SYMBOL, "1m", int(frozen_series.ts[0]), creds, exchange=ex, sleep=lambda s: None)
    state = tmp_path / "st"
    res = run_paper(state, "ma_cross", PARAMS, feed=feed, max_bars=60)
    assert ex.calls >= 3 and res.bars_processed == 60
    assert res.fills == replay("ma_cross", PARAMS, frozen_series.head(60)).fills.rows()  # streaming decisions
    paths = DataPaths(tmp_path / "data")
    record_to_catalog(paths, state)
    _assert_no_secret(caplog.text)
    _assert_no_secret(repr(status(state)))
    files = [p for p in (*state.rglob("*"), *paths.root.rglob("*")) if p.is_file()]
    assert any(p.name == "trader.sqlite" for p in files) and any(p.suffix == ".duckdb" for p in files)
    for p in files:
        _assert_no_secret(p.read_bytes())


def test_key_file_must_be_outside_the_repo(tmp_path):
    with pytest.raises(FeedUnavailableError, match="key files must live outside the (project|repository)"):
        load_credentials(REPO_ROOT / "keys.json")
    f = tmp_path / "keys.json"
    f.write_text('{"apiKey": "k1", "secret": "s1"}')
    c = load_credentials(f)
    assert (c.api_key, c.secret) == ("k1", "s1") and "k1" not in repr(c)
    f.write_text("apiKey=k1")
    with pytest.raises(FeedUnavailableError, match="not JSON"):
        load_credentials(f)


def test_key_file_must_be_outside_the_users_project(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    (proj / "secrets").mkdir(parents=True)
    (proj / "luminaquant.toml").write_text("")
    inside = proj / "secrets" / "keys.json"
    inside.write_text('{"apiKey": "k1", "secret": "s1"}')
    monkeypatch.delenv("LQ_CONFIG", raising=False)
    monkeypatch.setenv("LQ_PROJECT", str(proj))
    with pytest.raises(FeedUnavailableError, match=f"key files must live outside the project \\({proj}\\)"):
        load_credentials(inside)
    monkeypatch.delenv("LQ_PROJECT")
    monkeypatch.chdir(proj / "secrets")  # found by walking up, too
    with pytest.raises(FeedUnavailableError, match="outside the project"):
        load_credentials(inside)
    outside = tmp_path / "keys.json"
    outside.write_text('{"apiKey": "k2", "secret": "s2"}')
    assert load_credentials(outside).api_key == "k2"


def test_missing_half_of_the_env_keys(monkeypatch):
    monkeypatch.delenv("LQ_EXCHANGE_API_KEY", raising=False)
    monkeypatch.delenv("LQ_EXCHANGE_SECRET", raising=False)
    assert load_credentials() is None
    monkeypatch.setenv("LQ_EXCHANGE_API_KEY", KEY)
    with pytest.raises(FeedUnavailableError, match="one is missing") as e:
        load_credentials()
    _assert_no_secret(str(e.value))
