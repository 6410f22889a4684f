"""Inverse-volatility buy-and-hold: the benchmark every optimization report shows beside its winner."""

import numpy as np

import lq_engine.api as lq


class InverseVol(lq.PortfolioStrategy):
    """Long every symbol with weights proportional to 1 / volatility (daily-return standard deviation
    over `vol_window` bars), summing to 1, and hold. Weights are set again only when the set of
    symbols with a volatility changes (a symbol starts trading) or, with `rebalance` > 0, every
    `rebalance` bars."""

    min_symbols = 1
    gross = 1.0
    vol_window = lq.Int(5, 1_000, grid=(60,))
    rebalance = lq.Int(0, 10_000, grid=(0,))
    state = lq.State(live=0, last=-1)

    @lq.indicator
    def vol(bars, vol_window):
        return np.vstack([lq.ta.rolling_std(lq.ta.returns(c), vol_window) for c in bars.close])

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        n_sym = w.shape[0]
        live = 0
        for s in range(n_sym):
            v = ind.vol[s, i]
            if bars.mask[s, i] and v == v and v > 0.0:
                live += 1
        due = p.rebalance > 0 and st.last >= 0 and i - st.last >= p.rebalance
        if live == 0 or (live == st.live and not due):
            return
        total = 0.0
        for s in range(n_sym):
            v = ind.vol[s, i]
            w[s] = 1.0 / v if bars.mask[s, i] and v == v and v > 0.0 else 0.0
            total += w[s]
        for s in range(n_sym):
            w[s] = w[s] / total
        st.live = live
        st.last = i
        return True  # a rebalance: every holding back to its weight
