"""Strategies: declared once with the public API (``lq_engine.api``), run by every driver.

Design
------
A strategy is one class in one file (``declare``): its parameters (``params``: int, float, choice,
bool; ranges, steps, grids, constraints), its indicators (the author's functions over the bars,
computed once per distinct argument tuple across a grid), its numba-compiled ``decide`` (target
exposure in [-1, 1] at each close, from bars, indicators, its own position and declared state) and
optional ``exits`` (protective orders per entry).

``registry.resolve(name)`` finds it (shipped ``library/``, installed entry points, the project's
``strategies/``) and returns a ``StrategySpec`` (``spec``), the object every run passes on.
``codegen`` generates and compiles its kernels from ``kernel_template``: the decision loop (replay,
event engine, paper trader, lookahead check) and the parallel prefilter sweep; numba caches them on
disk per source hash. Decisions never depend on fills, so all drivers see the same ones.

The shipped four (MA cross, RSI, Bollinger, Donchian + ATR stop) also have a rule-vocabulary
program (``rule_programs``: one hysteresis state machine over an indicator bank, kept out of the
example files), which the C and Rust backends and the numba rule kernel run; tests hold it to the
API decisions.

Public API
----------
``resolve(name)``, ``list_strategies()``, ``default_grid(name)``, ``grid(name, axes)``,
``sampled_grid(name, axes, n, seed)``, ``validate_param_sets(name, sets)``,
``compile_sweep(strategy, sets, bars) -> Sweep``, ``Bars``, ``StrategySpec``, ``Decisions``.
"""

from lq_engine.data.bars import Bars
from lq_engine.authoring.declare import StrategyError
from lq_engine.authoring.params import ParamError
from lq_engine.strategies.registry import (
    UnknownStrategyError, default_grid, grid, list_strategies, resolve, sampled_grid,
    validate_param_sets,
)
from lq_engine.strategies.kernel_types import Decisions
from lq_engine.strategies.spec import StrategySpec
from lq_engine.strategies.sweep import Sweep, compile_sweep

__all__ = [
    "Bars", "Decisions", "ParamError", "StrategyError", "StrategySpec", "Sweep", "UnknownStrategyError",
    "compile_sweep", "default_grid", "grid", "list_strategies", "resolve", "sampled_grid",
    "validate_param_sets",
]
