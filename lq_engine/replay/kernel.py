"""The compiled replay loop: one parameter set, one series, the full execution model, bar by bar.

It is the numba twin of ``event_engine.EventEngine`` driving ``execution.venue.SimulatedVenue``:
the same steps in the same order (venue.py's docstring), the same ``fillmath`` functions, the same
decisions (a float target per bar, decided at each close) and the same ``sizing.plan_orders``,
so fills and equity are bit-identical. Per bar j:
0. a target change decided at close j-1: cancel the strategy's working market orders, plan and
   submit the close/open or resize orders (sized at this open); an open order carries the
   strategy's exit fractions for that entry (``exits[j-1]``), each leg falling back to the
   configured bracket;
1. working orders fill at the open in submission order under the bar's liquidity budget; an
   entry's first fill arms its bracket; a strategy order against an armed bracket cancels it,
   a resize changes its legs' quantity by what it fills;
2. the armed bracket is checked (gap-aware, same-bar rule: stop first), one-cancels-other, the
   triggered leg fills (capped, remainder carried);
3. trailing extreme update; the bar becomes the volatility reference;
4. equity marked at the close (and the exposure held, for turnover); the next target applies.
One armed bracket at most: entries happen only from flat or after the close of a reversal, and a
close order's fill cancels the bracket it closes (venue rule 14).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lq_engine.execution.fillmath import (
    TRIGGER_NONE,
    TRIGGER_TAKE_PROFIT,
    apply_fill,
    bracket_trigger,
    capped_quantity,
    fill_fee,
    liquidity_budget,
    market_fill_price,
    market_order_fill,
    trailing_update,
)
from lq_engine.execution.funding import apply_funding
from lq_engine.execution.sizing import plan_orders

# order kinds (also fill reasons): strategy market order, then the bracket legs in venue order
K_MARKET, K_STOP, K_TAKE_PROFIT, K_TRAILING, K_RESIZE = 0, 1, 2, 3, 4
REASONS = ("market", "stop", "take_profit", "trailing_stop", "resize")
# order statuses
ST_ACCEPTED, ST_TRIGGERED, ST_PARTIAL, ST_FILLED, ST_CANCELLED = 1, 2, 3, 4, 5
STATUS_NAMES = {1: "ACCEPTED", 2: "TRIGGERED", 3: "PARTIALLY_FILLED", 4: "FILLED", 5: "CANCELLED"}
# order table columns
O_BAR, O_SIDE, O_QTY, O_FILLED, O_KIND, O_STATUS, O_FEE, O_PARENT, O_SL, O_TP, O_TRAIL = range(11)
N_OCOLS = 11
# fill table columns (the bar's timestamp is kept apart as int64)
F_BAR, F_ORDER, F_SIDE, F_QTY, F_PRICE, F_FEE, F_REASON, F_CASH, F_POS = range(9)
N_FCOLS = 9
# config vector
C_FEE_TAKER, C_FEE_MAKER, C_SPREAD, C_SLIP, C_VOLK, C_CAP, C_BASIS, C_COST, C_SL, C_TP, C_TRAIL = range(11)
N_CFG = 11

_MAX_WORKING = 16


@njit(cache=True)
def _grow(a):
    b = np.empty((a.shape[0] * 2, a.shape[1]))
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def _new_order(orders, n_orders, bar, side, qty, kind, fee, parent, sl, tp, trail):
    if n_orders == orders.shape[0]:
        orders = _grow(orders)
    r = orders[n_orders]
    r[O_BAR] = bar
    r[O_SIDE] = side
    r[O_QTY] = qty
    r[O_FILLED] = 0.0
    r[O_KIND] = kind
    r[O_STATUS] = ST_ACCEPTED
    r[O_FEE] = fee
    r[O_PARENT] = parent
    r[O_SL] = sl
    r[O_TP] = tp
    r[O_TRAIL] = trail
    return orders, n_orders + 1


@njit(cache=True)
def _record_fill(orders, oid, qty):
    """Order.record_fill: a fill of at least the remainder completes it at exactly its quantity."""
    remaining = orders[oid, O_QTY] - orders[oid, O_FILLED]
    if qty >= remaining:
        orders[oid, O_FILLED] = orders[oid, O_QTY]
        orders[oid, O_STATUS] = ST_FILLED
    else:
        orders[oid, O_FILLED] = orders[oid, O_FILLED] + qty
        orders[oid, O_STATUS] = ST_PARTIAL


@njit(cache=True)
def _book_fill(orders, fills, fill_ts, n_fills, oid, j, t, side, q, price, fee, reason, cash, pos, avg):
    """Complete (part of) an order, apply the fill to the account and append it to the fills log."""
    _record_fill(orders, oid, q)
    cash, pos, avg, _ = apply_fill(cash, pos, avg, side, q, price, fee)
    if pos == 0.0:
        avg = math.nan
    if n_fills == fills.shape[0]:
        fills = _grow(fills)
        ts2 = np.empty(fill_ts.shape[0] * 2, dtype=np.int64)
        ts2[: fill_ts.shape[0]] = fill_ts
        fill_ts = ts2
    f = fills[n_fills]
    f[F_BAR] = j
    f[F_ORDER] = oid
    f[F_SIDE] = side
    f[F_QTY] = q
    f[F_PRICE] = price
    f[F_FEE] = fee
    f[F_REASON] = reason
    f[F_CASH] = cash
    f[F_POS] = pos
    fill_ts[n_fills] = t
    return fills, fill_ts, n_fills + 1, cash, pos, avg


@njit(cache=True)
def _is_open(orders, oid):
    return orders[oid, O_STATUS] < ST_FILLED


@njit(cache=True)
def replay_loop(ts, op, hi, lo, cl, vol, targets, exits, cfg, cash0, equity, exposure, funding, paid):
    """Run the replay of the decided ``targets`` (float per bar) with the strategy's per-entry
    ``exits`` (n x 3 fractions, NaN = the configured leg); fills ``equity`` and ``exposure`` (the
    target exposure held at each close: the target in force while a position on its side is open,
    else the position's sign) and ``paid`` (funding paid at the start of each bar, negative when
    received, from ``funding``: the rate per bar of ``execution.funding.funding_per_bar``, zeros for
    spot) and returns (fills table, fill timestamps, number of fills, order
    table, number of orders)."""
    n = cl.shape[0]
    fee_taker = cfg[C_FEE_TAKER]
    fee_maker = cfg[C_FEE_MAKER]
    spread = cfg[C_SPREAD]
    slip = cfg[C_SLIP]
    volk = cfg[C_VOLK]
    cap = cfg[C_CAP]
    basis = int(cfg[C_BASIS])
    cost = cfg[C_COST]
    sl_frac = cfg[C_SL]
    tp_frac = cfg[C_TP]
    trail_frac = cfg[C_TRAIL]

    fills = np.empty((64, N_FCOLS))
    fill_ts = np.empty(64, dtype=np.int64)
    n_fills = 0
    orders = np.empty((32, N_OCOLS))
    n_orders = 0
    work = np.empty(_MAX_WORKING, dtype=np.int64)
    nw = 0

    cash = cash0
    pos = 0.0
    avg = math.nan
    prev_h = math.nan
    prev_l = math.nan
    prev_c = math.nan
    # the armed bracket
    armed = False
    a_parent = -1
    a_dir = 0
    a_sl_leg = -1
    a_tp_leg = -1
    a_ts_leg = -1
    a_stop = math.nan
    a_take = math.nan
    a_dist = math.nan
    a_ext = math.nan
    a_trail = math.nan

    tgt = 0.0
    pending_change = False

    for j in range(n):
        o = op[j]
        h = hi[j]
        lo_ = lo[j]
        c = cl[j]
        t = ts[j]

        # funding (perpetuals): the position held since the last close pays or receives, marked there
        cash, pj = apply_funding(cash, pos, prev_c, funding[j])
        paid[j] = pj

        # 0. the target decided at the previous close executes now
        if pending_change:
            pending_change = False
            k2 = 0
            for k in range(nw):
                oid = work[k]
                if orders[oid, O_KIND] == K_MARKET or orders[oid, O_KIND] == K_RESIZE:
                    orders[oid, O_STATUS] = ST_CANCELLED
                else:
                    work[k2] = oid
                    k2 += 1
            nw = k2
            pend = 0.0
            for k in range(nw):
                oid = work[k]
                pend += orders[oid, O_SIDE] * (orders[oid, O_QTY] - orders[oid, O_FILLED])
            e_sl = exits[j - 1, 0]
            e_tp = exits[j - 1, 1]
            e_tr = exits[j - 1, 2]
            cq, cs, cf, oq, osd, of, psl, ptp, ptr, rsz = plan_orders(
                cash, pos, pend, tgt, o, prev_h, prev_l, prev_c, basis, cost, spread, slip, volk,
                e_sl if e_sl == e_sl else sl_frac,
                e_tp if e_tp == e_tp else tp_frac,
                e_tr if e_tr == e_tr else trail_frac,
            )
            if cq > 0.0:
                orders, n_orders = _new_order(
                    orders, n_orders, j, cs, cq, K_MARKET, cf, -1, math.nan, math.nan, math.nan,
                )
                work[nw] = n_orders - 1
                nw += 1
            if oq > 0.0:
                orders, n_orders = _new_order(orders, n_orders, j, osd, oq, K_RESIZE if rsz else K_MARKET, of, -1,
                                              psl, ptp, ptr)
                work[nw] = n_orders - 1
                nw += 1

        budget = liquidity_budget(vol[j], cap)

        # 1. working orders at the open
        if nw > 0:
            for k in range(nw):
                oid = work[k]
                if not _is_open(orders, oid):
                    continue
                remaining = orders[oid, O_QTY] - orders[oid, O_FILLED]
                q = capped_quantity(remaining, budget)
                if q <= 0.0:
                    continue
                budget -= q
                side = int(orders[oid, O_SIDE])
                kind = int(orders[oid, O_KIND])
                if kind == K_MARKET or kind == K_RESIZE:
                    price, fee = market_order_fill(
                        basis, o, side, q, orders[oid, O_QTY], orders[oid, O_FEE], fee_taker, spread, slip, volk,
                        prev_h, prev_l, prev_c,
                    )
                else:
                    price = market_fill_price(o, side, spread, slip, volk, prev_h, prev_l, prev_c)
                    fee = fill_fee(q, price, fee_taker)
                fills, fill_ts, n_fills, cash, pos, avg = _book_fill(
                    orders, fills, fill_ts, n_fills, oid, j, t, side, q, price, fee, kind, cash, pos, avg)
                has_bracket = kind == K_MARKET and (
                    orders[oid, O_SL] == orders[oid, O_SL]
                    or orders[oid, O_TP] == orders[oid, O_TP]
                    or orders[oid, O_TRAIL] == orders[oid, O_TRAIL]
                )
                if has_bracket:
                    if armed and a_parent == oid:  # a later partial fill: the legs protect it too
                        for leg in (a_sl_leg, a_tp_leg, a_ts_leg):
                            if leg >= 0:
                                orders[leg, O_QTY] = orders[oid, O_FILLED]
                    else:
                        armed = True
                        a_parent = oid
                        a_dir = side
                        a_sl_leg = -1
                        a_tp_leg = -1
                        a_ts_leg = -1
                        filled = orders[oid, O_FILLED]
                        a_stop = orders[oid, O_SL]
                        a_take = orders[oid, O_TP]
                        a_dist = orders[oid, O_TRAIL]
                        if a_stop == a_stop:
                            orders, n_orders = _new_order(orders, n_orders, j, -side, filled, K_STOP, math.nan, oid,
                                                          a_stop, math.nan, math.nan)
                            a_sl_leg = n_orders - 1
                        if a_take == a_take:
                            orders, n_orders = _new_order(orders, n_orders, j, -side, filled, K_TAKE_PROFIT, math.nan,
                                                          oid, math.nan, a_take, math.nan)
                            a_tp_leg = n_orders - 1
                        a_ext = math.nan
                        a_trail = math.nan
                        if a_dist == a_dist:
                            orders, n_orders = _new_order(orders, n_orders, j, -side, filled, K_TRAILING, math.nan,
                                                          oid, math.nan, math.nan, a_dist)
                            a_ts_leg = n_orders - 1
                            a_ext, a_trail = trailing_update(side, o, o, o, a_dist)
                elif kind == K_RESIZE and armed:  # the legs follow the new size
                    for leg in (a_sl_leg, a_tp_leg, a_ts_leg):
                        if leg >= 0:
                            orders[leg, O_QTY] = orders[leg, O_QTY] + side * a_dir * q
                elif kind == K_MARKET and armed and a_dir == -side:
                    armed = False
                    for leg in (a_sl_leg, a_tp_leg, a_ts_leg):
                        if leg >= 0 and _is_open(orders, leg):
                            orders[leg, O_STATUS] = ST_CANCELLED
                    if _is_open(orders, a_parent):
                        orders[a_parent, O_STATUS] = ST_CANCELLED
            k2 = 0
            for k in range(nw):
                oid = work[k]
                if _is_open(orders, oid):
                    work[k2] = oid
                    k2 += 1
            nw = k2

        # 2. the armed bracket
        if armed:
            code, raw = bracket_trigger(a_dir, o, h, lo_, a_stop, a_take, a_trail)
            if code != TRIGGER_NONE:
                if code == TRIGGER_TAKE_PROFIT:
                    leg = a_tp_leg
                elif code == 1:
                    leg = a_sl_leg
                else:
                    leg = a_ts_leg
                armed = False
                orders[leg, O_STATUS] = ST_TRIGGERED
                for other in (a_sl_leg, a_tp_leg, a_ts_leg):
                    if other >= 0 and other != leg and _is_open(orders, other):
                        orders[other, O_STATUS] = ST_CANCELLED
                if _is_open(orders, a_parent):
                    orders[a_parent, O_STATUS] = ST_CANCELLED
                    k2 = 0
                    for k in range(nw):
                        if work[k] != a_parent:
                            work[k2] = work[k]
                            k2 += 1
                    nw = k2
                remaining = orders[leg, O_QTY] - orders[leg, O_FILLED]
                q = capped_quantity(remaining, budget)
                if q > 0.0:
                    budget -= q
                    side = int(orders[leg, O_SIDE])
                    if code == TRIGGER_TAKE_PROFIT:
                        price = raw
                        fee = fill_fee(q, raw, fee_maker)
                    else:
                        price = market_fill_price(raw, side, spread, slip, volk, prev_h, prev_l, prev_c)
                        fee = fill_fee(q, price, fee_taker)
                    fills, fill_ts, n_fills, cash, pos, avg = _book_fill(
                        orders, fills, fill_ts, n_fills, leg, j, t, side, q, price, fee, orders[leg, O_KIND],
                        cash, pos, avg)
                if _is_open(orders, leg):  # carried to the next open, in submission order
                    p = nw
                    while p > 0 and work[p - 1] > leg:
                        work[p] = work[p - 1]
                        p -= 1
                    work[p] = leg
                    nw += 1

        # 3. trailing update; this bar becomes the volatility reference
        if armed and a_dist == a_dist:
            a_ext, a_trail = trailing_update(a_dir, a_ext, h, lo_, a_dist)
        prev_h = h
        prev_l = lo_
        prev_c = c

        # 4. mark at the close; the target decided at this close executes at the next open
        if pos == 0.0:
            equity[j] = cash
            exposure[j] = 0.0
        else:
            equity[j] = cash + pos * c
            if (pos > 0.0) == (tgt > 0.0) and tgt != 0.0:
                exposure[j] = tgt
            else:
                exposure[j] = 1.0 if pos > 0.0 else -1.0
        new_tgt = targets[j]
        if new_tgt != tgt:
            pending_change = True
            tgt = new_tgt
    return fills, fill_ts, n_fills, orders, n_orders
