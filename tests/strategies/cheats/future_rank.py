"""Cheat (portfolio): hold the symbol with the best return over the next `horizon` bars."""

import numpy as np

import lq_engine.api as lq


class FutureRank(lq.PortfolioStrategy):
    min_symbols = 2
    gross = 1.0
    horizon = lq.Int(1, 100, grid=(5, 20))
    every = lq.Int(1, 100, grid=(5,))

    @lq.indicator
    def future(bars, horizon):
        c = np.asarray(bars.close)
        out = np.full(c.shape, np.nan)
        out[:, :-horizon] = c[:, horizon:] / c[:, :-horizon] - 1.0
        return out

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        if i % p.every != 0:
            return
        best = -1
        for s in range(w.shape[0]):
            w[s] = 0.0
            f = ind.future[s, i]
            if bars.mask[s, i] and f == f and (best < 0 or f > ind.future[best, i]):
                best = s
        if best >= 0:
            w[best] = 1.0
        return True
