"""Operational views of a paper run: ``status`` and ``record_to_catalog``."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lq_engine.data.paths import DataPaths
from lq_engine.live.errors import StateError
from lq_engine.live.sqlite_store import get_meta
from lq_engine.live.trader_store import TRADER_FILE, open_trader_db, read_config

PAPER_DDL = """
CREATE TABLE IF NOT EXISTS paper_runs (
    run_id VARCHAR PRIMARY KEY, strategy VARCHAR, params VARCHAR, symbol VARCHAR, source VARCHAR,
    initial_cash DOUBLE, bars BIGINT, fills BIGINT, first_ts BIGINT, last_ts BIGINT, position DOUBLE, cash DOUBLE,
    final_equity DOUBLE, recorded_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS paper_fills (
    run_id VARCHAR, fill_seq BIGINT, bar BIGINT, ts BIGINT, order_id VARCHAR, symbol VARCHAR, side TINYINT,
    quantity DOUBLE, price DOUBLE, fee DOUBLE, liquidity VARCHAR, reason VARCHAR, cash DOUBLE, position DOUBLE);
CREATE TABLE IF NOT EXISTS paper_equity (
    run_id VARCHAR, bar BIGINT, ts BIGINT, equity DOUBLE, target DOUBLE, cash DOUBLE, position DOUBLE,
    positions VARCHAR, weights VARCHAR);
"""
PAPER_SCHEMA_MARK = ("paper_equity", "weights")  # a column the current schema has (older tables are rebuilt)


def _iso(ts_ns: int | None) -> str | None:
    if ts_ns is None:
        return None
    return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).isoformat()


def _open(state_dir: Path):
    if not (Path(state_dir) / TRADER_FILE).exists():
        raise StateError(f"{Path(state_dir) / TRADER_FILE}: no paper-trading state here")
    return open_trader_db(Path(state_dir))


def status(state_dir: Path) -> dict[str, Any]:
    """Positions, open orders, last event time, lag vs the feed, fill count (safe while it runs)."""
    con = _open(state_dir)
    try:
        cfg = read_config(con) or {}
        last = con.execute("SELECT bar, ts, cash, positions, equity, wall_ns, feed_latest FROM bars "
                           "ORDER BY bar DESC LIMIT 1").fetchone()
        n_bars = con.execute("SELECT count(*) FROM bars").fetchone()[0]
        n_fills = con.execute("SELECT count(*) FROM fills").fetchone()[0]
        open_orders = [json.loads(r[0]) for r in con.execute("SELECT state FROM orders ORDER BY order_id")]
        open_orders = [o for o in open_orders if o["status"] not in ("FILLED", "CANCELLED", "REJECTED", "EXPIRED")]
        pending = con.execute("SELECT count(*) FROM outbox WHERE status != 'ACKNOWLEDGED'").fetchone()[0]
        snap = con.execute("SELECT bar FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
        refused = get_meta(con, "refused")
        run_id = get_meta(con, "run_id")
    finally:
        con.close()
    sym = cfg.get("symbol")
    out: dict[str, Any] = {
        "run_id": run_id, "strategy": cfg.get("strategy"), "params": cfg.get("params"), "symbol": sym,
        "source": cfg.get("source"), "bars_processed": n_bars, "fills_count": n_fills,
        "open_orders": [{k: o[k] for k in ("order_id", "status", "side", "quantity", "filled")} for o in open_orders],
        "outbox_unacknowledged": pending, "last_snapshot_bar": snap[0] if snap else None,
        "refused": refused, "positions": {}, "cash": cfg.get("initial_cash"), "equity": cfg.get("initial_cash"),
        "last_bar": None, "last_event_ts_ns": None, "last_event_time": None, "lag_bars": None,
        "seconds_since_last_bar": None,
    }
    if last is not None:
        bar, ts, cash, positions, eq, wall, feed_latest = last
        out.update(positions={s: v for s, v in json.loads(positions).items() if v != 0.0}, cash=cash, equity=eq,
                   last_bar=bar,
                   last_event_ts_ns=ts, last_event_time=_iso(ts), lag_bars=max(0, feed_latest - bar),
                   seconds_since_last_bar=(time.time_ns() - wall) / 1e9)
    return out


def record_to_catalog(paths: DataPaths, state_dir: Path) -> dict[str, Any]:
    """Write the run (id, strategy, params, fills, equity) to the catalog's paper_* tables (replacing
    an earlier record of the same run id). Returns the paper_runs row."""
    import pyarrow as pa

    from lq_engine.data.catalog import catalog_writer

    con = _open(state_dir)
    try:
        cfg = read_config(con)
        if cfg is None:
            raise StateError(f"{Path(state_dir) / TRADER_FILE}: no run recorded yet")
        run_id = get_meta(con, "run_id")
        fills = con.execute("SELECT fill_seq, bar, ts, order_id, symbol, side, quantity, price, fee, liquidity, reason, "
                            "cash, position FROM fills ORDER BY fill_seq").fetchall()
        equity = con.execute("SELECT bar, ts, equity, target, cash, position, positions, weights FROM bars "
                             "ORDER BY bar").fetchall()
    finally:
        con.close()
    fill_cols = ("fill_seq", "bar", "ts", "order_id", "symbol", "side", "quantity", "price", "fee", "liquidity",
                 "reason", "cash", "position")
    eq_cols = ("bar", "ts", "equity", "target", "cash", "position", "positions", "weights")
    fills_t = pa.table({"run_id": [run_id] * len(fills), **{c: [r[i] for r in fills] for i, c in enumerate(fill_cols)}})
    eq_t = pa.table({"run_id": [run_id] * len(equity), **{c: [r[i] for r in equity] for i, c in enumerate(eq_cols)}})
    last = equity[-1] if equity else None
    row = {"run_id": run_id, "strategy": cfg["strategy"], "params": json.dumps(cfg["params"], sort_keys=True),
           "symbol": cfg["symbol"], "source": cfg["source"], "initial_cash": cfg["initial_cash"], "bars": len(equity),
           "fills": len(fills), "first_ts": equity[0][1] if equity else None, "last_ts": last[1] if last else None,
           "position": last[5] if last else 0.0, "cash": last[4] if last else cfg["initial_cash"],
           "final_equity": last[2] if last else cfg["initial_cash"], "recorded_at": datetime.now(timezone.utc)}
    with catalog_writer(paths) as db:
        table, column = PAPER_SCHEMA_MARK
        have = db.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
                          [table, column]).fetchone()[0]
        old = db.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0]
        if old and not have:  # written by an older version: rebuilt (paper runs are recorded again from their state)
            for t in ("paper_runs", "paper_fills", "paper_equity"):
                db.execute(f"DROP TABLE IF EXISTS {t}")
        db.execute(PAPER_DDL)
        db.execute("BEGIN TRANSACTION")
        for t in ("paper_runs", "paper_fills", "paper_equity"):
            db.execute(f"DELETE FROM {t} WHERE run_id = ?", [run_id])
        db.execute("INSERT INTO paper_runs VALUES (" + ", ".join("?" * len(row)) + ")", list(row.values()))
        db.register("_fills", fills_t)
        db.register("_equity", eq_t)
        db.execute("INSERT INTO paper_fills SELECT run_id, fill_seq, bar, ts, order_id, symbol, side, quantity, price, "
                   "fee, liquidity, reason, cash, position FROM _fills")
        db.execute("INSERT INTO paper_equity SELECT run_id, bar, ts, equity, target, cash, position, positions, weights "
                   "FROM _equity")
        db.execute("COMMIT")
        db.unregister("_fills")
        db.unregister("_equity")
    return row
