"""End to end (issue 18): the optimization of a portfolio strategy (xs_momentum) and a single-symbol one
(ma_cross) on the bundled us_stocks_daily gives the same winners and figures with and without the JIT
(``optimize/jit_e2e.py``: small grids; the JIT-off side runs in a subprocess, numba reads
``NUMBA_DISABLE_JIT`` at import)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from optimize import jit_e2e

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_optimize_gives_the_same_winners_and_figures_with_and_without_the_jit(tmp_path):
    out = tmp_path / "jit_off.pkl"
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1",
           "PYTHONPATH": os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-m", "optimize.jit_e2e", str(out)], cwd=TESTS, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        compiled = jit_e2e.figures()  # while the reference runs
        _, err = proc.communicate(timeout=1200)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-4000:]
    reference = pickle.loads(out.read_bytes())
    for name in jit_e2e.GRIDS:
        assert compiled[name]["params"] == reference[name]["params"], name
        assert jit_e2e.same(compiled[name], reference[name]), (name, compiled[name], reference[name])
    assert compiled["xs_momentum"]["holdout"]["trades"] > 0 and compiled["ma_cross"]["holdout"]["trades"] > 0
