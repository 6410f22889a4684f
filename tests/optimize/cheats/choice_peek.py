"""A CHEAT for the optimizer's lookahead gate (tests only): a moving-average cross whose `source`
'next' reads the close 30 bars ahead (long when it is 0.3% higher: enough to beat the costs). The
default 'close' is honest, so a check of the defaults alone passes, and the optimizer, left alone,
picks 'next'."""

import lq_engine.api as lq

CLOSE, NEXT = 0, 1
AHEAD = 30


class ChoicePeek(lq.Strategy):
    """Long when the fast SMA is above the slow one; with source='next', long when the close 30 bars
    ahead is 0.3% higher."""

    fast = lq.Int(2, 50, grid=(5, 10))
    slow = lq.Int(3, 200, grid=(20, 40))
    source = lq.Choice("close", "next", default="close")
    constraints = [lq.less("fast", "slow")]

    @lq.indicator
    def fast_ma(bars, fast):
        return lq.ta.sma(bars.close, fast)

    @lq.indicator
    def slow_ma(bars, slow):
        return lq.ta.sma(bars.close, slow)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if p.source == NEXT:
            if i + AHEAD < bars.close.shape[0] and bars.close[i + AHEAD] > 1.003 * bars.close[i]:
                return 1.0
            return 0.0
        return 1.0 if ind.fast_ma[i] > ind.slow_ma[i] else 0.0
