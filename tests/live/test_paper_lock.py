"""One paper run per state folder (issue 20, finding 6: two runs on one folder both exited 0 with
65 fills instead of 108, and the catalog's paper_fills was overwritten).

A run holds an flock on ``<state>/paper.lock`` for its whole life; a second run on the folder is
refused at once, naming the folder and the holder's pid; ``status`` still reads while it runs; the
kernel drops the lock when the holder is SIGKILLed, so the next run needs no cleanup.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lq_engine.data.locks import file_lock
from lq_engine.data.paths import DataPaths
from lq_engine.execution.config import ExecutionConfig
from lq_engine.live import record_to_catalog, status
from lq_engine.live.errors import StateError
from lq_engine.live.run import run_paper
from lq_engine.live.trader import LOCK_FILE, hold_state
from lq_engine.live.trader_store import VENUE_FILE
from lq_engine.live.venue_service import DurableVenue
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT

from .conftest import PARAMS, SYMBOL

N = 110


def _venue_fills(state: Path) -> tuple[list[str], list[tuple]]:
    v = DurableVenue(state / VENUE_FILE, ExecutionConfig(), 100_000.0)
    try:
        return v.client_order_ids(), [(f.timestamp_ns, f.symbol, f.side, f.quantity, f.price, f.fee, f.reason)
                                      for f in v.fills()]
    finally:
        v.close()


@pytest.fixture(scope="module")
def solo(tmp_path_factory, frozen_folder) -> tuple[list, list[str], list[tuple]]:
    """An uninterrupted run alone on its folder: (its fills, the venue's order ids and fills)."""
    state = tmp_path_factory.mktemp("solo")
    res = run_paper(state, "ma_cross", PARAMS, frozen=frozen_folder, symbol=SYMBOL, max_bars=N)
    ids, fills = _venue_fills(state)
    assert len(res.fills) >= 10 and len(fills) == len(res.fills)
    return res.fills, ids, fills


def _cmd(state: Path, frozen: Path, speed: float | None) -> list[str]:
    return [sys.executable, "-m", "lq_engine.live", "--state-dir", str(state), "--frozen", str(frozen),
            "--symbol", SYMBOL, "--strategy", "ma_cross", "--params", json.dumps(PARAMS), "--max-bars", str(N),
            *(["--speed", str(speed)] if speed else [])]


def _wait_for_holder(state: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until ``proc`` holds the state folder (its pid in the lock file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}"
        try:
            if (state / LOCK_FILE).read_text().split()[:1] == [str(proc.pid)]:
                return
        except OSError:  # no lock file yet
            pass
        time.sleep(0.02)
    raise AssertionError(f"pid {proc.pid} did not take the state folder in {timeout:.0f} s")


def _wait_for_bars(state: Path, proc: subprocess.Popen, n: int, timeout: float = 120.0) -> int:
    """Poll ``status`` (no lock: it reads while the run writes) until the run has done ``n`` bars."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}"
        try:
            done = status(state)["bars_processed"]
        except StateError:  # no state file yet
            done = 0
        if done >= n:
            return done
        time.sleep(0.02)
    raise AssertionError(f"the run did not reach bar {n} in {timeout:.0f} s")


def test_a_held_folder_is_refused_naming_the_holder(tmp_path, frozen_folder, solo):
    """In one process: a lock taken by someone else refuses run_paper and record_to_catalog at once;
    status still reads; run_paper's own lock nests with the caller's (the CLI holds it across both)."""
    state = tmp_path / "st"
    run_paper(state, "ma_cross", PARAMS, frozen=frozen_folder, symbol=SYMBOL, max_bars=20)
    assert (state / LOCK_FILE).exists()
    with file_lock(state / LOCK_FILE):  # another open file: another holder, as another process is
        t0 = time.monotonic()
        with pytest.raises(StateError) as e:
            run_paper(state, "ma_cross", PARAMS, frozen=frozen_folder, symbol=SYMBOL, max_bars=N)
        assert time.monotonic() - t0 < 5.0  # refused at once, not after a lock timeout
        msg = str(e.value)
        assert str(state.resolve()) in msg and f"pid {os.getpid()} (alive)" in msg and "another paper run" in msg
        with pytest.raises(StateError, match="another paper run holds"):
            record_to_catalog(DataPaths(tmp_path / "data"), state)
        assert status(state)["bars_processed"] == 20  # the refused run changed nothing
    with hold_state(state):  # reentrant in one process
        res = run_paper(state, "ma_cross", PARAMS, frozen=frozen_folder, symbol=SYMBOL, max_bars=N)
        record_to_catalog(DataPaths(tmp_path / "data"), state)
    assert res.fills == solo[0]


HOLDER = """
import json, sys, time
from pathlib import Path
from lq_engine.live.feeds import ReplayFeed
from lq_engine.live.run import run_paper

state, frozen, gate, symbol, params, n, hold_at = sys.argv[1:8]


class Gated:
    \"\"\"The frozen feed, stopped before bar ``hold_at`` until the file ``gate`` exists.\"\"\"

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def bars(self, start, stop):
        for fb in self.inner.bars(start, stop):
            while fb.index == int(hold_at) and not Path(gate).exists():
                time.sleep(0.01)
            yield fb


feed = Gated(ReplayFeed.from_frozen(Path(frozen), symbol))
r = run_paper(Path(state), "ma_cross", json.loads(params), feed=feed, max_bars=int(n))
print(json.dumps({"bars_processed": r.bars_processed, "fills": len(r.fills)}))
"""


@pytest.mark.slow
def test_second_concurrent_run_is_refused_and_the_first_is_complete(tmp_path, frozen_folder, solo):
    """Two runs on one folder: the second exits 2 at once naming the folder and the first's pid; the
    first's fills equal a solo run's (before the lock both ran, the orders interleaved, fills were lost).
    The first waits at bar 5 until the second has been refused, so the overlap does not depend on speed."""
    state, gate, hold_at = tmp_path / "st", tmp_path / "go", 5
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    first = subprocess.Popen([sys.executable, str(script), str(state), str(frozen_folder), str(gate), SYMBOL,
                              json.dumps(PARAMS), str(N), str(hold_at)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_bars(state, first, hold_at)
        assert (state / LOCK_FILE).read_text().split()[0] == str(first.pid)  # the holder's note
        t0 = time.monotonic()
        second = subprocess.run(_cmd(state, frozen_folder, speed=None), cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=300)
        took = time.monotonic() - t0
        assert second.returncode == 2, f"second run not refused ({second.returncode}): {second.stdout[-500:]}"
        assert "another paper run holds" in second.stderr, second.stderr[-2000:]
        assert str(state.resolve()) in second.stderr and f"pid {first.pid} (alive)" in second.stderr
        assert first.poll() is None and status(state)["bars_processed"] == hold_at  # untouched by the second
        gate.touch()
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == {"bars_processed": N, "fills": len(solo[0])}
    assert _venue_fills(state) == (solo[1], solo[2])  # the same orders and fills as alone, to the bit
    print(f"second run refused in {took:.1f} s (process start included)")


@pytest.mark.slow
def test_a_killed_holder_leaves_no_lock_behind(tmp_path, frozen_folder, solo):
    """SIGKILL the holder at random bars: the next run starts without cleanup (the lock file still
    names the dead pid) and, resumed, ends with a solo run's orders and fills."""
    state = tmp_path / "st"
    rng = random.Random(20)
    at = 0
    for _ in range(2):
        at = rng.randint(at + 1, at + 40)
        p = subprocess.Popen(_cmd(state, frozen_folder, speed=40.0), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_holder(state, p)  # this run holds the folder (the state may already show the bars
            _wait_for_bars(state, p, at)  # of the run killed before: wait for this one's lock first)
            time.sleep(rng.uniform(0.0, 0.05))  # anywhere in the bar, not just after a commit
        finally:
            p.send_signal(signal.SIGKILL)
            p.communicate()
        assert p.returncode == -signal.SIGKILL
        assert (state / LOCK_FILE).read_text().split()[0] == str(p.pid)  # left behind, and harmless
    t0 = time.monotonic()
    with hold_state(state):  # free at once
        assert time.monotonic() - t0 < 1.0
    res = run_paper(state, "ma_cross", PARAMS, frozen=frozen_folder, symbol=SYMBOL, max_bars=N)
    assert res.recovery.restored_bar >= at - 1 and res.bars_processed == N
    assert res.fills == solo[0]
    assert _venue_fills(state) == (solo[1], solo[2])
