"""Cheat: reads the next bar's high without a guard (``bars.high[i + 1]``; compiled, the last bar
reads past the end of the array)."""

import lq_engine.api as lq


class NextHigh(lq.Strategy):
    k = lq.Float(0.0, 0.05, grid=(0.005, 0.01))

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        return 1.0 if bars.high[i + 1] > bars.close[i] * (1.0 + p.k) else 0.0
