"""Compiled == ``NUMBA_DISABLE_JIT=1`` on the call shapes the product really makes (issue 18).

Every discovered strategy (single-symbol, stateful, fractional, with exits, portfolio) and every
driver (prefilter sweep, replay, event engine, the paper trader's decisions over the visible
prefix), on inputs cut as the optimizer, the search and the paper trader cut them
(``strategies/jit_cases.py``). numba reads ``NUMBA_DISABLE_JIT`` once, at import: the reference runs
in one subprocess, over a fixed seeded set of cases, while this process computes the compiled side.
The in-process hypothesis properties (a cut window equals a fresh contiguous copy, bit for bit) are
in ``test_windowed_inputs.py``.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from strategies import jit_cases

TESTS = Path(__file__).resolve().parents[1]


def _same(a: Any, b: Any, where: str) -> None:
    """Equal bit for bit (NaN equal to NaN), recursively through dicts, tuples and lists."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, sorted(a), sorted(b) if isinstance(b, dict) else b)
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), (where, a, b)
        for k, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{k}]")
    elif a is None or isinstance(a, str):
        assert a == b, (where, a, b)
    else:
        x, y = np.asarray(a), np.asarray(b)
        assert x.shape == y.shape, (where, x.shape, y.shape)
        assert np.array_equal(x, y, equal_nan=True), (where, np.argwhere(~((x == y) | (x != x) & (y != y)))[:3],
                                                     x, y)


def jit_off_reference(out: Path) -> subprocess.Popen:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": os.pathsep.join(
        [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-m", "strategies.jit_cases", str(out)], cwd=TESTS, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_every_driver_is_the_same_compiled_and_without_the_jit(tmp_path):
    ref_path = tmp_path / "jit_off.pkl"
    proc = jit_off_reference(ref_path)  # runs while this process computes the compiled side
    try:
        got = jit_cases.results()
        _, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-4000:]
    ref = pickle.loads(ref_path.read_bytes())
    assert ref.keys() == got.keys()
    for key in ref:
        _same(got[key], ref[key], key)
    _not_vacuous(got)


# mtf_trend's 4-hour filter closes no bar in jit_cases.N minutes: it is compared above (flat), and its
# paths (higher-timeframe indicators on every driver) are exercised by jit_cases.EXTRA's mtf_fast
LONGER_BINS = {"mtf_trend"}


def _not_vacuous(res: dict[str, dict[str, Any]]) -> None:
    """Every strategy decided something on the cut inputs and every driver ran: the equality above
    is about real decisions and trades, not empty ones."""
    from lq_engine.strategies.registry import list_strategies

    names = sorted({c.strategy for c in jit_cases.cases()} - LONGER_BINS)
    total_busy = 0
    for name in names:
        mine = {k: v for k, v in res.items() if k.startswith(name + "/")}
        # (a refusal, e.g. a pair without a common date in a window, was compared above like any result)
        def held(v: dict, j: int) -> int:
            d = v.get(f"decisions{j}")
            return 0 if isinstance(d, str) or d is None else int(np.count_nonzero(d[0]))

        busy = [k for k, v in mine.items() if held(v, 0) + held(v, 1) > 0]
        assert max(held(v, 0) + held(v, 1) for v in mine.values()) > 10, (name, busy)
        total_busy += len(busy)
        assert any(not isinstance(v[r], str) and v[r][-1]["trade_count"] > 0
                   for v in mine.values() for r in ("replay0", "replay1") if r in v), name
        assert sum(not isinstance(v.get("paper0_90", ""), str) for v in mine.values()) >= 2, name  # the paper path ran
    assert total_busy >= 2 * len(names)  # most strategies decide on most cuts
    paid = [v["replay_perp"][-1] for v in res.values() if not isinstance(v.get("replay_perp", ""), str)]
    singles = set(list_strategies(portfolio=False)) - LONGER_BINS
    assert sum(np.count_nonzero(x) > 0 for x in paid) >= len(singles)  # funding booked
