"""Issue 21, finding 4, as the user meets it: ``lq strategy check`` on a project whose portfolio
strategy's ``decide`` uses a (symbols x bars) indicator as one series (``if ind.momentum[:, i] > 0``,
an array's truth value) names the file, the line, the bar and the parameter set in every check that
hits it. Before, the lookahead check said "decide or exits raised ValueError: The truth value of an
array ... (run with NUMBA_DISABLE_JIT=1 to see the line ...)", no line, bar or set (the speed check's
parallel sweep named them, except when numba reported the exception as "SystemError: CPUDispatcher(<function
psweep ...>) returned a result with an exception set": ``tests/strategies/test_user_code_errors.py``)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.orchestration.live import BIN
from tests.orchestration.project import bundled_toml, new_project

BROKEN = '''"""Rotation that reads a (symbols x bars) indicator as one series from bar 1500 on (mode 'decide')."""
import numpy as np

import lq_engine.api as lq


class BrokenRotation(lq.PortfolioStrategy):
    min_symbols = 2
    lookback = lq.Int(2, 50, grid=(5, 10))
    mode = lq.Choice("ok", "decide")

    @lq.indicator
    def momentum(bars, lookback):
        return np.vstack([lq.ta.roc(c, lookback) for c in bars.close])

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        if i >= 1500 and p.mode == p.MODE_DECIDE:
            if ind.momentum[:, i] > 0.0:  # the raising line
                w[0] = 0.5
        return True
'''


@pytest.mark.slow  # a real lq process compiling a portfolio strategy (~30 s)
def test_strategy_check_names_file_line_bar_and_set(tmp_path):
    project = new_project(tmp_path, bundled_toml(), {"broken_rotation": BROKEN})
    line = next(k for k, ln in enumerate(BROKEN.splitlines(), 1) if "# the raising line" in ln)
    env = {k: v for k, v in os.environ.items()
           if k not in ("LQ_DATA_DIR", "LQ_DAGSTER_HOME", "DAGSTER_HOME", "LQ_CONFIG")}
    env["LQ_PROJECT"] = str(project)
    r = subprocess.run([str(BIN / "lq"), "strategy", "check", "broken_rotation", "--no-timing"], env=env,
                       cwd=project, capture_output=True, text=True, timeout=600)
    out = r.stdout
    assert r.returncode == 1 and "Traceback" not in r.stderr, (r.returncode, out[-3000:], r.stderr[-3000:])
    failed = {m.group(1): m.group(2) for m in re.finditer(r"^  FAIL  (\w+)\s+(.*)$", out, re.M)}
    assert {"lookahead", "speed"} <= failed.keys(), out  # (the decisions and parity checks' 600 bars end before)
    where = f"{project / 'strategies' / 'broken_rotation.py'}, line {line}: strategy 'broken_rotation': decide raised "
    for check in ("lookahead", "speed"):
        msg = failed[check]
        assert msg.startswith(where + "ValueError: The truth value of an array"), (check, msg)
        assert re.search(r" at bar \d{4} \(\d{4}-\d\d-\d\dT[\d:]+Z\) with parameters \{'lookback': \d+, 'mode': "
                         r"'decide'\}$", msg), (check, msg)
        assert "NUMBA_DISABLE_JIT" not in msg and "SystemError" not in msg, (check, msg)
    assert "    if ind.momentum[:, i] > 0.0:  # the raising line" in out  # the statement, under its check
