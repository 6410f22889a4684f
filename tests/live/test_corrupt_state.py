"""Bad state is refused with an error naming the file and the problem, and the way out works."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from lq_engine.live import status
from lq_engine.live.errors import ReconciliationError, StateError
from lq_engine.live.run import run_paper
from lq_engine.live.trader_store import TRADER_FILE, VENUE_FILE
from lq_engine.replay.engine import replay

from .conftest import PARAMS, SYMBOL

N = 60


@pytest.fixture()
def run(tmp_path, frozen_folder):
    state = tmp_path / "st"

    def go(max_bars=N, **kw):
        return run_paper(state, "ma_cross", PARAMS, frozen=frozen_folder, symbol=SYMBOL, max_bars=max_bars, **kw)

    go.state = state
    return go


@pytest.fixture(scope="module")
def expected(frozen_series):
    return replay("ma_cross", PARAMS, frozen_series.head(N)).fills.rows()


def _sql(path, sql, args=()):
    con = sqlite3.connect(path)
    con.execute(sql, args)
    con.commit()
    con.close()


def _garble(path, offset, n=512):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(os.urandom(n))


def test_truncated_trader_file_is_refused_then_reset_state_recovers(run, expected):
    run(40)
    f = run.state / TRADER_FILE
    os.truncate(f, f.stat().st_size // 2)
    with pytest.raises(StateError) as e:
        run()
    msg = str(e.value)
    assert str(f) in msg and ("truncated or garbled" in msg or "integrity" in msg) and "--reset-state" in msg
    res = run(reset_state=True)
    assert res.fills == expected and res.recovery.restored_bar == -1
    aside = list(run.state.glob("aside-*/*/*"))
    assert {p.name for p in aside} >= {TRADER_FILE, VENUE_FILE}  # moved aside, not deleted


@pytest.mark.parametrize("offset", [0, 8192])
def test_garbled_trader_file_is_refused(run, offset):
    run(40)
    f = run.state / TRADER_FILE
    _garble(f, offset)
    with pytest.raises(StateError, match="trader.sqlite") as e:
        run()
    assert "garbled" in str(e.value) or "integrity check failed" in str(e.value)


@pytest.mark.parametrize("where,version", [("state", 99), ("cache", 0)])
def test_snapshot_of_incompatible_version_is_refused(run, where, version):
    run(30)
    f = run.state / TRADER_FILE
    con = sqlite3.connect(f)
    sid, raw = con.execute("SELECT id, state FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
    con.close()
    state = json.loads(raw)
    (state if where == "state" else state["cache"])["version"] = version
    _sql(f, "UPDATE snapshots SET state = ? WHERE id = ?", (json.dumps(state), sid))
    with pytest.raises(StateError) as e:
        run()
    msg = str(e.value)
    assert str(f) in msg and f"snapshot {sid}" in msg and "version" in msg and str(version) in msg


def test_schema_of_another_version_is_refused(run):
    run(10)
    _sql(run.state / TRADER_FILE, "UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StateError, match="schema version '999' is incompatible"):
        run()


def test_garbled_venue_file_is_refused(run, expected):
    run(40)
    f = run.state / VENUE_FILE
    _garble(f, 0)
    with pytest.raises(StateError, match="venue.sqlite"):
        run()
    assert run(reset_state=True).fills == expected


def test_edited_venue_journal_is_refused(run):
    run(40)
    f = run.state / VENUE_FILE
    con = sqlite3.connect(f)
    seq, resp = con.execute("SELECT seq, response FROM requests WHERE response LIKE '%\"fill\"%' LIMIT 1").fetchone()
    con.close()
    _sql(f, "UPDATE requests SET response = ? WHERE seq = ?", (resp.replace('"quantity":', '"quantity":1'), seq))
    with pytest.raises(StateError, match=r"venue.sqlite: journal request \d+ .* replays to a different response"):
        run()


def test_trader_file_rebuilt_from_the_venue(run, expected):
    run(40)
    ids_before = _venue_ids(run.state)
    _garble(run.state / TRADER_FILE, 0)
    with pytest.raises(StateError):
        run()
    res = run(rebuild_from_venue=True)
    assert res.fills == expected and res.recovery.reconciled
    assert res.recovery.venue_ahead_bars == 40  # re-stepped from the venue's journal
    ids = _venue_ids(run.state)
    assert ids[:len(ids_before)] == ids_before and len(set(ids)) == len(ids)


def _venue_ids(state):
    con = sqlite3.connect(state / VENUE_FILE)
    ids = [k for (k,) in con.execute("SELECT key FROM requests WHERE kind = 'submit' ORDER BY seq")]
    con.close()
    return ids


def test_venue_that_lost_its_state_makes_the_trader_refuse(run):
    run(40)
    (run.state / VENUE_FILE).rename(run.state / "venue.sqlite.lost")
    with pytest.raises(ReconciliationError) as e:
        run()
    msg = str(e.value)
    assert "refusing to trade" in msg and "order ids differ" in msg and "rebuild" in msg
    st = status(run.state)
    assert st["bars_processed"] == 40 and "refusing to trade" in st["refused"]
    assert _venue_ids(run.state) == []  # nothing was sent to the fresh venue


def test_venue_position_mismatch_makes_the_trader_refuse(run):
    """The venue's account differs from the local one (here: a fill the trader never saw)."""
    run(40)
    con = sqlite3.connect(run.state / TRADER_FILE)
    sid, raw = con.execute("SELECT id, state FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
    con.close()
    state = json.loads(raw)
    state["portfolio"]["cash"] += 1.0
    _sql(run.state / TRADER_FILE, "UPDATE snapshots SET state = ? WHERE id = ?", (json.dumps(state), sid))
    with pytest.raises(ReconciliationError, match=r"venue cash .* != local cash"):
        run()


def test_another_runs_state_dir_is_refused(run, frozen_folder):
    run(10)
    with pytest.raises(StateError, match=r"holds another paper run \(differs in \['params'\]\)"):
        run_paper(run.state, "ma_cross", {**PARAMS, "slow": 14}, frozen=frozen_folder, symbol=SYMBOL, max_bars=20)
