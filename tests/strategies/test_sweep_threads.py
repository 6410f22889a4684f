"""The prefilter sweep of every discovered strategy (its generated kernel: API, stateful, fractional,
with exits, portfolio) gives bit-identical metrics with one and with two threads."""

import os
import subprocess
import sys

import pytest

_SCRIPT = r"""
import numba
from lq_engine.prefilter.bench import sweep_bars, synthetic_panel
from lq_engine.prefilter.evaluate import Costs, evaluate_grid, evaluate_panel
from lq_engine.strategies import resolve
from lq_engine.strategies.registry import list_strategies

bars = sweep_bars(3_000)
panel = synthetic_panel(6, 1_500, 3, cointegrated=True)
costs = Costs(fee=0.001, slippage=0.0005)
names = list_strategies()
differ = []
for name in names:
    spec = resolve(name, project_grids=False)
    grid = spec.default_grid()[:96]
    runs = []
    for threads in (1, 2, 1, 2):
        numba.set_num_threads(threads)
        if spec.is_portfolio:
            r = evaluate_panel(panel, spec, grid, costs)
        else:
            r = evaluate_grid(bars, spec, grid, costs, backend="numba-api")
        assert r.n_sets == len(grid) >= 1, name
        runs.append(b"".join(r.metrics[k].tobytes() for k in sorted(r.metrics)))
    if len(set(runs)) != 1:
        differ.append(name)
print("strategies", len(names), "differ", differ)
"""


@pytest.mark.slow  # a subprocess sweeping every strategy twice (17 s)
def test_every_strategy_sweep_is_bit_identical_with_one_and_two_threads():
    res = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                         env={**os.environ, "NUMBA_NUM_THREADS": "2"})
    assert res.returncode == 0, res.stderr[-3000:]
    count, differ = res.stdout.split("differ")
    assert int(count.split()[1]) >= 13  # the shipped examples, single-symbol and portfolio
    assert differ.strip() == "[]", res.stdout
