"""The prefilter's simplified fills over decided targets, streamed into metric accumulators.

``account(o, hi, lo, c, rets, targets, exits, has_exits, fee, slip, acc, funding)`` executes one parameter set's
decisions (``targets[j]`` decided at close j, float in [-1, 1]) exactly as the replay does under
``ExecutionConfig.simplified()``: at the next open ``sizing.plan_orders`` with the "equity" cost
basis sizes the close/open or resize legs, ``fillmath.apply_fill`` books them at the raw open, an
entry arms the strategy's exits (``exits[j]``: stop-loss, take-profit, trailing fractions), which
``fillmath.bracket_trigger`` checks gap-aware, stop first, filling at the level plus slippage (take
profit at the level), fee on notional. Equity is marked at every close into the accumulators of
``kernels.metrics`` (``ACC_*``), with the exposure held for turnover, trade count and exposure.

It is written once for every API strategy (their generated sweeps call it after their decision
loop) and organised in runs: bars between two target changes with nothing armed are a flat
stretch (only the drawdown clock moves) or a held one: a tight marking loop, or, for a fully
invested long, the close returns' prefix sums (``bank.market_returns``: equal to the equity
returns up to the rounding residue of cash) plus the drawdown four bars at a time. Bit for bit it
makes the replay's fills; its metrics agree with the replay's within ``metrics.STREAMING_RTOL``.

Perpetuals: ``funding`` is the rate per bar of ``execution.funding.funding_per_bar`` (zeros for
spot), booked at the start of each bar by ``execution.funding.apply_funding`` as in the replay; a
held run ends at a bar with funding, which then takes the general path.
"""

from __future__ import annotations

import math

from numba import njit

from lq_engine.execution.fillmath import (
    TRIGGER_NONE, TRIGGER_TAKE_PROFIT, apply_fill, bracket_trigger, fill_fee, taker_fill_price, trailing_update,
)
from lq_engine.execution.funding import apply_funding
from lq_engine.kernels.accumulators import close_out
from lq_engine.kernels.backends.numba_backend import dd_bar
from lq_engine.kernels.groups import book, book_prefix, has_groups
from lq_engine.execution.sides import new_side
from lq_engine.execution.sizing import plan_orders
from lq_engine.kernels.returns import P_D2, P_R, P_R2

NAN = math.nan
FULL = 1e-12  # |cash| below this share of the position's value: a fully invested long (see account)


@njit(cache=True, inline="always")
def _trade_return(r, tgain, twin, tloss):
    if r > 0.0:
        tgain += r
        twin += 1
    elif r < 0.0:
        tloss -= r
    return tgain, twin, tloss


@njit(cache=True)
def account(o, hi, lo, c, rets, targets, exits, has_exits, fee, slip, acc, funding):
    n = c.shape[0]
    grouped = has_groups(acc)  # a wide row: also stream per-group sums (``kernels.groups``)
    cost = fee + slip
    tgt = 0.0  # the target in force (decided at the previous close, executed at this open)
    cash = 1.0
    units = 0.0
    avg = NAN
    armed = False
    a_dir = 0
    a_qty = 0.0
    a_stop = NAN
    a_take = NAN
    a_dist = NAN
    a_ext = NAN
    a_trail = NAN
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
    hx = 0.0  # exposure held at the previous close
    v0 = 1.0  # account value where the open trade started
    j = 1
    while j < n:
        if units != 0.0 and funding[j] != 0.0:  # perpetuals: the position held since close j-1 pays or receives
            cash, _ = apply_funding(cash, units, c[j - 1], funding[j])
        nt = targets[j - 1]
        oj = o[j]
        if nt != tgt:  # the decision of close j-1 executes at this open
            before = units
            if has_exits:
                esl, etp, etr = exits[j - 1, 0], exits[j - 1, 1], exits[j - 1, 2]
            else:
                esl, etp, etr = NAN, NAN, NAN
            cq, cs, cf, oq, osd, of, psl, ptp, ptr, rsz = plan_orders(
                cash, units, 0.0, nt, oj, NAN, NAN, NAN, 1, cost, 0.0, 0.0, 0.0, esl, etp, etr)
            if cq > 0.0:
                cash, units, avg, _ = apply_fill(cash, units, avg, cs, cq, oj, cf)
                armed = False  # the close cancels the bracket it closes
                if units == 0.0 and before != 0.0:
                    tgain, twin, tloss = _trade_return(cash / v0 - 1.0, tgain, twin, tloss)
            if oq > 0.0:
                if units == 0.0:
                    v0 = cash
                cash, units, avg, _ = apply_fill(cash, units, avg, osd, oq, oj, of)
                if rsz:
                    if armed:
                        a_qty = a_qty + osd * a_dir * oq
                elif psl == psl or ptp == ptp or ptr == ptr:
                    armed = True
                    a_dir = osd
                    a_qty = oq
                    a_stop = psl
                    a_take = ptp
                    a_dist = ptr
                    a_ext = NAN
                    a_trail = NAN
                    if ptr == ptr:
                        a_ext, a_trail = trailing_update(osd, oj, oj, oj, ptr)
            tgt = nt
        elif not armed:
            # a run of bars with no change and nothing armed: stream it in a tight loop
            if units == 0.0:
                # flat: equity is constant, only the drawdown clock moves
                k = j
                while k < n and targets[k - 1] == tgt:
                    k += 1
                if eq >= peak:
                    last_pk = k - 1
                j = k
                continue
            x = tgt if (units > 0.0) == (tgt > 0.0) and tgt != 0.0 else (1.0 if units > 0.0 else -1.0)
            if x != hx:
                turnover += abs(x - hx)
                if new_side(x, hx):
                    trades += 1
                hx = x
            k = j + 1
            while k < n and targets[k - 1] == tgt and funding[k] == 0.0:
                k += 1
            if units > 0.0 and abs(cash) <= FULL * units * c[j]:
                # fully invested long: equity returns are the close returns (to ~1e-16): their sums
                # come from the prefix rows in O(1); the drawdown sees every bar, four at a time
                s1 += rets[P_R, k - 1] - rets[P_R, j - 1]
                s2 += rets[P_R2, k - 1] - rets[P_R2, j - 1]
                sd += rets[P_D2, k - 1] - rets[P_D2, j - 1]
                if grouped:
                    book_prefix(acc, rets, P_R, P_R2, j - 1, k - 1)
                b = j
                while b + 4 <= k:
                    e0 = cash + units * c[b]
                    e1 = cash + units * c[b + 1]
                    e2 = cash + units * c[b + 2]
                    e3 = cash + units * c[b + 3]
                    if max(max(e0, e1), max(e2, e3)) < peak:
                        trough = min(trough, min(min(e0, e1), min(e2, e3)))
                    else:
                        peak, trough, maxdd, last_pk, maxdur = dd_bar(e0, b, peak, trough, maxdd, last_pk, maxdur)
                        peak, trough, maxdd, last_pk, maxdur = dd_bar(e1, b + 1, peak, trough, maxdd, last_pk, maxdur)
                        peak, trough, maxdd, last_pk, maxdur = dd_bar(e2, b + 2, peak, trough, maxdd, last_pk, maxdur)
                        peak, trough, maxdd, last_pk, maxdur = dd_bar(e3, b + 3, peak, trough, maxdd, last_pk, maxdur)
                    b += 4
                while b < k:
                    e = cash + units * c[b]
                    peak, trough, maxdd, last_pk, maxdur = dd_bar(e, b, peak, trough, maxdd, last_pk, maxdur)
                    b += 1
                eq = cash + units * c[k - 1]
                exposed += k - j
                j = k
                continue
            k = j
            while k < n and targets[k - 1] == tgt and (k == j or funding[k] == 0.0):
                e = cash + units * c[k]
                r = e / eq - 1.0
                s1 += r
                s2 += r * r
                if r < 0.0:
                    sd += r * r
                if grouped:
                    book(acc, k, r)
                if e < peak:
                    if e < trough:
                        trough = e
                else:
                    peak, trough, maxdd, last_pk, maxdur = dd_bar(e, k, peak, trough, maxdd, last_pk, maxdur)
                eq = e
                k += 1
            exposed += k - j
            j = k
            continue
        if armed:
            code, raw = bracket_trigger(a_dir, oj, hi[j], lo[j], a_stop, a_take, a_trail)
            if code != TRIGGER_NONE:
                armed = False
                side = -a_dir
                if code == TRIGGER_TAKE_PROFIT:
                    price = raw
                else:
                    price = taker_fill_price(raw, side, slip)
                cash, units, avg, _ = apply_fill(cash, units, avg, side, a_qty, price, fill_fee(a_qty, price, fee))
                if units == 0.0:
                    tgain, twin, tloss = _trade_return(cash / v0 - 1.0, tgain, twin, tloss)
            elif a_dist == a_dist:
                a_ext, a_trail = trailing_update(a_dir, a_ext, hi[j], lo[j], a_dist)
        # mark bar j at its close
        if units == 0.0:
            x = 0.0
            e = cash
        else:
            e = cash + units * c[j]
            x = tgt if (units > 0.0) == (tgt > 0.0) and tgt != 0.0 else (1.0 if units > 0.0 else -1.0)
        if e != eq:
            r = e / eq - 1.0
            s1 += r
            s2 += r * r
            if r < 0.0:
                sd += r * r
            if grouped:
                book(acc, j, r)
        peak, trough, maxdd, last_pk, maxdur = dd_bar(e, j, peak, trough, maxdd, last_pk, maxdur)
        if x != hx:
            turnover += abs(x - hx)
            if new_side(x, hx):
                trades += 1
            hx = x
        if x != 0.0:
            exposed += 1
        eq = e
        j += 1
    if units != 0.0:
        tgain, twin, tloss = _trade_return(eq / v0 - 1.0, tgain, twin, tloss)
    close_out(acc, n, eq, s1, s2, sd, tgain, twin, tloss, peak, trough, last_pk, maxdd, maxdur, trades, exposed,
              turnover)
