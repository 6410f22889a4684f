"""Cheat: long when the next bar's close is above this one's (guarded at the end of the data)."""

import lq_engine.api as lq


class NextClose(lq.Strategy):
    window = lq.Int(2, 100, grid=(10, 20))

    @lq.indicator
    def ma(bars, window):
        return lq.ta.sma(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        n = bars.close.shape[0]
        if not ind.ma[i] == ind.ma[i]:
            return 0.0
        nxt = bars.close[i + 1] if i + 1 < n else bars.close[i]
        return 1.0 if nxt > bars.close[i] else 0.0
