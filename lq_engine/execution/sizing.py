"""Position sizing: what the strategy's target turns into at the open where it executes.

One compiled function, called by the replay loop (numba), the prefilter's simplified fills and
the event engine (its Python twin), so every driver sends the same orders. The rule:

- A target is the exposure the strategy wants, a float in [-1, 1] (1 = fully invested long, 0.5 =
  half the equity long, -1 = fully short). One decided at bar i's close executes at bar i+1's open;
  the orders are sized there, from the equity marked at that open ``E = cash + units * open``
  (the open is known when a market-on-open order is sent; nothing later is used).
- ``held`` is the position the account will have once working exit remainders fill
  (``units + pending``). A target on the other side, or flat, sends a *close* order of ``|held|``
  units first, then (target not flat) an *open* order: a reversal is two fills, close then open
  (the close cancels the old bracket). A target on the same side as ``held`` sends one *resize*
  order for the difference (buy or sell); the armed bracket stays and follows the new size.
- Basis ``notional`` (a real venue): open ``units = |target| * E / P`` with P the taker fill price
  of that order; a resize targets ``target * E / P`` with P the fill price in the trade's
  direction. Fees are paid on notional on top, so cash may dip below zero by the fee.
- Basis ``equity`` (the prefilter kernel's arithmetic, ``ExecutionConfig.simplified()``): orders
  fill at the raw open and pay a cost fixed at submission, ``c = fee + slippage`` times the
  notional the change moves, ``C = c * |target * E - held * open|`` (close leg ``c * |held| *
  open``, open leg ``c * |target| * E``); the new position is ``target * (E - C) / open`` units, so
  the exposure after costs is exactly the target. No open order and no increase when ``E <= 0``
  (a short that lost more than its stake): such a target only closes.
- Brackets (on an open order only, not on a resize), as fractions of the open order's reference
  price P (raw open under ``equity``): stop ``P * (1 - dir * stop_loss)``, target
  ``P * (1 + dir * take_profit)``, trailing distance ``P * trailing``; NaN fractions leave the leg out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit

from lq_engine.errors import InputError
from lq_engine.execution.fillmath import PY as FILLMATH_PY
from lq_engine.execution.fillmath import market_fill_price
from lq_engine.execution.twins import python_twins
from lq_engine.execution.sides import sign


@dataclass(frozen=True)
class BracketSpec:
    """Exit legs attached to every entry, as fractions of the entry price (None = no such leg)."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing: float | None = None

    def __post_init__(self) -> None:
        for name in ("stop_loss", "take_profit", "trailing"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and 0.0 < v < 1.0):
                raise InputError(f"BracketSpec.{name} must be a fraction in (0, 1) or None, got {v!r}")

    def fractions(self) -> tuple[float, float, float]:
        return tuple(math.nan if v is None else float(v) for v in (self.stop_loss, self.take_profit, self.trailing))

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.stop_loss, self.take_profit, self.trailing))


NO_BRACKETS = BracketSpec()


@njit(cache=True)
def leg_fees(equity, held, target, open_, cost_rate):
    """Basis "equity": (close fee, open fee) of moving one symbol from ``held`` units to ``target``
    exposure at this open (0.0 for a leg that does not exist; a resize's fee is the open fee)."""
    h = sign(held)
    d = sign(target)
    if h != 0 and d == h and equity > 0.0:
        return 0.0, cost_rate * abs(target * equity - held * open_)
    close_fee = 0.0
    open_fee = 0.0
    if h != 0:
        close_fee = cost_rate * abs(held) * open_
    if d != 0 and equity > 0.0:
        open_fee = cost_rate * abs(target) * equity
    return close_fee, open_fee


@njit(cache=True)
def leg_orders(
    equity, after, held, target, open_, prev_high, prev_low, prev_close,
    basis, spread_bps, slippage_bps, slippage_vol_k, sl_frac, tp_frac, trail_frac, close_fee, open_fee,
):
    """The orders of one symbol moving from ``held`` units to ``target`` at this open, given the
    account's equity there and (basis "equity") ``after``, the equity once every leg of this
    rebalance has paid its fees (``leg_fees``): the new position is ``target * after / open``.

    Returns (close_qty, close_side, close_fee, open_qty, open_side, open_fee, stop, take_profit,
    trailing_distance, resize); a quantity of 0.0 means no such order, fees are NaN under
    ``notional``. ``resize`` is True when the "open" order is a same-side resize (no bracket).
    """
    h = sign(held)
    d = sign(target)
    close_qty = 0.0
    close_side = 0
    cf = math.nan
    open_qty = 0.0
    open_side = d
    of = math.nan
    stop = math.nan
    take = math.nan
    trail = math.nan
    resize = False
    if h != 0 and d == h and equity > 0.0:  # same side: one order for the difference
        resize = True
        if basis == 1:
            of = open_fee
            new = target * after / open_
            open_side = sign(new - held)
        else:
            open_side = sign(target * equity - held * open_)
            ref = market_fill_price(open_, open_side, spread_bps, slippage_bps, slippage_vol_k, prev_high, prev_low,
                                    prev_close)
            new = target * equity / ref
            if sign(new - held) != open_side:  # the fill price turned the trade around: nothing to do
                open_side = 0
        open_qty = abs(new - held)
        if open_side == 0 or not (open_qty > 0.0 and math.isfinite(open_qty)):
            open_qty = 0.0
        return close_qty, close_side, cf, open_qty, open_side, of, stop, take, trail, resize
    if h != 0:
        close_qty = abs(held)
        close_side = -h
        if basis == 1:
            cf = close_fee
    if d != 0 and d != h and equity > 0.0:
        if basis == 1:
            ref = open_
            of = open_fee
            open_qty = abs(target) * after / open_
        else:
            ref = market_fill_price(open_, d, spread_bps, slippage_bps, slippage_vol_k, prev_high, prev_low, prev_close)
            open_qty = abs(target) * equity / ref
        if not (open_qty > 0.0 and math.isfinite(open_qty)):
            open_qty = 0.0
        if sl_frac == sl_frac:
            stop = ref * (1.0 - d * sl_frac)
        if tp_frac == tp_frac:
            take = ref * (1.0 + d * tp_frac)
        if trail_frac == trail_frac:
            trail = ref * trail_frac
    return close_qty, close_side, cf, open_qty, open_side, of, stop, take, trail, resize


@njit(cache=True)
def plan_orders(
    cash, units, pending, target, open_, prev_high, prev_low, prev_close,
    basis, cost_rate, spread_bps, slippage_bps, slippage_vol_k, sl_frac, tp_frac, trail_frac,
):
    """Orders for moving one symbol's account to ``target`` (a float in [-1, 1]) at this open: the
    equity is ``cash + units * open`` and this symbol's fees are all the rebalance pays (see
    ``leg_orders`` for the returned tuple)."""
    held = units + pending
    if units == 0.0:
        equity = cash
    else:
        equity = cash + units * open_
    close_fee, open_fee = leg_fees(equity, held, target, open_, cost_rate)
    after = equity - close_fee - open_fee
    return leg_orders(equity, after, held, target, open_, prev_high, prev_low, prev_close, basis, spread_bps,
                      slippage_bps, slippage_vol_k, sl_frac, tp_frac, trail_frac, close_fee, open_fee)


# The event engine sizes from Python: the pure-Python twin (bit-identical, no numba dispatch).
PY = python_twins(globals(), ("sign", "leg_fees", "leg_orders", "plan_orders"),
                  {"market_fill_price": FILLMATH_PY.market_fill_price})
plan_orders_py = PY["plan_orders"]
