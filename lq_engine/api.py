"""The strategy authoring API: ``import lq_engine.api as lq``.

Write one class per file in your project's ``strategies/`` folder (``lq strategy new NAME`` writes
a commented template); every driver runs it: the prefilter sweep, the compiled replay, the event
engine and the paper trader. docs/how-to/own-strategy.md walks through it.

Declarations (in the class body)
    ``lq.Int(low, high, step=1, grid=None, default=None, log=False)``, ``lq.Float(low, high, step=None,
    grid=None, default=None, log=False)``, ``lq.Choice(*values)``, ``lq.Bool()``, ``lq.Side()``:
    parameters (valid range, default grid, search space).
    ``constraints = [lq.less("fast", "slow"), lq.constraint("text", fn)]``.
    ``state = lq.State(entry_bar=-1, peak=0.0)``: numeric fields kept between bars.
Functions
    ``@lq.indicator def name(bars, <params...>)``: one value per bar, from bars up to that bar.
    ``@lq.indicator(timeframe="4h")`` (with ``timeframe = "1m"``, the base bars', in the class body):
    over longer bars resampled from the base bars; ``ind.name[i]`` is the last one closed by bar i's
    close (docs/how-to/multi-timeframe.md).
    ``@lq.decide def decide(i, bars, ind, p, pos, st) -> float``: the target exposure in [-1, 1]
    (compiled by numba). ``pos.target``, ``pos.entry_price``, ``pos.bars_held`` are the strategy's
    own position; ``st.<field>`` its state. The arguments' names are checked, in this order (a
    leading underscore may mark an unused one: ``_pos``). A ``Choice`` of strings reaches ``decide``
    as the value's index, compared by name: ``p.mode == p.MODE_FAST`` (``p.<PARAM>_<VALUE>``).
    ``@lq.exits def exits(i, bars, ind, p, pos, st) -> (stop_loss, take_profit, trailing)``:
    protective orders of an entry, fractions of the entry price (NaN for none).
Portfolio strategies
    ``class MyPortfolio(lq.PortfolioStrategy)`` with ``min_symbols``, ``max_symbols``, ``gross``:
    ``@lq.decide def decide(i, bars, ind, p, pos, st, w)`` sees the universe aligned on one clock
    (``bars.close[s, i]``, ``bars.mask[s, i]``) and writes a weight per symbol into ``w``.
Helpers usable inside ``decide``
    ``lq.sided(target, p.side)``, ``lq.hysteresis(...)``, ``lq.clip(x, low, high)``,
    ``lq.LONG``, ``lq.SHORT``, ``lq.BOTH``; indicators ``lq.ta.sma``, ``lq.ta.ema``, ``lq.ta.rsi``, ...;
    your own helpers called from ``decide`` need ``@lq.jit``.
"""

from lq_engine.authoring import ta
from lq_engine.authoring.declare import (
    Bool, Choice, Float, Int, PortfolioStrategy, Side, State, Strategy, StrategyError, constraint, decide, exits,
    indicator, less, less_equal,
)
from lq_engine.authoring.helpers import BOTH, LONG, SHORT, clip, hysteresis, jit, sided

__all__ = [
    "BOTH", "Bool", "Choice", "Float", "Int", "LONG", "SHORT", "PortfolioStrategy", "Side", "State", "Strategy",
    "StrategyError", "clip", "jit",
    "constraint", "decide", "exits", "hysteresis", "indicator", "less", "less_equal", "sided", "ta",
]
