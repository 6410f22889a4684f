"""Pair trading on a z-scored log-price spread with a rolling hedge ratio (a portfolio strategy)."""

import numpy as np

import lq_engine.api as lq


@lq.jit
def pair_symbols(pair, n_symbols):
    """The two symbol indices of pair number ``pair`` among ``n_symbols`` (pairs in name order:
    (0, 1), (0, 2), ..., (1, 2), ...); (-1, -1) when there is no such pair."""
    k = 0
    for a in range(n_symbols):
        for b in range(a + 1, n_symbols):
            if k == pair:
                return a, b
            k += 1
    return -1, -1


def pair_logs(bars, pair):
    """log closes of the pair's two symbols over the bars both have (NaN elsewhere)."""
    a, b = pair_symbols(pair, bars.close.shape[0])
    if a < 0:
        nan = np.full(bars.close.shape[1], np.nan)
        return nan, nan
    both = bars.mask[a] & bars.mask[b]
    if not both.any():
        raise lq.StrategyError(f"pair {pair} has no bar in common: symbols #{a} and #{b} of the universe never "
                               "trade on the same dates")
    la, lb = np.log(bars.close[a]), np.log(bars.close[b])
    return np.where(both, la, np.nan), np.where(both, lb, np.nan)


class Pairs(lq.PortfolioStrategy):
    """One pair of the universe (`pair`: 0 is the first two symbols in name order; a 4-symbol universe
    has pairs 0..5, all in the default grid, so the optimizer also picks the pair). The hedge ratio b
    is the slope of log A on log B over `hedge_window` bars (dates both trade); the spread log A - b log B
    is z-scored over `z_window` bars. Short the spread (A short, B long, in the value ratio 1 : b) when
    z > `entry_z`, long it when z < -`entry_z`, close when |z| falls below `exit_z`. Gross exposure 1.
    A pair number the universe does not have stays flat."""

    min_symbols = 2
    gross = 1.0
    pair = lq.Int(0, 4_950, grid=range(6))
    hedge_window = lq.Int(10, 1_000, grid=(60, 120, 250))
    z_window = lq.Int(5, 1_000, grid=(20, 40, 60))
    entry_z = lq.Float(0.5, 5.0, step=0.25, grid=(1.5, 2.0, 2.5))
    exit_z = lq.Float(0.0, 3.0, step=0.25, grid=(0.0, 0.5))
    constraints = [lq.less("exit_z", "entry_z")]

    @lq.indicator
    def log_a(bars, pair):  # once per pair: every hedge window reuses it
        return pair_logs(bars, pair)[0]

    @lq.indicator
    def log_b(bars, pair):
        return pair_logs(bars, pair)[1]

    @lq.indicator
    def beta(bars, log_a, log_b, hedge_window):
        return lq.ta.rolling_beta(log_a, log_b, hedge_window)

    @lq.indicator
    def spread(bars, log_a, log_b, beta):  # beta: the indicator above, for the same pair and hedge_window
        return log_a - beta * log_b

    @lq.indicator
    def z(bars, spread, z_window):
        return lq.ta.zscore(spread, z_window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        a, b_ = pair_symbols(p.pair, w.shape[0])
        z, b = ind.z[0, i], ind.beta[0, i]
        if a < 0 or not (z == z and b == b):  # no such pair, or warm-up / a date one symbol lacks
            return
        side = 0.0 if pos.target[a] == 0.0 else (1.0 if pos.target[a] > 0.0 else -1.0)  # +1: long the spread
        if side == 0.0:
            if z > p.entry_z:
                side = -1.0
            elif z < -p.entry_z:
                side = 1.0
        elif abs(z) < p.exit_z or (side > 0.0 and z > p.entry_z) or (side < 0.0 and z < -p.entry_z):
            side = 0.0
        if side == 0.0:
            w[a] = 0.0
            w[b_] = 0.0
        elif side * w[a] <= 0.0:  # a new position: weights fixed at entry
            scale = 1.0 / (1.0 + abs(b))
            w[a] = side * scale
            w[b_] = -side * b * scale
