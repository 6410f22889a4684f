"""The fill arithmetic, once, compiled: the replay loop and the Python venue call these same functions.

Everything that produces a price, a quantity, a fee, a cash or an equity number is here, as
scalar ``@njit(cache=True)`` functions without fastmath, so the compiled replay (calling them from
its numba loop) and the event engine (calling them from Python) get bit-identical floats.
Conventions: ``side``/``direction`` is +1 (buy / long) or -1 (sell / short); a missing price
level is NaN; ``liquidity_cap`` is a share of bar volume, ``inf`` for no cap.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from numba import njit

from lq_engine.execution.twins import python_twins

TRIGGER_NONE = 0
TRIGGER_STOP = 1
TRIGGER_TAKE_PROFIT = 2
TRIGGER_TRAILING_STOP = 3


@njit(cache=True)
def volatility_fraction(prev_high: float, prev_low: float, prev_close: float) -> float:
    """(high - low) / close of the last completed bar before the fill bar; 0.0 if there is none."""
    if not (prev_close > 0.0):
        return 0.0
    return (prev_high - prev_low) / prev_close


@njit(cache=True)
def adverse_fraction(spread_bps: float, slippage_bps: float, slippage_vol_k: float, vol_fraction: float) -> float:
    """Price fraction a taker gives up: half the spread + fixed slippage + k * volatility fraction."""
    return spread_bps * 0.5e-4 + slippage_bps * 1e-4 + slippage_vol_k * vol_fraction


@njit(cache=True)
def taker_fill_price(reference: float, side: int, adverse: float) -> float:
    """A buy pays ``reference * (1 + adverse)``, a sell receives ``reference * (1 - adverse)``."""
    return reference * (1.0 + side * adverse)


@njit(cache=True)
def market_fill_price(
    reference: float,
    side: int,
    spread_bps: float,
    slippage_bps: float,
    slippage_vol_k: float,
    prev_high: float,
    prev_low: float,
    prev_close: float,
) -> float:
    """Taker fill price at ``reference`` (the bar open, or a triggered stop's level)."""
    vol = volatility_fraction(prev_high, prev_low, prev_close)
    return taker_fill_price(reference, side, adverse_fraction(spread_bps, slippage_bps, slippage_vol_k, vol))


@njit(cache=True)
def market_order_fill(
    basis: int,
    open_: float,
    side: int,
    quantity: float,
    order_quantity: float,
    fixed_fee: float,
    fee_taker: float,
    spread_bps: float,
    slippage_bps: float,
    slippage_vol_k: float,
    prev_high: float,
    prev_low: float,
    prev_close: float,
) -> tuple[float, float]:
    """(price, fee) of ``quantity`` of a strategy market order filled at the bar open.

    basis 0 (notional): taker price with spread/slippage/volatility, fee on notional. basis 1
    (equity, the prefilter's arithmetic): the raw open, and the order's ``fixed_fee`` pro rata.
    """
    if basis == 1:
        return open_, fixed_fee * (quantity / order_quantity)
    price = market_fill_price(open_, side, spread_bps, slippage_bps, slippage_vol_k, prev_high, prev_low, prev_close)
    return price, quantity * price * fee_taker


@njit(cache=True)
def fill_fee(quantity: float, price: float, rate: float) -> float:
    return quantity * price * rate


@njit(cache=True)
def liquidity_budget(bar_volume: float, liquidity_cap: float) -> float:
    """Quantity one bar can fill in total for one symbol (``inf`` when uncapped)."""
    if math.isinf(liquidity_cap):
        return math.inf
    return liquidity_cap * bar_volume


@njit(cache=True)
def capped_quantity(remaining: float, budget_left: float) -> float:
    """How much of ``remaining`` fills given what is left of the bar's budget (never negative)."""
    if budget_left <= 0.0:
        return 0.0
    if remaining < budget_left:
        return remaining
    return budget_left


@njit(cache=True)
def bracket_trigger(
    direction: int,
    open_: float,
    high: float,
    low: float,
    stop: float,
    take_profit: float,
    trailing_stop: float,
) -> tuple[int, float]:
    """Which exit of a position triggers in this bar and at what raw price (before costs).

    ``trailing_stop`` is the level computed from extremes of *earlier* bars (see trailing_update).
    The effective stop is the tighter of stop and trailing stop (a tie counts as the fixed stop).
    Rules, in order: the open at/through the stop -> stop at the open (gap); the open at/through the
    target -> target at the open (gap in our favour); the bar reaching the stop -> stop at its level
    (also when the target is inside the same bar: conservative); the bar reaching the target ->
    target at its level. Returns (TRIGGER_*, price), price NaN when nothing triggers.
    """
    eff = stop
    code = TRIGGER_STOP
    if trailing_stop == trailing_stop:
        if eff != eff or (direction > 0 and trailing_stop > eff) or (direction < 0 and trailing_stop < eff):
            eff = trailing_stop
            code = TRIGGER_TRAILING_STOP
    has_stop = eff == eff
    has_target = take_profit == take_profit
    if direction > 0:
        if has_stop and open_ <= eff:
            return code, open_
        if has_target and open_ >= take_profit:
            return TRIGGER_TAKE_PROFIT, open_
        if has_stop and low <= eff:
            return code, eff
        if has_target and high >= take_profit:
            return TRIGGER_TAKE_PROFIT, take_profit
    else:
        if has_stop and open_ >= eff:
            return code, open_
        if has_target and open_ <= take_profit:
            return TRIGGER_TAKE_PROFIT, open_
        if has_stop and high >= eff:
            return code, eff
        if has_target and low <= take_profit:
            return TRIGGER_TAKE_PROFIT, take_profit
    return TRIGGER_NONE, math.nan


@njit(cache=True)
def trailing_update(direction: int, extreme: float, high: float, low: float, distance: float) -> tuple[float, float]:
    """Fold one finished bar into the favourable extreme; return (extreme, trailing stop level)."""
    if direction > 0:
        if high > extreme:
            extreme = high
        return extreme, extreme - distance
    if low < extreme:
        extreme = low
    return extreme, extreme + distance


DUST = 1e-12  # a reducing fill within this share of the position closes it (no 1e-14 leftovers)


@njit(cache=True)
def apply_fill(
    cash: float, position: float, avg_price: float, side: int, quantity: float, price: float, fee: float
) -> tuple[float, float, float, float]:
    """Book a fill: returns (cash, position, avg_price, realized_pnl before fees).

    ``avg_price`` is the average entry price of the open position (NaN when flat); a fill that
    crosses zero realizes the closed part and opens the rest at ``price``. A reducing fill that
    leaves less than ``DUST`` of the position (the rounding residue of summed partial fills) closes it.
    """
    new_cash = cash - side * quantity * price - fee
    signed = side * quantity
    new_position = position + signed
    realized = 0.0
    if position == 0.0 or (position > 0.0) == (side > 0):
        held = abs(position)
        if position == 0.0:
            new_avg = price
        else:
            new_avg = (held * avg_price + quantity * price) / (held + quantity)
    else:
        held = abs(position)
        if quantity < held and held - quantity <= DUST * held:  # a remainder's rounding residue: all of it
            quantity = held
        closed = quantity if quantity < held else held
        direction = 1.0 if position > 0.0 else -1.0
        realized = closed * (price - avg_price) * direction
        if quantity > held:
            new_avg = price
        elif quantity == held:
            new_avg = math.nan
            new_position = 0.0
        else:
            new_avg = avg_price
    return new_cash, new_position, new_avg, realized


@njit(cache=True)
def mark_to_market(cash: float, position: float, close: float) -> float:
    return cash + position * close


# Pure-Python twins (see twins.py) for the venue and portfolio, which call these one fill at a time
# from Python: no numba dispatch, bit-identical results.
PY = SimpleNamespace(**python_twins(globals(), (
    "volatility_fraction", "adverse_fraction", "taker_fill_price", "market_fill_price", "market_order_fill",
    "fill_fee", "liquidity_budget", "capped_quantity", "bracket_trigger", "trailing_update", "apply_fill",
    "mark_to_market",
)))
