"""SIGKILL the paper trader (a real subprocess) at every durability boundary, restart, compare.

After each crash and restart: no order lost, none duplicated (the venue's client order ids equal
an uninterrupted run's, in the same order), fills, positions and cash equal to the last bit. The
matrix runs for a single-symbol strategy with brackets and for a portfolio strategy trading a
three-symbol universe (staggered starts, missing bars, short legs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lq_engine.execution.config import ExecutionConfig
from lq_engine.live.crashpoints import ENV
from lq_engine.live.run import run_paper
from lq_engine.live.trader_store import VENUE_FILE, SqliteOutbox, open_trader_db
from lq_engine.live.venue_service import DurableVenue
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT

from .conftest import BRACKETS, PARAMS, PORTFOLIO_PARAMS, SYMBOL, UNIVERSE

pytestmark = pytest.mark.slow  # 14 cases of two or three paper-trader processes each, ~10 s a case

N = 110


KINDS = {  # strategy run: (arguments, symbols)
    "single": (["--symbol", SYMBOL, "--strategy", "ma_cross", "--params", json.dumps(PARAMS), "--stop-loss",
                str(BRACKETS.stop_loss), "--take-profit", str(BRACKETS.take_profit)], (SYMBOL,)),
    "portfolio": (["--strategy", "xs_momentum", "--params", json.dumps(PORTFOLIO_PARAMS)], UNIVERSE),
}


def _cli(kind: str, state: Path, frozen: Path, snapshot_every: int, crash: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if crash:
        env[ENV] = crash
    cmd = [sys.executable, "-m", "lq_engine.live", "--state-dir", str(state), "--frozen", str(frozen),
           *KINDS[kind][0], "--max-bars", str(N), "--snapshot-every", str(snapshot_every)]
    return subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def _venue(state: Path) -> DurableVenue:
    return DurableVenue(state / VENUE_FILE, ExecutionConfig(), 100_000.0)


@dataclass
class Outcome:
    ids: list[str]
    positions: dict[str, float]
    cash: float
    fills: list


def _outcome(state: Path, symbols: tuple[str, ...]) -> Outcome:
    v = _venue(state)
    try:
        fills = [(f.timestamp_ns, f.symbol, f.side, f.quantity, f.price, f.fee, f.reason) for f in v.fills()]
        return Outcome(v.client_order_ids(), {s: v.position(s) for s in symbols}, v.cash, fills)
    finally:
        v.close()


@pytest.fixture(scope="module")
def baselines(tmp_path_factory, frozen_folder, universe_folder) -> dict[str, Outcome]:
    out = {}
    state = tmp_path_factory.mktemp("baseline")
    res = run_paper(state, "ma_cross", PARAMS, frozen=frozen_folder, symbol=SYMBOL, max_bars=N, brackets=BRACKETS)
    out["single"] = _outcome(state, (SYMBOL,))
    assert len(out["single"].ids) >= 8 and out["single"].cash == res.cash
    assert [f[:2] + f[2:] for f in out["single"].fills] == [(t, SYMBOL, *rest) for t, *rest in res.fills]
    state = tmp_path_factory.mktemp("baseline_portfolio")
    res = run_paper(state, "xs_momentum", PORTFOLIO_PARAMS, frozen=universe_folder, max_bars=N)
    out["portfolio"] = _outcome(state, UNIVERSE)
    assert len(out["portfolio"].ids) >= 8 and out["portfolio"].cash == res.cash
    assert {f[1] for f in out["portfolio"].fills} == set(UNIVERSE) and res.positions.keys() == set(UNIVERSE)
    return out


# (label, crashes in order, snapshot_every); a crash is "<point>:<occurrence>"
CASES = [
    ("a intent committed, not sent", ["intent_committed:3"], 1),
    ("b sent, not acknowledged", ["sent:4"], 1),
    ("c acknowledged, fill not recorded", ["fill_unrecorded:5"], 1),
    ("d during snapshot write", ["snapshot:40"], 1),
    ("e during outbox replay (recovery)", ["intent_committed:6", "recovery_resend:1"], 1),
    ("c with snapshots every 7 bars", ["fill_unrecorded:9"], 7),
    ("b with snapshots every 7 bars", ["sent:7"], 7),
]
ROWS: list[tuple] = []


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("label,crashes,every", CASES, ids=[c[0].split()[0] + str(c[2]) for c in CASES])
def test_crash_point(tmp_path, frozen_folder, universe_folder, baselines, kind, label, crashes, every):
    state = tmp_path / "state"
    folder = frozen_folder if kind == "single" else universe_folder
    symbols = KINDS[kind][1]
    baseline = baselines[kind]
    killed = True
    for crash in crashes:
        p = _cli(kind, state, folder, every, crash)
        killed &= p.returncode == -signal.SIGKILL
        assert p.returncode == -signal.SIGKILL, f"{crash}: expected SIGKILL, got {p.returncode}: {p.stderr[-2000:]}"
        if crash.startswith("intent_committed"):  # the kill left an intent committed and unsent
            con = open_trader_db(state)
            assert [r.status.value for r in SqliteOutbox(con).pending()] == ["PENDING"]
            con.close()
        if crash.startswith("sent"):  # the venue has the order, the ack is not recorded here
            con = open_trader_db(state)
            (pending,) = SqliteOutbox(con).pending()
            con.close()
            assert pending.status.value == "SENT" and pending.intent.client_order_id in _outcome(state, symbols).ids
    done = _cli(kind, state, folder, every, None)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    got = _outcome(state, symbols)
    dupes = len(got.ids) - len(set(got.ids))
    row = (f"{kind}: {label}", killed, summary["reconciled"], f"{len(got.ids)}/{len(baseline.ids)}", dupes,
           got.positions == baseline.positions, got.cash == baseline.cash)
    ROWS.append(row)
    assert summary["bars_processed"] == N and summary["reconciled"]
    if crashes[0].split(":")[0] in ("intent_committed", "sent"):
        assert summary["resent"], "the unacknowledged intent was not re-sent"
    assert dupes == 0
    assert got.ids == baseline.ids  # none lost, none duplicated, same order
    assert got.fills == baseline.fills
    assert got.positions == baseline.positions and got.cash == baseline.cash


@pytest.fixture(scope="module", autouse=True)
def _matrix_table():
    yield
    _print_table()


def _print_table() -> None:
    head = ("crash point", "killed", "recovered", "orders", "dupes", "positions equal", "cash equal")
    widths = [max(len(str(r[i])) for r in [head, *ROWS]) for i in range(len(head))]
    lines = [" | ".join(str(v).ljust(w) for v, w in zip(r, widths)) for r in [head, *ROWS]]
    print("\n" + "\n".join(lines))
