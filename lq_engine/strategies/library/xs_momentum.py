"""Cross-sectional momentum (a portfolio strategy)."""

import numpy as np

import lq_engine.api as lq


class XsMomentum(lq.PortfolioStrategy):
    """Every `every` bars, rank the symbols that trade by their return over the last `lookback` bars;
    hold the top `top` long and, with `short`, the bottom `top` short, equally weighted (gross 1), and
    rebalance every holding back to its weight. Symbols without a bar or without enough history get
    no weight."""

    min_symbols = 2
    gross = 1.0
    lookback = lq.Int(2, 2_000, grid=(20, 60, 120, 250))
    top = lq.Int(1, 100, grid=(1, 2))
    every = lq.Int(1, 1_000, grid=(5, 20))
    short = lq.Bool(default=False)

    @lq.indicator
    def momentum(bars, lookback):
        return np.vstack([lq.ta.roc(c, lookback) for c in bars.close])

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        if i % p.every != 0:
            return
        mom = ind.momentum
        n_sym = w.shape[0]
        live = 0
        for s in range(n_sym):
            w[s] = 0.0
            if bars.mask[s, i] and mom[s, i] == mom[s, i]:
                live += 1
        k = min(p.top, live // 2 if p.short else live)
        legs = 2 * k if p.short else k
        for _ in range(k):  # pick the best (and the worst) still unweighted, lower index first on ties
            best = -1
            for s in range(n_sym):
                if w[s] == 0.0 and bars.mask[s, i] and mom[s, i] == mom[s, i]:
                    if best < 0 or mom[s, i] > mom[best, i]:
                        best = s
            w[best] = 1.0 / legs
            if p.short:
                worst = -1
                for s in range(n_sym):
                    if w[s] == 0.0 and bars.mask[s, i] and mom[s, i] == mom[s, i]:
                        if worst < 0 or mom[s, i] < mom[worst, i]:
                            worst = s
                w[worst] = -1.0 / legs
        return True  # bring every holding back to its weight
