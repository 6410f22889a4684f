"""Cheat (portfolio): long, equally weighted, the symbols whose next close is above this one
(reads ``bars.close[s, i + 1]`` without a guard)."""

import lq_engine.api as lq


class NextClosePanel(lq.PortfolioStrategy):
    min_symbols = 2
    gross = 1.0
    every = lq.Int(1, 100, grid=(1, 2))

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        if i % p.every != 0:
            return
        n_sym = w.shape[0]
        k = 0
        for s in range(n_sym):
            w[s] = 0.0
            if bars.mask[s, i] and bars.close[s, i + 1] > bars.close[s, i]:
                k += 1
        for s in range(n_sym):
            if bars.mask[s, i] and bars.close[s, i + 1] > bars.close[s, i]:
                w[s] = 1.0 / k
        return True
