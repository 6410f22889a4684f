"""``python -m lq_engine.live --state-dir D --frozen F [--symbol S] --strategy N [--params JSON] ...``

Runs ``run_paper`` and prints a JSON summary (the crash tests drive the trader through this).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lq_engine.live.errors import LiveError
from lq_engine.live.run import run_paper
from lq_engine.execution.sizing import BracketSpec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lq_engine.live", description="paper trading with crash-safe state")
    ap.add_argument("--state-dir", type=Path, required=True)
    ap.add_argument("--frozen", type=Path)
    ap.add_argument("--symbol")
    ap.add_argument("--lake-symbol")
    ap.add_argument("--timeframe", default="1m")
    ap.add_argument("--strategy", required=True)
    ap.add_argument("--params", type=json.loads, default=None, help="JSON object of strategy parameters")
    ap.add_argument("--speed", type=float, default=None, help="bars per second of wall time (default: max)")
    ap.add_argument("--max-bars", type=int, default=None)
    ap.add_argument("--snapshot-every", type=int, default=1)
    ap.add_argument("--stop-loss", type=float, default=None)
    ap.add_argument("--take-profit", type=float, default=None)
    ap.add_argument("--trailing", type=float, default=None)
    ap.add_argument("--reset-state", action="store_true")
    ap.add_argument("--rebuild-from-venue", action="store_true")
    a = ap.parse_args(argv)
    try:
        r = run_paper(a.state_dir, a.strategy, a.params, frozen=a.frozen, symbol=a.symbol, lake_symbol=a.lake_symbol,
                      timeframe=a.timeframe, speed=a.speed, max_bars=a.max_bars, snapshot_every=a.snapshot_every,
                      brackets=BracketSpec(a.stop_loss, a.take_profit, a.trailing), reset_state=a.reset_state,
                      rebuild_from_venue=a.rebuild_from_venue)
    except LiveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"run_id": r.run_id, "bars_processed": r.bars_processed, "last_bar": r.last_bar,
                      "position": r.position, "cash": r.cash, "equity": r.equity, "fills": len(r.fills),
                      "restored_bar": r.recovery.restored_bar, "resent": r.recovery.resent,
                      "reconciled": r.recovery.reconciled,
                      "replay_check": r.replay_check.message() if r.replay_check else None,
                      "diverged_at_bar": r.replay_check.bar if r.replay_check else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
