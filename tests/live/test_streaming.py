"""Paper trading on history streams (issue 18, finding 4): bar i is decided from bars 0..i only, as on
a live feed, so a strategy reading later bars gets none of their gains there, and the run reports the
first bar where its decisions differ from the replay's."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from lq_assets.cli.paper import replay_check_line, status_text
from lq_engine.execution.config import ExecutionConfig
from lq_engine.live import record_to_catalog, status
from lq_engine.live.errors import StateError
from lq_engine.live.feeds import PanelFeed
from lq_engine.live.run import run_paper
from lq_engine.live.trader_store import TRADER_FILE
from lq_engine.data.paths import DataPaths
from lq_engine.replay.engine import replay
from lq_engine.replay.event_engine import EventEngine, StreamingDecider
from lq_engine.replay.portfolio_engine import StreamingWeights, run_portfolio_engine
from lq_engine.replay.streaming import PAD, BarBuffer, PanelBuffer, decisions_over, padded, visible_panel
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.registry import load_file, resolve

from .conftest import PORTFOLIO_PARAMS, SYMBOL

CHEATS = Path(__file__).parent / "cheats"
UNCAPPED = ExecutionConfig(liquidity_cap=None)  # the shared bars' low volume would cap what a cheat can earn


def _ret(equity: float) -> float:
    return equity / 100_000.0 - 1.0


def test_next_bar_cheat_gets_no_lookahead_gains_on_paper(tmp_path, frozen_folder, frozen_series):
    cheat = load_file(CHEATS / "next_bar.py")
    ref = replay(cheat, None, frozen_series, UNCAPPED)
    res = run_paper(tmp_path / "st", cheat, None, frozen=frozen_folder, symbol=SYMBOL, config=UNCAPPED)
    assert res.bars_processed == frozen_series.n
    assert _ret(ref.equity[-1]) > 0.15  # one pass over the series: up bars caught in advance (+21%)
    assert abs(_ret(res.equity)) < 0.05 and _ret(res.equity) < _ret(ref.equity[-1]) / 10
    # the divergence, at the first bar the replay went long (the close after it is higher)
    c = frozen_series.close
    first_up = int(np.flatnonzero(c[1:] > c[:-1])[0])
    check = res.replay_check
    assert check is not None and check.diverged and check.bars == frozen_series.n
    assert (check.bar, check.ts, check.paper, check.replay) == (first_up, int(frozen_series.ts[first_up]), 0.0, 1.0)
    msg = check.message()
    assert f"paper decisions diverge from the replay at bar {first_up} (2024-01-01T" in msg and "lookahead" in msg
    assert replay_check_line(check).startswith("WARNING: paper decisions diverge")
    st = status(tmp_path / "st")
    assert st["diverged_at_bar"] == first_up and st["replay_check"] == msg
    assert re.search(r"^replay check +WARNING: " + re.escape(msg) + "$", status_text(st, tmp_path / "st"), re.M)
    paths = DataPaths(tmp_path / "data")
    row = record_to_catalog(paths, tmp_path / "st")
    assert row["diverged_at_bar"] == first_up and row["replay_check"] == msg


def test_portfolio_cheat_gets_no_lookahead_gains_on_paper(tmp_path, universe_folder):
    cheat = load_file(CHEATS / "next_return_portfolio.py")
    panel = PanelFeed.from_frozen(universe_folder).panel
    ref = run_portfolio_engine(cheat, None, panel, UNCAPPED)
    res = run_paper(tmp_path / "st", cheat, None, frozen=universe_folder, config=UNCAPPED)
    assert res.bars_processed == panel.n
    assert _ret(ref.equity[-1]) > 0.5
    assert _ret(res.equity) < _ret(ref.equity[-1]) / 10
    # what the paper decided at bar j is the decision over clock bars 0..j alone
    table = cheat.table([cheat.validated(None)])
    alone = [decisions_over(cheat, table, visible_panel(panel, j + 1)).targets[-1].tolist() for j in range(panel.n)]
    con = sqlite3.connect(tmp_path / "st" / TRADER_FILE)
    rows = con.execute("SELECT weights FROM bars ORDER BY bar")
    recorded = [[json.loads(w)[s] for s in panel.symbols] for (w,) in rows]
    con.close()
    assert recorded == alone
    first = next(j for j in range(panel.n) if alone[j] != ref.targets[j])
    check = res.replay_check
    assert check.diverged and check.bar == first and check.replay == ref.targets[first] and check.paper == alone[first]


@pytest.mark.parametrize("strategy,params", [
    ("trend_vol_target", {"fast": 5, "slow": 20, "target_vol": 0.004, "vol_span": 10, "max_bars": 25}),  # state
    ("rsi_time_stop", {"period": 6, "lower": 40.0, "exit_level": 55.0, "trail": 0.01, "max_bars": 12}),  # + exits
])
def test_stateful_strategies_keep_replay_parity(tmp_path, frozen_folder, frozen_series, strategy, params):
    n = 140
    res = run_paper(tmp_path / "st", strategy, params, frozen=frozen_folder, symbol=SYMBOL, max_bars=n)
    ref = replay(strategy, params, frozen_series.head(n))
    assert len(ref.fills) > 6
    if resolve(strategy).has_exits:
        assert "trailing" in {r[5] for r in ref.fills.rows()} or "stop_loss" in {r[5] for r in ref.fills.rows()}
    assert res.fills == ref.fills.rows()
    con = sqlite3.connect(tmp_path / "st" / TRADER_FILE)
    eq = np.array([r[0] for r in con.execute("SELECT equity FROM bars ORDER BY bar")])
    con.close()
    assert np.array_equal(eq, ref.equity)  # bit-identical
    assert res.replay_check is not None and not res.replay_check.diverged and res.replay_check.bars == n
    assert replay_check_line(res.replay_check) == f"paper decisions equal the replay's on all {n} bars"


@pytest.mark.parametrize("strategy,params", [("xs_momentum", PORTFOLIO_PARAMS),
                                             ("inverse_vol", {"vol_window": 8, "rebalance": 10})])
def test_portfolio_keeps_replay_parity_and_survives_restart(tmp_path, universe_folder, strategy, params):
    """Streamed weights over a universe with late starts and gaps; stopped after 50 clock bars (a
    snapshot every 7) and resumed, the run equals the replay's fills and equity to the last bit."""
    n = 120
    panel = PanelFeed.from_frozen(universe_folder).panel
    first = run_paper(tmp_path / "st", strategy, params, frozen=universe_folder, max_bars=50, snapshot_every=7)
    res = run_paper(tmp_path / "st", strategy, params, frozen=universe_folder, max_bars=n, snapshot_every=7)
    assert first.bars_processed == 50 and res.recovery.restored_bar == 49 and res.bars_processed == n
    ref = run_portfolio_engine(strategy, params, panel.head(n))
    assert len(ref.fills) > 6
    assert res.fills == [(f.timestamp_ns, f.side, f.quantity, f.price, f.fee, f.reason) for f in ref.fills]
    con = sqlite3.connect(tmp_path / "st" / TRADER_FILE)
    eq = [r[0] for r in con.execute("SELECT equity FROM bars ORDER BY bar")]
    con.close()
    assert eq == ref.equity
    assert not res.replay_check.diverged and res.replay_check.bars == n


def test_restart_refuses_bars_that_do_not_match_the_snapshot(tmp_path, frozen_folder):
    run_paper(tmp_path / "st", "ma_cross", None, frozen=frozen_folder, symbol=SYMBOL, max_bars=30)
    con = sqlite3.connect(tmp_path / "st" / TRADER_FILE)
    with con:
        con.execute("DELETE FROM feed_bars WHERE bar = 29")
    con.close()
    with pytest.raises(StateError, match=r"cannot be restored: streaming decider: the snapshot saw 30 bar\(s\)"):
        run_paper(tmp_path / "st", "ma_cross", None, frozen=frozen_folder, symbol=SYMBOL, max_bars=40)


def test_reads_past_the_visible_bars_are_deterministic(frozen_series):
    """A compiled read of close[i + 1] at the newest bar lands in NaN padding: the raw next-bar cheat
    never sees a number there, and two runs decide the same."""
    cheat = load_file(CHEATS / "next_bar.py")
    runs = [EventEngine(SYMBOL, StreamingDecider(cheat, None)).run(frozen_series).targets for _ in range(2)]
    assert runs[0] == runs[1] == [0.0] * frozen_series.n


def test_buffers_pad_and_grow():
    buf = BarBuffer(capacity=2)
    rows = [(60 * k, 1.0 + k, 2.0 + k, 0.5 + k, 1.5 + k, 10.0 * k) for k in range(7)]
    for r in rows:
        buf.append(*r)
        b = buf.bars()
        base = b.close.base if b.close.base is not None else b.close
        assert b.close.flags.c_contiguous and not b.close.flags.writeable
        assert np.isnan(base[buf.n:buf.n + PAD]).all()  # the padding after the visible bars
    assert buf.rows() == rows and buf.last_ts == 360
    x = padded(np.arange(6.0).reshape(2, 3)[:, 1:])  # a strided window comes out C-contiguous, padded
    assert x.flags.c_contiguous and x.tolist() == [[1.0, 2.0], [4.0, 5.0]] and np.isnan(x.base[4:]).all()
    with pytest.raises(ValueError, match="no symbol's bar"):
        PanelBuffer(("A", "B")).append(0, [])


def test_panel_buffer_aligns_as_the_panel(universe_folder):
    panel = PanelFeed.from_frozen(universe_folder).panel
    buf = PanelBuffer(panel.symbols, capacity=4)
    cols = {f: getattr(panel, f) for f in ("open", "high", "low", "close", "volume")}
    for j in range(panel.n):
        buf.append(int(panel.ts[j]), [(s, *(float(cols[f][k, j]) for f in cols)) for k, s in enumerate(panel.symbols)
                                      if panel.mask[k, j]])
    got = buf.panel()
    for f in ("ts", "open", "high", "low", "close", "volume", "mask"):
        assert np.array_equal(getattr(got, f), getattr(panel, f), equal_nan=f not in ("ts", "mask")), f
    assert isinstance(got, Panel) and got.close.flags.c_contiguous
    w = StreamingWeights("xs_momentum", PORTFOLIO_PARAMS, panel.symbols)
    w.load_state({"bars": panel.n, "last_ts": int(panel.ts[-1])}, buf.groups())
    assert w.n == panel.n
