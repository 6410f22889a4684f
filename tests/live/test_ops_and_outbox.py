"""status(), record_to_catalog() and the durable outbox's protocol."""

from __future__ import annotations

import duckdb
import pytest

from lq_engine.core.outbox import IntentStatus, OrderIntent, OutboxError
from lq_engine.data.paths import DataPaths
from lq_engine.live import record_to_catalog, status
from lq_engine.live.errors import StateError
from lq_engine.live.run import run_paper
from lq_engine.live.trader_store import SqliteOutbox, open_trader_db

from .conftest import BRACKETS, PARAMS, SYMBOL


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory, frozen_folder):
    state = tmp_path_factory.mktemp("ops") / "st"
    res = run_paper(state, "ma_cross", PARAMS, frozen=frozen_folder, symbol=SYMBOL, max_bars=45, brackets=BRACKETS)
    return state, res


def test_status(paper_run, frozen_series):
    state, res = paper_run
    st = status(state)
    assert st["run_id"] == res.run_id and st["strategy"] == "ma_cross" and st["params"] == PARAMS
    assert st["bars_processed"] == 45 and st["last_bar"] == 44 and st["fills_count"] == len(res.fills)
    assert st["last_event_ts_ns"] == int(frozen_series.ts[44]) and st["last_event_time"].startswith("2024-01-01T00:44")
    assert st["lag_bars"] == 0 and st["seconds_since_last_bar"] >= 0
    assert st["positions"] == ({SYMBOL: res.position} if res.position else {}) and st["cash"] == res.cash
    assert st["outbox_unacknowledged"] == 0 and st["refused"] is None and st["last_snapshot_bar"] == 44
    con = open_trader_db(state)
    open_ids = sorted(r[0] for r in con.execute("SELECT order_id FROM orders WHERE state NOT LIKE '%FILLED\"%' "
                                                "AND state NOT LIKE '%CANCELLED%'"))
    con.close()
    assert sorted(o["order_id"] for o in st["open_orders"]) == open_ids


def test_status_of_a_missing_state_dir(tmp_path):
    with pytest.raises(StateError, match="no paper-trading state here"):
        status(tmp_path / "nothing")


def test_record_to_catalog(paper_run, tmp_path):
    state, res = paper_run
    paths = DataPaths(tmp_path / "data")
    row = record_to_catalog(paths, state)
    record_to_catalog(paths, state)  # idempotent per run id
    assert row["run_id"] == res.run_id and row["fills"] == len(res.fills) and row["bars"] == 45
    con = duckdb.connect(str(paths.catalog), read_only=True)
    try:
        assert con.execute("SELECT count(*), max(strategy), max(final_equity) FROM paper_runs").fetchone() == \
            (1, "ma_cross", res.equity)
        fills = con.execute("SELECT ts, side, quantity, price, fee, reason FROM paper_fills "
                            "ORDER BY fill_seq").fetchall()
        assert [tuple(f) for f in fills] == res.fills
        assert con.execute("SELECT count(*) FROM paper_equity WHERE run_id = ?", [res.run_id]).fetchone()[0] == 45
    finally:
        con.close()


def _intent(cid: str, qty: float = 1.0) -> OrderIntent:
    return OrderIntent(cid, SYMBOL, 1, qty, created_ns=5, details={"fixed_fee": float("nan")})


def test_sqlite_outbox_protocol(tmp_path):
    con = open_trader_db(tmp_path)
    ob = SqliteOutbox(con)
    assert ob.add_intent(_intent("a")) and ob.add_intent(_intent("b"))
    assert not ob.add_intent(_intent("a"))  # same intent again (NaN detail included): a no-op
    with pytest.raises(OutboxError, match="already holds a different intent"):
        ob.add_intent(_intent("a", qty=2.0))
    ob.mark_sent("a", 10)
    ob.mark_acknowledged("a", 11, "a")
    ob.mark_sent("a", 12)  # a late re-send of an acknowledged intent changes nothing
    assert [(r.intent.client_order_id, r.status) for r in ob.pending()] == [("b", IntentStatus.PENDING)]
    a = ob.get("a")
    assert (a.status, a.sent_ns, a.acknowledged_ns, a.send_attempts) == (IntentStatus.ACKNOWLEDGED, 10, 11, 1)
    with pytest.raises(OutboxError, match="unknown client order id"):
        ob.mark_sent("zz", 1)
    con.close()
    ob2 = SqliteOutbox(open_trader_db(tmp_path))  # durable across connections
    assert [r.intent.client_order_id for r in ob2.all()] == ["a", "b"] and ob2.get("b").status is IntentStatus.PENDING
