"""Python reference: decisions bar by bar through the shared ``rules.rule_step`` (pure Python),
then whole-array NumPy returns and ``metrics.summarize``. Slow, plain, and the parity oracle."""

from __future__ import annotations

import numpy as np

from lq_engine.kernels import metrics as M
from lq_engine.strategies.bank import R_GAP, R_INTRA
from lq_engine.strategies.rules import decide_positions


def simulate(bank: np.ndarray, rets: np.ndarray, ip: np.ndarray, fp: np.ndarray, cost: float):
    """(returns r_1..r_{n-1}, held position over each of those bars, per-trade returns)."""
    target = decide_positions(bank, ip, fp).astype(np.float64)
    n = target.size
    held = np.zeros(n)
    held[1:] = target[:-1]  # decided at close j-1, filled at open j
    prev = np.concatenate(([0.0], held[:-1]))
    g, q = rets[R_GAP], rets[R_INTRA]
    r = (1.0 + prev * g) * (1.0 - cost * np.abs(held - prev)) * (1.0 + held * q) - 1.0
    r = r[1:]
    e = M.equity_curve(r)
    trades = []
    v0 = 1.0
    for j in np.flatnonzero(held != prev):
        v = e[j - 1] * (1.0 + prev[j] * g[j]) * (1.0 - cost * abs(prev[j]))
        if prev[j] != 0:
            trades.append(v / v0 - 1.0)
        if held[j] != 0:
            v0 = v
    if n and held[-1] != 0:
        trades.append(e[-1] / v0 - 1.0)
    return r, held[1:], np.array(trades)


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
