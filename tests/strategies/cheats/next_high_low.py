"""Cheat: long when the next bar's range lies above this close, short when below (next high and low)."""

import lq_engine.api as lq


class NextHighLow(lq.Strategy):
    window = lq.Int(2, 100, grid=(5, 10))
    side = lq.Side(grid=("both",))

    @lq.indicator
    def ma(bars, window):
        return lq.ta.sma(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if i + 1 >= bars.close.shape[0] or not ind.ma[i] == ind.ma[i]:
            return 0.0
        c = bars.close[i]
        if bars.low[i + 1] > c * 0.995:
            return lq.sided(1.0, p.side)
        if bars.high[i + 1] < c * 1.005:
            return lq.sided(-1.0, p.side)
        return pos.target
