"""Cheat behind a Bool: with ``confirm`` the entry waits for the next bar's close to be higher."""

import lq_engine.api as lq


class BoolPeek(lq.Strategy):
    window = lq.Int(2, 200, grid=(20, 50))
    confirm = lq.Bool(default=False)

    @lq.indicator
    def ma(bars, window):
        return lq.ta.sma(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if not bars.close[i] > ind.ma[i]:
            return 0.0
        if p.confirm and i + 1 < bars.close.shape[0] and not bars.close[i + 1] > bars.close[i]:
            return 0.0
        return 1.0
