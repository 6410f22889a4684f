"""The prefilter's simplified fills with fixed units, once (numba, C and Rust repeat these lines).

When the held position changes at bar j's open ``o`` (target decided at close j-1), the account
``(cash, units)`` trades exactly as the replay engine does under ``ExecutionConfig.simplified()``
(``replay.sizing.plan_orders`` with the "equity" cost basis, then ``execution.fillmath.apply_fill``
per leg): equity at the open ``E = cash + units * o``; a close leg (old side, fee ``c * |units| * o``,
the closed notional: never a rebate), then an open leg of ``|target| * (E - close fee - open fee) / o``
units at the raw open (fee ``c * |target| * E``), skipped when ``E <= 0`` (a short that lost
everything opens nothing again). API strategies (fractional targets, resizes) run the same
``plan_orders`` arithmetic in their generated kernels (``strategies.kernel_template``). Units are
then held unchanged until the next change, so equity at any close is ``cash + units * close``: a
long earns close/entry, a short ``2 - close/entry`` of its stake (not a -1x position rebalanced
every bar).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def change_fills(cash, units, held, target, o, cost):
    """(E, cash after the close leg, cash after, units after) for moving from ``held`` (sign of
    ``units``) to ``target`` at open ``o``; units after is 0.0 when no open leg fills."""
    cf = 0.0
    if held == 0:
        e = cash
        cash1 = cash
    else:
        e = cash + units * o
        cf = cost * abs(units) * o
        cash1 = e - cf
    cash2 = cash1
    units2 = 0.0
    if target != 0 and e > 0.0:
        fo = cost * abs(target) * e
        if held != 0:
            q = abs(target) * (e - cf - fo) / o
        else:
            q = abs(target) * (e - fo) / o
        cash2 = cash1 - target * q * o - fo
        units2 = target * q
    return e, cash1, cash2, units2
