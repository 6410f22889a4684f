"""Operational views of a paper run: ``status`` and ``record_to_catalog``."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lq_engine.data.paths import DataPaths
from lq_engine.data.results import write_table
from lq_engine.live.divergence import META_KEY as DIVERGENCE_KEY
from lq_engine.live.divergence import ReplayCheck
from lq_engine.live.errors import StateError
from lq_engine.live.sqlite_store import get_meta
from lq_engine.live.trader import hold_state
from lq_engine.live.trader_store import TRADER_FILE, open_trader_db, read_config

# Column types of the paper_* result tables (one lake partition per run_id). Union by name across
# partitions, so a run recorded by an older version (no symbol / positions / weights) reads with nulls.
# ``diverged_at_bar``: the first bar whose paper decision differs from the replay's (lookahead; null
# when none, or not checked: ``replay_check`` is then null too); ``replay_check``: the check's message.
PAPER_RUNS = {"strategy": "String", "params": "String", "symbol": "String", "source": "String",
              "initial_cash": "Float64", "bars": "Int64", "fills": "Int64", "first_ts": "Int64", "last_ts": "Int64",
              "position": "Float64", "cash": "Float64", "final_equity": "Float64", "recorded_at": "Datetime",
              "diverged_at_bar": "Int64", "replay_check": "String"}
PAPER_FILLS = {"fill_seq": "Int64", "bar": "Int64", "ts": "Int64", "order_id": "String", "symbol": "String",
               "side": "Int8", "quantity": "Float64", "price": "Float64", "fee": "Float64", "liquidity": "String",
               "reason": "String", "cash": "Float64", "position": "Float64"}
PAPER_EQUITY = {"bar": "Int64", "ts": "Int64", "equity": "Float64", "target": "Float64", "cash": "Float64",
                "position": "Float64", "positions": "String", "weights": "String"}


def _iso(ts_ns: int | None) -> str | None:
    if ts_ns is None:
        return None
    return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).isoformat()


def _open(state_dir: Path):
    if not (Path(state_dir) / TRADER_FILE).exists():
        raise StateError(f"{Path(state_dir) / TRADER_FILE}: no paper-trading state here")
    return open_trader_db(Path(state_dir))


def status(state_dir: Path) -> dict[str, Any]:
    """Positions, open orders, last event time, lag vs the feed, fill count (safe while it runs: it
    takes no lock, and SQLite's WAL lets it read while the run writes)."""
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
        check = _replay_check(con)
    finally:
        con.close()
    sym = cfg.get("symbol")
    out: dict[str, Any] = {
        "run_id": run_id, "strategy": cfg.get("strategy"), "params": cfg.get("params"), "symbol": sym,
        "source": cfg.get("source"), "bars_processed": n_bars, "fills_count": n_fills,
        "open_orders": [{k: o[k] for k in ("order_id", "status", "side", "quantity", "filled")} for o in open_orders],
        "outbox_unacknowledged": pending, "last_snapshot_bar": snap[0] if snap else None,
        "refused": refused, "replay_check": check.message() if check else None,
        "diverged_at_bar": check.bar if check else None, "positions": {},
        "initial_cash": cfg.get("initial_cash"), "cash": cfg.get("initial_cash"),
        "equity": cfg.get("initial_cash"),
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


def _replay_check(con) -> ReplayCheck | None:
    raw = get_meta(con, DIVERGENCE_KEY)
    return ReplayCheck.from_json(raw) if raw else None


def record_to_catalog(paths: DataPaths, state_dir: Path) -> dict[str, Any]:
    """Write the run (id, strategy, params, fills, equity) to the lake's paper_* tables, one
    partition per run id (replacing an earlier record of the same run). Returns the paper_runs row.

    Holds the state folder's lock (``hold_state``): a run still in progress in another process is
    refused rather than recorded half done. ``status`` takes no lock: it reads while a run writes."""
    with hold_state(state_dir):
        return _record(paths, state_dir)


def _record(paths: DataPaths, state_dir: Path) -> dict[str, Any]:
    import polars as pl  # lazy: polars must load after kernels.threads.configure_threads


    con = _open(state_dir)
    try:
        cfg = read_config(con)
        if cfg is None:
            raise StateError(f"{Path(state_dir) / TRADER_FILE}: no run recorded yet")
        run_id = get_meta(con, "run_id")
        fills = con.execute("SELECT fill_seq, bar, ts, order_id, symbol, side, quantity, price, fee, liquidity, "
                            "reason, cash, position FROM fills ORDER BY fill_seq").fetchall()
        equity = con.execute("SELECT bar, ts, equity, target, cash, position, positions, weights FROM bars "
                             "ORDER BY bar").fetchall()
        check = _replay_check(con)
    finally:
        con.close()
    last = equity[-1] if equity else None
    row = {"run_id": run_id, "strategy": cfg["strategy"], "params": json.dumps(cfg["params"], sort_keys=True),
           "symbol": cfg["symbol"], "source": cfg["source"], "initial_cash": cfg["initial_cash"], "bars": len(equity),
           "fills": len(fills), "first_ts": equity[0][1] if equity else None, "last_ts": last[1] if last else None,
           "position": last[5] if last else 0.0, "cash": last[4] if last else cfg["initial_cash"],
           "final_equity": last[2] if last else cfg["initial_cash"], "recorded_at": datetime.now(timezone.utc),
           "diverged_at_bar": check.bar if check else None, "replay_check": check.message() if check else None}

    def frame(rows: list, types: dict[str, str]) -> pl.DataFrame:
        schema = {c: pl.Datetime("us", "UTC") if t == "Datetime" else getattr(pl, t) for c, t in types.items()}
        return pl.DataFrame(rows, schema=schema, orient="row")

    where = {"run_id": run_id}
    # fills and equity first: a reader that sees the run row sees its details
    write_table(paths, "paper_fills", frame(fills, PAPER_FILLS), where)
    write_table(paths, "paper_equity", frame(equity, PAPER_EQUITY), where)
    write_table(paths, "paper_runs", frame([[row[c] for c in PAPER_RUNS]], PAPER_RUNS), where)
    return row
