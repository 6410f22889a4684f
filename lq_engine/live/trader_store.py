"""The trader's SQLite file: outbox, orders, fills, per-bar results, snapshots and the run config."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from lq_engine.core.outbox import IntentRecord, IntentStatus, OrderIntent, OutboxError
from lq_engine.live.sqlite_store import get_meta, open_db, transaction
from lq_engine.live.wire import dumps, intent_from_dict, intent_to_dict

KIND = "lq-paper-trader"
SCHEMA_VERSION = 3  # 3: feed_bars (the bars a streaming decider saw), bars hold the decided exits;
# 2: fills name their symbol, bars hold positions (and a portfolio's weights) as JSON
TRADER_FILE = "trader.sqlite"
VENUE_FILE = "venue.sqlite"
SNAPSHOTS_KEPT = 3

DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    pos INTEGER PRIMARY KEY, client_order_id TEXT NOT NULL UNIQUE, intent TEXT NOT NULL, status TEXT NOT NULL,
    sent_ns INTEGER, acknowledged_ns INTEGER, venue_order_id TEXT, send_attempts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (
    fill_seq INTEGER PRIMARY KEY, bar INTEGER NOT NULL, ts INTEGER NOT NULL, order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side INTEGER NOT NULL, quantity REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL,
    liquidity TEXT NOT NULL, reason TEXT NOT NULL, cash REAL NOT NULL, position REAL NOT NULL);
CREATE TABLE IF NOT EXISTS bars (
    bar INTEGER PRIMARY KEY, ts INTEGER NOT NULL, equity REAL NOT NULL, target REAL NOT NULL, cash REAL NOT NULL,
    position REAL NOT NULL, wall_ns INTEGER NOT NULL, feed_latest INTEGER NOT NULL, positions TEXT NOT NULL,
    weights TEXT, exits TEXT);
CREATE TABLE IF NOT EXISTS feed_bars (
    bar INTEGER NOT NULL, symbol TEXT NOT NULL, ts INTEGER NOT NULL, open REAL NOT NULL, high REAL NOT NULL,
    low REAL NOT NULL, close REAL NOT NULL, volume REAL NOT NULL, PRIMARY KEY (bar, symbol));
CREATE TABLE IF NOT EXISTS snapshots (id INTEGER PRIMARY KEY, bar INTEGER NOT NULL, ts INTEGER NOT NULL,
    state TEXT NOT NULL);
"""


def open_trader_db(state_dir: Path) -> sqlite3.Connection:
    return open_db(Path(state_dir) / TRADER_FILE, KIND, SCHEMA_VERSION, DDL)


class SqliteOutbox:
    """The durable ``Outbox``: every change is its own committed transaction."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def add_intent(self, intent: OrderIntent) -> bool:
        body = dumps(intent_to_dict(intent))
        row = self._con.execute("SELECT intent FROM outbox WHERE client_order_id = ?",
                                (intent.client_order_id,)).fetchone()
        if row is not None:
            if row[0] != body:
                raise OutboxError(f"client order id {intent.client_order_id!r} already holds a different intent "
                                  f"({row[0]}); ids must not be reused")
            return False
        with transaction(self._con):
            self._con.execute("INSERT INTO outbox (client_order_id, intent, status) VALUES (?, ?, ?)",
                              (intent.client_order_id, body, IntentStatus.PENDING.value))
        return True

    def mark_sent(self, client_order_id: str, ts_ns: int) -> None:
        self.get(client_order_id)
        with transaction(self._con):
            self._con.execute("UPDATE outbox SET status = ?, sent_ns = ?, send_attempts = send_attempts + 1 "
                              "WHERE client_order_id = ? AND status != ?",
                              (IntentStatus.SENT.value, ts_ns, client_order_id, IntentStatus.ACKNOWLEDGED.value))

    def mark_acknowledged(self, client_order_id: str, ts_ns: int, venue_order_id: str | None = None) -> None:
        self.get(client_order_id)
        with transaction(self._con):
            self._con.execute("UPDATE outbox SET status = ?, acknowledged_ns = ?, venue_order_id = ? "
                              "WHERE client_order_id = ? AND status != ?",
                              (IntentStatus.ACKNOWLEDGED.value, ts_ns, venue_order_id, client_order_id,
                               IntentStatus.ACKNOWLEDGED.value))

    def pending(self) -> list[IntentRecord]:
        return self._records("WHERE status != ?", (IntentStatus.ACKNOWLEDGED.value,))

    def all(self) -> list[IntentRecord]:
        return self._records("", ())

    def get(self, client_order_id: str) -> IntentRecord:
        recs = self._records("WHERE client_order_id = ?", (client_order_id,))
        if not recs:
            raise OutboxError(f"unknown client order id {client_order_id!r}")
        return recs[0]

    def _records(self, where: str, args: tuple) -> list[IntentRecord]:
        rows = self._con.execute("SELECT intent, status, sent_ns, acknowledged_ns, venue_order_id, send_attempts "
                                 f"FROM outbox {where} ORDER BY pos", args).fetchall()
        return [IntentRecord(intent_from_dict(json.loads(r[0])), IntentStatus(r[1]), *r[2:]) for r in rows]


def read_config(con: sqlite3.Connection) -> dict[str, Any] | None:
    raw = get_meta(con, "run")
    return None if raw is None else json.loads(raw)


def latest_snapshot(con: sqlite3.Connection) -> tuple[int, int, int, str] | None:
    """(id, bar, ts, state JSON) of the newest snapshot."""
    return con.execute("SELECT id, bar, ts, state FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()


def feed_rows(con: sqlite3.Connection, n: int) -> list[tuple]:
    """(ts, open, high, low, close, volume) of bars 0 .. n-1 of a single-symbol run."""
    return con.execute("SELECT ts, open, high, low, close, volume FROM feed_bars WHERE bar < ? ORDER BY bar",
                       (n,)).fetchall()


def feed_groups(con: sqlite3.Connection, n: int) -> list[tuple[int, list[tuple]]]:
    """(ts, [(symbol, open, high, low, close, volume), ...]) of clock bars 0 .. n-1 of a portfolio run."""
    out: list[tuple[int, list[tuple]]] = []
    last = -1
    for bar, ts, *row in con.execute("SELECT bar, ts, symbol, open, high, low, close, volume FROM feed_bars "
                                     "WHERE bar < ? ORDER BY bar, symbol", (n,)):
        if bar != last:
            out.append((ts, []))
            last = bar
        out[-1][1].append(tuple(row))
    return out
