"""Portfolio execution shared by every driver: one cash account, one leg per symbol.

A portfolio strategy decides a target weight per symbol at each clock close (``targets[i, s]``).
At the next clock bar a symbol whose latest weight differs from the one in force rebalances, if it
has a bar there; otherwise its change waits for its next bar (a carried-forward price never trades).
All legs of a clock bar are sized together from the equity at that open, ``E = cash + sum(units *
open)`` over the symbols in order (an absent symbol's "open" is its last close), each with
``sizing.leg_orders``; under the "equity" cost basis every leg's fee (``sizing.leg_fees``) comes off
first, so the weights hold after costs. Sells go before buys (symbols in order within each).

``account`` is the prefilter's simplified version (raw opens, the "equity" basis, no cap), streamed
into the accumulators of ``kernels.metrics``; ``replay.portfolio`` and the portfolio event engine run
the full model with the same functions. A trade is one symbol's round trip (flat to flat); its
return is its PnL net of fees over its entry notional.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lq_engine.execution.fillmath import apply_fill
from lq_engine.kernels.accumulators import close_out
from lq_engine.kernels.backends.numba_backend import dd_bar
from lq_engine.kernels.groups import book, has_groups
from lq_engine.execution.sides import new_side, sign
from lq_engine.execution.sizing import leg_fees, leg_orders

NAN = math.nan


@njit(cache=True)
def open_equity(cash, units, prices):
    """cash + sum of units * price over the symbols holding something, in symbol order."""
    e = cash
    for s in range(len(units)):
        if units[s] != 0.0:
            e = e + units[s] * prices[s]
    return e


@njit(cache=True)
def exposure_held(units, tif):
    """The weight a symbol's position stands for: the target in force while the position is on its
    side, else the position's sign (0 when flat)."""
    if units == 0.0:
        return 0.0
    if (units > 0.0) == (tif > 0.0) and tif != 0.0:
        return tif
    return 1.0 if units > 0.0 else -1.0


@njit(cache=True)
def trade_fill(units_before, units_after, realized, fee, q, price, rt_pnl, rt_base, s):
    """Round-trip bookkeeping of one fill of symbol s; returns the finished trade's return or NaN."""
    if units_before == 0.0:
        rt_pnl[s] = -fee
        rt_base[s] = q * price
        return NAN
    rt_pnl[s] += realized - fee
    if units_after == 0.0:
        return rt_pnl[s] / rt_base[s]
    if sign(units_after) != sign(units_before):  # crossed zero in one fill: a new trip starts at this price
        r = rt_pnl[s] / rt_base[s]
        rt_pnl[s] = 0.0
        rt_base[s] = abs(units_after) * price
        return r
    return NAN


@njit(cache=True)
def account(o, c, mask, rows, row, rebal, fee, slip, acc):
    """Simplified fills of one parameter set's portfolio decisions, its weights given compact (the
    weights decided at close i are ``rows[row[i]]``); writes the N_ACC accumulators."""
    n_sym, n = o.shape
    grouped = has_groups(acc)  # a wide row: also stream per-group sums (``kernels.groups``)
    cost = fee + slip
    cash = 1.0
    units = np.zeros(n_sym)
    avg = np.full(n_sym, NAN)
    tif = np.zeros(n_sym)
    hx = np.zeros(n_sym)
    rt_pnl = np.zeros(n_sym)
    rt_base = np.zeros(n_sym)
    legs = np.empty(n_sym, dtype=np.int64)
    fees_c = np.zeros(n_sym)
    fees_o = np.zeros(n_sym)
    plan = np.empty((n_sym, 6))
    due = np.zeros(n_sym, dtype=np.bool_)  # a requested full rebalance not yet done (no bar since)
    held = np.empty(n_sym, dtype=np.int64)
    n_held = 0
    last_row = 0  # (row 0 is all zeros, as the weights in force at the start)
    waiting = False
    eq = 1.0
    s1 = 0.0
    s2 = 0.0
    sd = 0.0
    tgain = 0.0
    tloss = 0.0
    twin = 0
    peak = 1.0
    trough = 1.0
    last_pk = 0
    maxdd = 0.0
    maxdur = 0
    trades = 0
    exposed = 0
    turnover = 0.0
    for j in range(1, n):
        # the legs that rebalance at this open: a changed weight (or a requested rebalance) and a bar here
        # (a flat symbol asked to stay flat has nothing to do)
        # (nothing to look at while the weights stay the same and no change waits for a symbol's bar)
        m = 0
        everyone = rebal[j - 1]
        rw = row[j - 1]
        if rw != last_row or everyone or waiting:
            last_row = rw
            waiting = False
            for s in range(n_sym):
                if everyone:
                    due[s] = True
                if rows[rw, s] != tif[s] or due[s]:
                    if not mask[s, j]:
                        waiting = True
                        continue
                    due[s] = False
                    if units[s] == 0.0 and rows[rw, s] == 0.0:
                        tif[s] = 0.0
                        continue
                    legs[m] = s
                    m += 1
        if m > 0:
            e_open = cash  # = open_equity(cash, units, o[:, j]): the same sum over the held symbols in order
            for k in range(n_held):
                s = held[k]
                e_open = e_open + units[s] * o[s, j]
            after = e_open
            for k in range(m):
                s = legs[k]
                cf, of = leg_fees(e_open, units[s], rows[rw, s], o[s, j], cost)
                fees_c[s] = cf
                fees_o[s] = of
                after = after - cf - of
            for k in range(m):  # every leg's orders, sized before any of them fills
                s = legs[k]
                cq, cs, cf, oq, osd, of, _, _, _, _ = leg_orders(
                    e_open, after, units[s], rows[rw, s], o[s, j], NAN, NAN, NAN, 1, 0.0, 0.0, 0.0, NAN, NAN,
                    NAN, fees_c[s], fees_o[s])
                plan[k, 0] = cq
                plan[k, 1] = cs
                plan[k, 2] = cf
                plan[k, 3] = oq
                plan[k, 4] = osd
                plan[k, 5] = of
            for side in (-1, 1):  # sells first, then buys
                for k in range(m):
                    s = legs[k]
                    cq, cs, cf, oq, osd, of = plan[k, 0], int(plan[k, 1]), plan[k, 2], plan[k, 3], int(plan[k, 4]), \
                        plan[k, 5]
                    first = cs if cq > 0.0 else osd
                    if first != side or (cq <= 0.0 and oq <= 0.0):
                        continue
                    if cq > 0.0:
                        before = units[s]
                        cash, units[s], avg[s], real = apply_fill(cash, units[s], avg[s], cs, cq, o[s, j], cf)
                        r = trade_fill(before, units[s], real, cf, cq, o[s, j], rt_pnl, rt_base, s)
                        if r == r:
                            if r > 0.0:
                                tgain += r
                                twin += 1
                            elif r < 0.0:
                                tloss -= r
                    if oq > 0.0:
                        before = units[s]
                        cash, units[s], avg[s], real = apply_fill(cash, units[s], avg[s], osd, oq, o[s, j], of)
                        r = trade_fill(before, units[s], real, of, oq, o[s, j], rt_pnl, rt_base, s)
                        if r == r:
                            if r > 0.0:
                                tgain += r
                                twin += 1
                            elif r < 0.0:
                                tloss -= r
            for k in range(m):  # only legs change a position or the weight in force
                s = legs[k]
                tif[s] = rows[rw, s]
                x = exposure_held(units[s], tif[s])
                if x != hx[s]:
                    turnover += abs(x - hx[s])
                    if new_side(x, hx[s]):
                        trades += 1
                    hx[s] = x
            n_held = 0
            for s in range(n_sym):
                if units[s] != 0.0:
                    held[n_held] = s
                    n_held += 1
        # mark at the close (the symbols holding something, in order)
        e = cash
        for k in range(n_held):
            s = held[k]
            e = e + units[s] * c[s, j]
        if e != eq:
            r = e / eq - 1.0
            s1 += r
            s2 += r * r
            down = min(r, 0.0)  # (no branch on the sign: it is a coin flip per bar)
            sd += down * down
            if grouped:
                book(acc, j, r)
            peak, trough, maxdd, last_pk, maxdur = dd_bar(e, j, peak, trough, maxdd, last_pk, maxdur)
        elif e >= peak:  # unchanged at the peak (dd_bar would only move the peak's bar)
            last_pk = j
        if n_held:
            exposed += 1
        eq = e
    for s in range(n_sym):  # trades still open: marked at the last close
        if units[s] != 0.0:
            r = (rt_pnl[s] + units[s] * (c[s, n - 1] - avg[s])) / rt_base[s]
            if r > 0.0:
                tgain += r
                twin += 1
            elif r < 0.0:
                tloss -= r
    close_out(acc, n, eq, s1, s2, sd, tgain, twin, tloss, peak, trough, last_pk, maxdd, maxdur, trades, exposed,
              turnover)
