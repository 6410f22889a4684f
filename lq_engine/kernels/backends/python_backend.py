"""Python reference: decisions bar by bar through the shared ``rules.rule_step`` (pure Python), the
fixed-unit account of ``kernels.fills`` bar by bar, the equity curve marked at every close, then
``metrics.summarize`` of its returns. Slow, plain, and the parity oracle."""

from __future__ import annotations

import numpy as np

from lq_engine.kernels import metrics as M
from lq_engine.kernels.fills import change_fills
from lq_engine.kernels.returns import R_OPEN
from lq_engine.kernels.rules import CLOSE_ROW, decide_positions


def simulate(bank: np.ndarray, rets: np.ndarray, ip: np.ndarray, fp: np.ndarray, cost: float):
    """(returns r_1..r_{n-1}, held position over each of those bars, per-trade returns)."""
    target = decide_positions(bank, ip, fp)
    n = target.size
    close, op = bank[CLOSE_ROW], rets[R_OPEN]
    eq = np.ones(n)
    held = np.zeros(n)
    cash, units, h, v0, bankrupt = 1.0, 0.0, 0, 1.0, False
    trades = []
    for j in range(1, n):
        t = int(target[j - 1])  # decided at close j-1, filled at open j
        if t != h and not bankrupt:
            e, cash1, cash, units = change_fills.py_func(cash, units, h, t, float(op[j]), cost)
            if h != 0:
                trades.append(cash1 / v0 - 1.0)
            h = t if units != 0.0 else 0
            if h != 0:
                v0 = cash1
            bankrupt = e <= 0.0
        held[j] = h
        eq[j] = cash + units * close[j] if h != 0 else cash
    if h != 0:
        trades.append(eq[-1] / v0 - 1.0)
    return eq[1:] / eq[:-1] - 1.0, held[1:], np.array(trades)


def sweep_metrics(bank, rets, ip, fp, cost: float, ppy: float) -> dict[str, np.ndarray]:
    rows = [M.summarize(*simulate(bank, rets, ip[k], fp[k], cost), ppy) for k in range(ip.shape[0])]
    return {name: np.array([row[name] for row in rows], dtype=np.float64) for name in M.METRIC_NAMES}


def metric_eval(equity: np.ndarray, ppy: float = 252.0) -> np.ndarray:
    """The metric workload with the plain reference formulas: [sharpe, cagr, max drawdown]."""
    e = np.asarray(equity, dtype=np.float64)
    r = np.diff(e) / e[:-1]
    return np.array([
        M.sharpe(r, ppy),
        M.cagr(float(e[-1] / e[0]), e.size / ppy),
        M.max_drawdown(e),
    ])


def metric_batch(equity: np.ndarray, n_evals: int, ppy: float = 252.0) -> np.ndarray:
    return np.array([metric_eval(equity, ppy) for _ in range(n_evals)]).reshape(n_evals, 3)
