"""Pair trading on a z-scored log-price spread with a rolling hedge ratio (a portfolio strategy)."""

import numpy as np

import lq_engine.api as lq


class Pairs(lq.PortfolioStrategy):
    """Two symbols A and B (in name order). The hedge ratio b is the slope of log A on log B over
    `hedge_window` bars; the spread log A - b log B is z-scored over `z_window` bars. Short the spread
    (A short, B long, b units of B per unit of A in value terms) when z > `entry_z`, long it when
    z < -`entry_z`, and close when |z| falls below `exit_z`. Gross exposure 1."""

    min_symbols = 2
    max_symbols = 2
    gross = 1.0
    hedge_window = lq.Int(10, 1_000, grid=(60, 120, 250))
    z_window = lq.Int(5, 1_000, grid=(20, 40, 60))
    entry_z = lq.Float(0.5, 5.0, step=0.25, grid=(1.5, 2.0, 2.5))
    exit_z = lq.Float(0.0, 3.0, step=0.25, grid=(0.0, 0.5))
    constraints = [lq.less("exit_z", "entry_z")]

    @lq.indicator
    def beta(bars, hedge_window):
        return lq.ta.rolling_beta(np.log(bars.close[0]), np.log(bars.close[1]), hedge_window)

    @lq.indicator
    def z(bars, hedge_window, z_window):
        b = lq.ta.rolling_beta(np.log(bars.close[0]), np.log(bars.close[1]), hedge_window)
        spread = np.log(bars.close[0]) - b * np.log(bars.close[1])
        return lq.ta.zscore(spread, z_window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        z, b = ind.z[0, i], ind.beta[0, i]
        if not (z == z and b == b):  # warm-up
            return
        side = 0.0 if pos.target[0] == 0.0 else (1.0 if pos.target[0] > 0.0 else -1.0)  # +1: long the spread
        if side == 0.0:
            if z > p.entry_z:
                side = -1.0
            elif z < -p.entry_z:
                side = 1.0
        elif abs(z) < p.exit_z or (side > 0.0 and z > p.entry_z) or (side < 0.0 and z < -p.entry_z):
            side = 0.0
        if side == 0.0:
            w[0] = 0.0
            w[1] = 0.0
        elif side * w[0] <= 0.0:  # a new position: weights fixed at entry
            scale = 1.0 / (1.0 + abs(b))
            w[0] = side * scale
            w[1] = -side * b * scale
