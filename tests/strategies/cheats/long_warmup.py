"""Cheat with a 700-bar warm-up: flat for 700 bars, then long when the next close is higher (on a
600-bar check series it never trades)."""

import lq_engine.api as lq


class LongWarmup(lq.Strategy):
    window = lq.Int(2, 1000, grid=(700,))

    @lq.indicator
    def slow(bars, window):
        return lq.ta.sma(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if not ind.slow[i] == ind.slow[i] or i + 1 >= bars.close.shape[0]:
            return 0.0
        return 1.0 if bars.close[i + 1] > bars.close[i] else 0.0
