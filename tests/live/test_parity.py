"""A paper run gives exactly the replay engine's fills, equity and account on the same bars."""

from __future__ import annotations

import numpy as np
import pytest

from lq_engine.execution.config import ExecutionConfig
from lq_engine.live.feeds import ReplayFeed
from lq_engine.live.run import run_paper
from lq_engine.live.venue_service import DurableVenue
from lq_engine.live.trader_store import TRADER_FILE, VENUE_FILE, open_trader_db
from lq_engine.replay.engine import replay

from .conftest import BRACKETS, PARAMS, SYMBOL


@pytest.mark.parametrize("strategy,params,brackets", [
    ("ma_cross", PARAMS, BRACKETS),
    ("rsi", {"period": 6, "lower": 35.0, "upper": 65.0, "side": "both"}, None),
])
def test_paper_run_has_the_replay_fills(tmp_path, frozen_folder, frozen_series, strategy, params, brackets):
    kw = {"brackets": brackets} if brackets else {}
    n = 140
    res = run_paper(tmp_path / "st", strategy, params, frozen=frozen_folder, symbol=SYMBOL, max_bars=n, **kw)
    ref = replay(strategy, params, frozen_series.head(n), **kw)
    assert len(ref.fills) > 10
    if brackets:
        assert {r[5] for r in ref.fills.rows()} > {"market"}  # bracket exits happen too
    assert res.fills == ref.fills.rows()
    assert res.bars_processed == n and res.last_bar == n - 1
    assert res.cash == float(ref.fills.cash[-1]) and res.position == float(ref.fills.position[-1])
    con = open_trader_db(tmp_path / "st")
    eq = np.array([r[0] for r in con.execute("SELECT equity FROM bars ORDER BY bar")])
    fills = con.execute("SELECT cash, position FROM fills ORDER BY fill_seq").fetchall()
    con.close()
    assert np.array_equal(eq, ref.equity)  # bit-identical
    assert [c for c, _ in fills] == ref.fills.cash.tolist() and [p for _, p in fills] == ref.fills.position.tolist()
    venue = DurableVenue(tmp_path / "st" / VENUE_FILE, ExecutionConfig(), 100_000.0)
    assert venue.position(SYMBOL) == res.position and venue.cash == res.cash
    venue.close()
    assert (tmp_path / "st" / TRADER_FILE).exists()


def test_partial_fills_are_exercised(frozen_series):
    """The shared data makes the liquidity cap split orders (else the parity test proves less)."""
    ref = replay("ma_cross", PARAMS, frozen_series.head(140), brackets=BRACKETS)
    assert len(set(ref.fills.order.tolist())) < len(ref.fills)


class _LiveLike:
    """The replay feed with its future hidden: the trader must decide from bars seen so far."""

    def __init__(self, feed: ReplayFeed) -> None:
        self._f, self.symbol, self.series = feed, feed.symbol, None

    def describe(self) -> str:
        return "live-like:" + self._f.describe()

    def bars(self, start, stop):
        return self._f.bars(start, stop)

    def latest_index(self) -> int:
        return self._f.latest_index()


def test_streaming_decisions_match_replay_and_survive_restart(tmp_path, frozen_series):
    n = 90
    feed = _LiveLike(ReplayFeed(frozen_series))
    first = run_paper(tmp_path / "st", "ma_cross", PARAMS, feed=feed, max_bars=50, brackets=BRACKETS)
    assert first.bars_processed == 50
    res = run_paper(tmp_path / "st", "ma_cross", PARAMS, feed=feed, max_bars=n, brackets=BRACKETS)
    assert res.recovery.restored_bar == 49
    ref = replay("ma_cross", PARAMS, frozen_series.head(n), brackets=BRACKETS)
    assert res.fills == ref.fills.rows()
