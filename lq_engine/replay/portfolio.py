"""The compiled replay of a portfolio: decided weights over a universe's panel, full execution model.

Per clock bar j (the event engine's portfolio path does the same steps with the same functions):
0. rebalance: each symbol with a bar at j whose latest decided weight differs from the one in force
   (or every symbol, at its next bar, after decide asked for a full rebalance by returning True)
   cancels its working orders and gets new ones, all sized from the equity at this open
   (``kernels.portfolio``: ``sizing.leg_fees`` / ``sizing.leg_orders``); sells are submitted
   before buys. A symbol without a bar at j keeps its change pending until its next bar.
1. fills at the open: symbols with a sell working first, then the others, each in symbol order;
   each symbol's working orders in submission order under its own liquidity budget (a remainder
   carries to its next bar), at the taker price with spread, slippage and the volatility term of
   its own previous bar; fees per leg.
2. each present symbol's bar becomes its volatility reference;
3. equity marked at the close (an absent symbol at its last close); the exposure held per symbol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from numba import njit

from lq_engine.errors import InputError
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.fillmath import apply_fill, capped_quantity, liquidity_budget, market_order_fill
from lq_engine.kernels import metrics as M
from lq_engine.kernels.portfolio import exposure_held, open_equity, trade_fill
from lq_engine.replay.engine import config_vector
from lq_engine.replay.kernel import (
    C_BASIS, C_CAP, C_COST, C_FEE_TAKER, C_SLIP, C_SPREAD, C_VOLK, K_MARKET, K_RESIZE, REASONS, ST_ACCEPTED,
    ST_CANCELLED, ST_FILLED, ST_PARTIAL, STATUS_NAMES,
)
from lq_engine.execution.sizing import NO_BRACKETS, leg_fees, leg_orders
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.spec import StrategySpec

# order table columns
PO_BAR, PO_SYMBOL, PO_SIDE, PO_QTY, PO_FILLED, PO_KIND, PO_STATUS, PO_FEE = range(8)
N_POCOLS = 8
# fill table columns (the bar's timestamp is kept apart as int64)
PF_BAR, PF_ORDER, PF_SYMBOL, PF_SIDE, PF_QTY, PF_PRICE, PF_FEE, PF_REASON, PF_CASH, PF_POS = range(10)
N_PFCOLS = 10
_MAX_WORKING = 8
NAN = math.nan


@njit(cache=True)
def _grow(a):
    b = np.empty((a.shape[0] * 2, a.shape[1]))
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def _submit(orders, n_orders, work, nw, j, s, side, qty, kind, fee):
    if n_orders == orders.shape[0]:
        orders = _grow(orders)
    r = orders[n_orders]
    r[PO_BAR] = j
    r[PO_SYMBOL] = s
    r[PO_SIDE] = side
    r[PO_QTY] = qty
    r[PO_FILLED] = 0.0
    r[PO_KIND] = kind
    r[PO_STATUS] = ST_ACCEPTED
    r[PO_FEE] = fee
    work[s, nw[s]] = n_orders
    nw[s] += 1
    return orders, n_orders + 1


@njit(cache=True)
def portfolio_loop(ts, o, hi, lo, c, vol, mask, targets, rebal, cfg, cash0, equity, exposure):
    """Run the replay; fills ``equity`` (T) and ``exposure`` (T x S) and returns (fills table, fill
    timestamps, number of fills, order table, number of orders, trade returns, number of trades)."""
    n_sym, n = o.shape
    fee_taker = cfg[C_FEE_TAKER]
    spread = cfg[C_SPREAD]
    slip = cfg[C_SLIP]
    volk = cfg[C_VOLK]
    cap = cfg[C_CAP]
    basis = int(cfg[C_BASIS])
    cost = cfg[C_COST]
    fills = np.empty((64, N_PFCOLS))
    fill_ts = np.empty(64, dtype=np.int64)
    n_fills = 0
    orders = np.empty((32, N_POCOLS))
    n_orders = 0
    work = np.empty((n_sym, _MAX_WORKING), dtype=np.int64)
    nw = np.zeros(n_sym, dtype=np.int64)
    trades = np.empty(64)
    n_trades = 0
    cash = cash0
    units = np.zeros(n_sym)
    avg = np.full(n_sym, NAN)
    tif = np.zeros(n_sym)
    prev_h = np.full(n_sym, NAN)
    prev_l = np.full(n_sym, NAN)
    prev_c = np.full(n_sym, NAN)
    rt_pnl = np.zeros(n_sym)
    rt_base = np.zeros(n_sym)
    legs = np.empty(n_sym, dtype=np.int64)
    fees_c = np.zeros(n_sym)
    fees_o = np.zeros(n_sym)
    prices = np.empty(n_sym)
    due = np.zeros(n_sym, dtype=np.bool_)  # a requested full rebalance not yet done (no bar since)
    for j in range(n):
        t = ts[j]
        # 0. rebalance the symbols whose weight changed and that have a bar here
        m = 0
        if j > 0:
            for s in range(n_sym):
                if rebal[j - 1]:
                    due[s] = True
                if mask[s, j] and (targets[j - 1, s] != tif[s] or due[s]):
                    legs[m] = s
                    m += 1
                    due[s] = False
        if m > 0:
            for k in range(m):
                s = legs[k]
                for q in range(nw[s]):
                    orders[work[s, q], PO_STATUS] = ST_CANCELLED
                nw[s] = 0
            for s in range(n_sym):
                prices[s] = o[s, j]
            e_open = open_equity(cash, units, prices)
            after = e_open
            for k in range(m):
                s = legs[k]
                if basis == 1:
                    cf, of = leg_fees(e_open, units[s], targets[j - 1, s], o[s, j], cost)
                    fees_c[s] = cf
                    fees_o[s] = of
                    after = after - cf - of
                else:
                    fees_c[s] = NAN
                    fees_o[s] = NAN
            for side in (-1, 1):  # sells first, then buys
                for k in range(m):
                    s = legs[k]
                    cq, cs, cf, oq, osd, of, _, _, _, rsz = leg_orders(
                        e_open, after, units[s], targets[j - 1, s], o[s, j], prev_h[s], prev_l[s], prev_c[s], basis,
                        spread, slip, volk, NAN, NAN, NAN, fees_c[s], fees_o[s])
                    first = cs if cq > 0.0 else osd
                    if first != side or (cq <= 0.0 and oq <= 0.0):
                        continue
                    if cq > 0.0:
                        orders, n_orders = _submit(orders, n_orders, work, nw, j, s, cs, cq, K_MARKET, cf)
                    if oq > 0.0:
                        orders, n_orders = _submit(orders, n_orders, work, nw, j, s, osd, oq,
                                                   K_RESIZE if rsz else K_MARKET, of)
            for k in range(m):
                tif[legs[k]] = targets[j - 1, legs[k]]
        # 1. fills at the open: symbols selling first, then the rest, each in symbol order
        for side in (-1, 1):
            for s in range(n_sym):
                if not mask[s, j] or nw[s] == 0 or orders[work[s, 0], PO_SIDE] != side:
                    continue
                budget = liquidity_budget(vol[s, j], cap)
                for q_i in range(nw[s]):
                    oid = work[s, q_i]
                    remaining = orders[oid, PO_QTY] - orders[oid, PO_FILLED]
                    q = capped_quantity(remaining, budget)
                    if q <= 0.0:
                        continue
                    budget -= q
                    sd = int(orders[oid, PO_SIDE])
                    price, fee = market_order_fill(basis, o[s, j], sd, q, orders[oid, PO_QTY], orders[oid, PO_FEE],
                                                   fee_taker, spread, slip, volk, prev_h[s], prev_l[s], prev_c[s])
                    if q >= remaining:
                        orders[oid, PO_FILLED] = orders[oid, PO_QTY]
                        orders[oid, PO_STATUS] = ST_FILLED
                    else:
                        orders[oid, PO_FILLED] = orders[oid, PO_FILLED] + q
                        orders[oid, PO_STATUS] = ST_PARTIAL
                    before = units[s]
                    cash, units[s], avg[s], real = apply_fill(cash, units[s], avg[s], sd, q, price, fee)
                    r = trade_fill(before, units[s], real, fee, q, price, rt_pnl, rt_base, s)
                    if r == r:
                        if n_trades == trades.shape[0]:
                            t2 = np.empty(trades.shape[0] * 2)
                            t2[:n_trades] = trades[:n_trades]
                            trades = t2
                        trades[n_trades] = r
                        n_trades += 1
                    if n_fills == fills.shape[0]:
                        fills = _grow(fills)
                        ts2 = np.empty(fill_ts.shape[0] * 2, dtype=np.int64)
                        ts2[: fill_ts.shape[0]] = fill_ts
                        fill_ts = ts2
                    f = fills[n_fills]
                    f[PF_BAR] = j
                    f[PF_ORDER] = oid
                    f[PF_SYMBOL] = s
                    f[PF_SIDE] = sd
                    f[PF_QTY] = q
                    f[PF_PRICE] = price
                    f[PF_FEE] = fee
                    f[PF_REASON] = orders[oid, PO_KIND]
                    f[PF_CASH] = cash
                    f[PF_POS] = units[s]
                    fill_ts[n_fills] = t
                    n_fills += 1
                k2 = 0
                for q_i in range(nw[s]):
                    oid = work[s, q_i]
                    if orders[oid, PO_STATUS] < ST_FILLED:
                        work[s, k2] = oid
                        k2 += 1
                nw[s] = k2
        # 2. volatility references; 3. mark at the close
        e = cash
        for s in range(n_sym):
            if mask[s, j]:
                prev_h[s] = hi[s, j]
                prev_l[s] = lo[s, j]
                prev_c[s] = c[s, j]
            if units[s] != 0.0:
                e = e + units[s] * c[s, j]
            exposure[j, s] = exposure_held(units[s], tif[s])
        equity[j] = e
    for s in range(n_sym):  # trades still open: marked at the last close
        if units[s] != 0.0:
            if n_trades == trades.shape[0]:
                t2 = np.empty(trades.shape[0] * 2)
                t2[:n_trades] = trades[:n_trades]
                trades = t2
            trades[n_trades] = (rt_pnl[s] + units[s] * (c[s, n - 1] - avg[s])) / rt_base[s]
            n_trades += 1
    return fills, fill_ts, n_fills, orders, n_orders, trades, n_trades


@dataclass(frozen=True)
class PortfolioFills:
    ts: np.ndarray
    bar: np.ndarray
    order: np.ndarray
    symbol: np.ndarray  # int64 index into the panel's symbols
    side: np.ndarray
    quantity: np.ndarray
    price: np.ndarray
    fee: np.ndarray
    reason: np.ndarray
    cash: np.ndarray
    position: np.ndarray  # of that symbol, after the fill

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def rows(self, symbols: tuple[str, ...]) -> list[tuple]:
        """(ts, symbol, side, quantity, price, fee, reason) per fill."""
        return [(int(t), symbols[int(k)], int(sd), float(q), float(p), float(f), REASONS[int(r)])
                for t, k, sd, q, p, f, r in zip(self.ts, self.symbol, self.side, self.quantity, self.price,
                                                self.fee, self.reason)]


@dataclass(frozen=True)
class PortfolioReplayResult:
    strategy: str
    params: dict[str, Any]
    symbols: tuple[str, ...]
    ts: np.ndarray
    equity: np.ndarray  # (T,) marked at every clock close
    targets: np.ndarray  # (T, S) decided weights
    exposure: np.ndarray  # (T, S) weights held at the close
    fills: PortfolioFills
    order_status: list[str]
    trade_returns: np.ndarray
    metrics: dict[str, float]
    initial_cash: float
    last_close: np.ndarray  # (S,) each symbol's close (or last close) at the final bar

    def contributions(self) -> dict[str, float]:
        """Each symbol's PnL (realized and open, net of its fees) as a share of the initial cash; they
        add up to the total return."""
        out = {}
        for k, sym in enumerate(self.symbols):
            sel = self.fills.symbol == k
            flow = -np.sum(self.fills.side[sel] * self.fills.quantity[sel] * self.fills.price[sel]) \
                - np.sum(self.fills.fee[sel])
            units = float(self.fills.position[sel][-1]) if sel.any() else 0.0
            out[sym] = float((flow + units * self.last_close[k]) / self.initial_cash)
        return out


def replay_portfolio(
    strategy: StrategySpec | str,
    params: Mapping[str, Any] | None,
    panel: Panel,
    config: ExecutionConfig = ExecutionConfig(),
    initial_cash: float = 100_000.0,
    periods_per_year: float = 252.0,
) -> PortfolioReplayResult:
    """Replay one parameter set of a portfolio strategy over ``panel`` (full execution model)."""
    spec = resolve(strategy)
    p = spec.validated(params)
    d = spec.decisions(p, panel)
    return replay_weights(d.targets, panel, config, initial_cash, periods_per_year, spec.name, p, d.rebalance)


def replay_weights(targets: np.ndarray, panel: Panel, config: ExecutionConfig = ExecutionConfig(),
                   initial_cash: float = 100_000.0, periods_per_year: float = 252.0, strategy: str = "",
                   params: Mapping[str, Any] | None = None, rebalance: np.ndarray | None = None
                   ) -> PortfolioReplayResult:
    """Execute decided weights (T x S) over ``panel`` (``rebalance``: bool per bar, a full rebalance
    asked for at that close; default none)."""
    if not (np.isfinite(initial_cash) and initial_cash > 0):
        raise InputError(f"replay: initial_cash must be finite and > 0, got {initial_cash!r}")
    t, s = panel.n, panel.n_symbols
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    if targets.shape != (t, s):
        raise InputError(f"replay: weights of shape {targets.shape} for a panel of {t} bars x {s} symbols")
    equity = np.empty(t)
    exposure = np.empty((t, s))
    rebal = np.zeros(t, dtype=np.bool_) if rebalance is None else np.ascontiguousarray(rebalance, dtype=np.bool_)
    f, fts, nf, o, no, tr, ntr = portfolio_loop(panel.ts, panel.open, panel.high, panel.low, panel.close,
                                                panel.volume, panel.mask, targets, rebal,
                                                config_vector(config, NO_BRACKETS),
                                                float(initial_cash), equity, exposure)
    f = f[:nf]
    fills = PortfolioFills(fts[:nf].copy(), f[:, PF_BAR].astype(np.int64), f[:, PF_ORDER].astype(np.int64),
                           f[:, PF_SYMBOL].astype(np.int64), f[:, PF_SIDE].astype(np.int8), f[:, PF_QTY].copy(),
                           f[:, PF_PRICE].copy(), f[:, PF_FEE].copy(), f[:, PF_REASON].astype(np.int8),
                           f[:, PF_CASH].copy(), f[:, PF_POS].copy())
    trades = tr[:ntr].copy()
    metrics = M.summarize_portfolio(equity[1:] / equity[:-1] - 1.0, exposure[1:], trades, periods_per_year)
    for a in (equity, exposure):
        a.setflags(write=False)
    return PortfolioReplayResult(strategy, dict(params or {}), panel.symbols, panel.ts, equity, targets, exposure,
                                 fills, [STATUS_NAMES[int(x)] for x in o[:no, PO_STATUS]], trades, metrics,
                                 float(initial_cash), np.array(panel.close[:, -1]))
