"""Cheat behind one Choice value: mode 'peek' reads the next open; the default 'trend' is honest."""

import lq_engine.api as lq

TREND, REVERT, PEEK = 0, 1, 2


class ChoicePeek(lq.Strategy):
    window = lq.Int(2, 200, grid=(20, 50))
    mode = lq.Choice("trend", "revert", "peek", default="trend")

    @lq.indicator
    def ma(bars, window):
        return lq.ta.sma(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if not ind.ma[i] == ind.ma[i]:
            return 0.0
        if p.mode == PEEK:
            if i + 1 < bars.open.shape[0] and bars.open[i + 1] > bars.close[i]:
                return 1.0
            return 0.0
        up = bars.close[i] > ind.ma[i]
        if p.mode == TREND:
            return 1.0 if up else 0.0
        return 0.0 if up else 1.0
