"""The simulated venue as a separate party: the execution model behind a durable request journal.

Like an exchange, the venue keeps its own state (its own SQLite file) and dedups on the client
order id. Every request (submit, cancel, bar) is journaled together with its response in one
transaction before the response is returned; a repeated request (same key) gets the recorded
response and changes nothing. On open, the journal is replayed into a fresh ``SimulatedVenue``
(the execution model is deterministic), and each regenerated response must equal the recorded
one, or the file is refused. Responses are execution reports: the event plus the order's state
after the request (status, filled, average price, whether it works at the next open).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lq_engine.core.events import BarEvent, FillEvent
from lq_engine.core.outbox import OrderIntent
from lq_engine.core.sequencer import Sequencer
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.portfolio import Portfolio
from lq_engine.execution.venue import SimulatedVenue
from lq_engine.live.errors import RESET_HINT, StateError
from lq_engine.live.sqlite_store import get_meta, open_db, transaction
from lq_engine.live.wire import (config_to_dict, dumps, event_to_dict, intent_from_dict, intent_to_dict,
                                 order_from_intent, order_state)

KIND = "lq-paper-venue"
SCHEMA_VERSION = 1
DDL = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, payload TEXT NOT NULL,
    response TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (
    fill_no INTEGER PRIMARY KEY, request_seq INTEGER NOT NULL, client_order_id TEXT NOT NULL, symbol TEXT NOT NULL,
    ts INTEGER NOT NULL, side INTEGER NOT NULL, quantity REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL,
    liquidity TEXT NOT NULL, reason TEXT NOT NULL);
"""

Report = dict[str, Any]  # {"event": ..., "order": ...}


class VenueRequestError(ValueError):
    pass


class DurableVenue:
    def __init__(self, path: Path, config: ExecutionConfig, initial_cash: float) -> None:
        self.path = Path(path)
        self.config = config
        self.initial_cash = float(initial_cash)
        self._con = open_db(self.path, KIND, SCHEMA_VERSION, DDL)
        want = dumps({"config": config_to_dict(config), "initial_cash": self.initial_cash})
        have = get_meta(self._con, "account")
        if have is None:
            with transaction(self._con):
                self._con.execute("INSERT INTO meta VALUES ('account', ?)", (want,))
        elif have != want:
            self._con.close()
            raise StateError(f"{self.path}: venue account was opened with {have}, this run asks for {want}; "
                             f"{RESET_HINT}")
        self._fresh_model()
        self._replay_journal()

    def close(self) -> None:
        self._con.close()

    # -- requests ------------------------------------------------------------------------------

    def submit(self, intent: OrderIntent, ts_ns: int) -> list[Report]:
        """Accept or reject a market order; a known client order id returns its recorded reports."""
        payload = {"intent": intent_to_dict(intent), "ts": ts_ns}
        return self._request(f"submit:{intent.client_order_id}", "submit", payload)

    def cancel(self, client_order_id: str, ts_ns: int) -> list[Report]:
        return self._request(f"cancel:{client_order_id}", "cancel", {"order_id": client_order_id, "ts": ts_ns})

    def on_bar(self, bar: BarEvent) -> list[Report]:
        """Run the execution model over one closed bar (each bar once; a repeat gets the recorded reports)."""
        payload = {"symbol": bar.symbol, "ts": bar.timestamp_ns, "ohlcv": [bar.open, bar.high, bar.low, bar.close,
                                                                            bar.volume]}
        return self._request(f"bar:{bar.symbol}:{bar.timestamp_ns}", "bar", payload)

    # -- queries -------------------------------------------------------------------------------

    def position(self, symbol: str) -> float:
        return self._account.position(symbol)

    @property
    def cash(self) -> float:
        return self._account.cash

    def account_as_of(self, ts_ns: int | None) -> Portfolio:
        """The account after every fill with ts <= ``ts_ns`` (None: before any fill)."""
        pf = Portfolio(self.initial_cash)
        if ts_ns is None:
            return pf
        for f in self._fills_rows("WHERE ts <= ?", (ts_ns,)):
            pf.apply(f)
        return pf

    def fills(self) -> list[FillEvent]:
        return self._fills_rows("", ())

    def client_order_ids(self) -> list[str]:
        """Client order ids of every submitted order, in arrival order (unique by construction)."""
        return [r[0][len("submit:"):] for r in
                self._con.execute("SELECT key FROM requests WHERE kind = 'submit' ORDER BY seq").fetchall()]

    def open_orders(self) -> list[str]:
        return sorted(o.order_id for o in self._model.open_orders())

    def last_bar_ts(self, symbol: str) -> int | None:
        return self._last_bar.get(symbol)

    # -- internals -----------------------------------------------------------------------------

    def _fresh_model(self) -> None:
        self._model = SimulatedVenue(self.config, Sequencer())
        self._account = Portfolio(self.initial_cash)
        self._last_bar: dict[str, int] = {}

    def _fills_rows(self, where: str, args: tuple) -> list[FillEvent]:
        rows = self._con.execute(
            "SELECT ts, fill_no, client_order_id, symbol, side, quantity, price, fee, liquidity, reason "
            f"FROM fills {where} ORDER BY fill_no", args).fetchall()
        return [FillEvent(*r) for r in rows]

    def _apply(self, kind: str, payload: dict[str, Any]) -> list:
        m = self._model
        if kind in ("submit", "cancel"):
            self._check_not_past(kind, payload)
        if kind == "submit":
            return m.submit(order_from_intent(intent_from_dict(payload["intent"])), payload["ts"])
        if kind == "cancel":
            if payload["order_id"] not in m.orders:
                raise VenueRequestError(f"cancel: unknown client order id {payload['order_id']!r}")
            return m.cancel(payload["order_id"], payload["ts"])
        sym, ts = payload["symbol"], payload["ts"]
        last = self._last_bar.get(sym)
        if last is not None and ts <= last:
            raise VenueRequestError(f"bar {sym} at {ts} is not after the venue's last bar {last}")
        self._last_bar[sym] = ts
        return m.on_bar(BarEvent(ts, 0, sym, *payload["ohlcv"]))

    def _check_not_past(self, kind: str, payload: dict[str, Any]) -> None:
        """An order request belongs before the next bar: its time must be after the last bar seen."""
        if kind == "submit":
            sym = payload["intent"]["symbol"]
        else:
            order = self._model.orders.get(payload["order_id"])
            sym = None if order is None else order.symbol
        last = self._last_bar.get(sym)
        if last is not None and payload["ts"] <= last:
            raise VenueRequestError(f"{kind} at {payload['ts']} is not after the venue's last {sym} bar {last}")

    def _reports(self, events: list) -> list[Report]:
        m = self._model
        working = {o.order_id for sym in {e.symbol for e in events} for o in m.working_orders(sym)}
        return [{"event": event_to_dict(e), "order": order_state(m.orders[e.order_id], e.order_id in working)}
                for e in events]

    def _book(self, events: list) -> list[FillEvent]:
        fills = [e for e in events if isinstance(e, FillEvent)]
        for f in fills:
            self._account.apply(f)
        return fills

    def _request(self, key: str, kind: str, payload: dict[str, Any]) -> list[Report]:
        body = dumps(payload)
        row = self._con.execute("SELECT payload, response FROM requests WHERE key = ?", (key,)).fetchone()
        if row is not None:
            if row[0] != body:
                raise VenueRequestError(f"{key}: already received with a different content ({row[0]}); "
                                        "client order ids must not be reused")
            return json.loads(row[1])
        events = self._apply(kind, payload)
        reports = self._reports(events)
        fills = self._book(events)
        try:
            self._commit(key, kind, body, reports, fills)
        except BaseException:
            self._fresh_model()  # the model ran ahead of the journal: rebuild it from the journal
            self._replay_journal()
            raise
        return reports

    def _commit(self, key: str, kind: str, body: str, reports: list[Report], fills: list[FillEvent]) -> None:
        with transaction(self._con):
            seq = self._con.execute("INSERT INTO requests (key, kind, payload, response) VALUES (?, ?, ?, ?)",
                                    (key, kind, body, dumps(reports))).lastrowid
            self._con.executemany(
                "INSERT INTO fills (request_seq, client_order_id, symbol, ts, side, quantity, price, fee, liquidity, "
                "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(seq, f.order_id, f.symbol, f.timestamp_ns, f.side, f.quantity, f.price, f.fee, f.liquidity,
                  f.reason) for f in fills])

    def _replay_journal(self) -> None:
        rows = self._con.execute("SELECT seq, key, kind, payload, response FROM requests ORDER BY seq").fetchall()
        n_fills = 0
        for seq, key, kind, payload, response in rows:
            try:
                events = self._apply(kind, json.loads(payload))
            except (ValueError, KeyError, TypeError) as e:
                raise StateError(f"{self.path}: journal request {seq} ({key}) does not replay: {e}; "
                                 f"{RESET_HINT}") from None
            if dumps(self._reports(events)) != response:
                raise StateError(f"{self.path}: journal request {seq} ({key}) replays to a different response "
                                 f"than recorded (edited file or different execution model); {RESET_HINT}")
            n_fills += len(self._book(events))
        have = self._con.execute("SELECT count(*) FROM fills").fetchone()[0]
        if have != n_fills:
            raise StateError(f"{self.path}: {have} fill rows but the journal replays to {n_fills}; {RESET_HINT}")
