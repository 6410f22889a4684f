"""A CHEAT for the optimizer's lookahead gate (tests only): it waits out a long warm-up (an SMA of
700 bars or more) and then buys when the NEXT bar closes higher. On the check's 600-bar synthetic
series it never decides anything, so it passes there; the gate runs on the optimized data."""

import lq_engine.api as lq


class WarmupPeek(lq.Strategy):
    """Flat until the `warm`-bar SMA has a value, then long when the next close is higher."""

    warm = lq.Int(700, 2000, grid=(700, 800))

    @lq.indicator
    def trend(bars, warm):
        return lq.ta.sma(bars.close, warm)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if ind.trend[i] != ind.trend[i]:  # still warming up
            return 0.0
        if i + 1 < bars.close.shape[0] and bars.close[i + 1] > bars.close[i]:
            return 1.0
        return 0.0
