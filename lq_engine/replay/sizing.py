"""Position sizing: what the strategy's target turns into at the open where it executes.

One compiled function, called by the replay loop (numba) and by the event engine (Python), so both
send the same orders. The rule (documented in README terms):

- A target (-1, 0, +1, "fully invested") decided at bar i's close executes at bar i+1's open; the
  order is sized there, from the equity marked at that open ``E = cash + units * open`` (the open
  is known when a market-on-open order is sent; nothing later is used).
- ``held`` is the position the account will have once working exit remainders fill
  (``units + pending``). If the target is flat or on the other side, a *close* order of ``|held|``
  units goes first; if the target is not flat and not already on that side, an *open* order follows.
  A reversal is therefore two fills, close then open (the close cancels the old bracket).
- Open size, basis ``notional``: ``units = |target| * E / P`` with P the taker fill price of that
  open (fees are paid on notional on top, so cash may dip below zero by the fee).
- Open size, basis ``equity`` (the prefilter kernel's arithmetic, ``ExecutionConfig.simplified()``):
  with ``c = fee + slippage`` and ``d = |target - sign(held)|``, the trade costs ``c * d * E``
  (close leg ``c * |sign(held)| * E``, open leg ``c * |target| * E``, each fixed on its order; when
  ``E <= 0``, a short that lost more than its stake, the close leg pays ``c * |held| * open``) and
  ``units = |target| * E * (1 - c * d) / open``; fills at the raw open. This is exactly the
  prefilter's ``equity *= (1 - cost * |position change|)`` followed by ``target * equity`` invested.
- Brackets, as fractions of the open leg's reference price P (raw open under ``equity``):
  stop ``P * (1 - dir * stop_loss)``, target ``P * (1 + dir * take_profit)``, trailing distance
  ``P * trailing``; NaN fractions leave the leg out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit

from lq_engine.execution.fillmath import PY as FILLMATH_PY
from lq_engine.execution.fillmath import market_fill_price
from lq_engine.execution.twins import python_twins


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
                raise ValueError(f"BracketSpec.{name} must be a fraction in (0, 1) or None, got {v!r}")

    def fractions(self) -> tuple[float, float, float]:
        return tuple(math.nan if v is None else float(v) for v in (self.stop_loss, self.take_profit, self.trailing))

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.stop_loss, self.take_profit, self.trailing))


NO_BRACKETS = BracketSpec()


@njit(cache=True)
def _sign(x: float) -> int:
    if x > 0.0:
        return 1
    if x < 0.0:
        return -1
    return 0


@njit(cache=True)
def plan_orders(
    cash, units, pending, target, open_, prev_high, prev_low, prev_close,
    basis, cost_rate, spread_bps, slippage_bps, slippage_vol_k, sl_frac, tp_frac, trail_frac,
):
    """Orders for moving to ``target`` at this open.

    Returns (close_qty, close_side, close_fee, open_qty, open_side, open_fee, stop, take_profit,
    trailing_distance); a quantity of 0.0 means no such order, fees are NaN under ``notional``.
    """
    held = units + pending
    h = _sign(held)
    if units == 0.0:
        equity = cash
    else:
        equity = cash + units * open_
    close_qty = 0.0
    close_side = 0
    close_fee = math.nan
    if h != 0 and h != target:
        close_qty = abs(held)
        close_side = -h
        if basis == 1:
            if equity > 0.0:
                close_fee = cost_rate * abs(h) * equity
            else:  # a short that lost more than its stake: the fee is on the traded notional, never a rebate
                close_fee = cost_rate * abs(held) * open_
    open_qty = 0.0
    open_fee = math.nan
    stop = math.nan
    take = math.nan
    trail = math.nan
    if target != 0 and h != target and equity > 0.0:
        if basis == 1:
            d = abs(target - h)
            ref = open_
            open_qty = abs(target) * equity * (1.0 - cost_rate * d) / open_
            open_fee = cost_rate * abs(target) * equity
        else:
            ref = market_fill_price(open_, target, spread_bps, slippage_bps, slippage_vol_k, prev_high, prev_low, prev_close)
            open_qty = abs(target) * equity / ref
        if not (open_qty > 0.0 and math.isfinite(open_qty)):
            open_qty = 0.0
        if sl_frac == sl_frac:
            stop = ref * (1.0 - target * sl_frac)
        if tp_frac == tp_frac:
            take = ref * (1.0 + target * tp_frac)
        if trail_frac == trail_frac:
            trail = ref * trail_frac
    return close_qty, close_side, close_fee, open_qty, target, open_fee, stop, take, trail


# The event engine sizes from Python: the pure-Python twin (bit-identical, no numba dispatch).
plan_orders_py = python_twins(globals(), ("_sign", "plan_orders"),
                              {"market_fill_price": FILLMATH_PY.market_fill_price})["plan_orders"]
