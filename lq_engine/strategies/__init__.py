"""Strategies: declared once, run by three drivers (prefilter kernel, compiled replay, event engine).

Design
------
A strategy (``library.py``) declares a parameter schema (``params.py``: names, types, ranges,
default grid, constraints such as ``fast < slow``, and ``side`` in {long, short, both}) and a
``compile`` function mapping one validated parameter set to a small numeric *rule program*:

- an **indicator bank** (``bank.py``): one 2-D float64 array per series, row 0 zeros, row 1 close,
  then one row per distinct indicator key across the whole grid (994 MA-cross sets share 71 SMA
  rows). Indicators (``indicators.py``) are causal and computed once, in numba, so no backend
  re-implements them;
- a program row: 9 integers (bank row indices) and 5 floats (thresholds, ATR-stop factor).

The rule vocabulary (``rules.py``) is one hysteresis state machine: enter-long / exit-long /
enter-short / exit-short, each ``bank[a] - bank[b] > t`` ("x < t" is stored as ``(b - a) > -t``,
bit-exact), plus an optional ATR trailing stop. MA cross, RSI, Bollinger z-score and Donchian
(separate channels for the long and short side) + ATR stop all compile onto it.
``rules.rule_step`` is the per-bar step (state in, bar index in, target position out): a numba
function shared by the numba sweep kernel, the Python reference (``rule_step.py_func``) and the
replay / event engines (call ``program_step(bank, ip_row, fp_row, i, pos, ext)`` bar by bar from
numba or Python). The C and Rust backends (native/) carry the same step; hypothesis parity tests
(tests/kernels/test_backends.py) keep all four equal, bit for bit among the compiled ones.

Timing: the decision at the close of bar i sees bank columns <= i only; the target fills at the
open of bar i + 1 (tests/strategies/test_rules.py truncates series to prove no lookahead).

Public API
----------
``list_strategies()``, ``get_strategy(name)``, ``default_grid(name)``, ``grid(name, axes)``,
``sampled_grid(name, axes, n, seed)``, ``validate_param_sets(name, sets)``,
``compile_sweep(name, sets, bars) -> Sweep`` and ``Bars``.
"""

from lq_engine.strategies.bank import Bars, IndicatorBank
from lq_engine.strategies.params import ParamError
from lq_engine.strategies.registry import (
    Sweep, UnknownStrategyError, compile_sweep, default_grid, get_strategy, grid, list_strategies,
    sampled_grid, validate_param_sets,
)
from lq_engine.strategies.rules import decide_positions, program_step, rule_step

__all__ = [
    "Bars", "IndicatorBank", "ParamError", "Sweep", "UnknownStrategyError", "compile_sweep", "decide_positions",
    "default_grid", "get_strategy", "grid", "list_strategies", "program_step", "rule_step", "sampled_grid",
    "validate_param_sets",
]
