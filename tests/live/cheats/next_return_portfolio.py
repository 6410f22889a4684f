"""A CHEAT (tests only): a portfolio holding the symbol whose NEXT bar gains the most, read as
``bars.close[s, i + 1]``. Streamed, the next bar is not in memory; what the read then finds is not
the future (another symbol's first bar, or NaN padding)."""

import lq_engine.api as lq


class NextReturnPortfolio(lq.PortfolioStrategy):
    """All in the symbol with the best next-bar return, every bar."""

    min_symbols = 2
    gross = 1.0

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        best = -1
        best_r = 0.0
        for s in range(w.shape[0]):
            w[s] = 0.0
            if bars.mask[s, i]:
                r = bars.close[s, i + 1] / bars.close[s, i] - 1.0
                if r > best_r:
                    best, best_r = s, r
        if best >= 0:
            w[best] = 1.0
        return True
