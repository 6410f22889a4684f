"""The benchmark's MA cross, written as a user writes a strategy (BENCHMARKS.md section 4): its own
file, the public API only, no rule-vocabulary front-end. Long while the fast SMA is above the slow."""

import lq_engine.api as lq


class MaCrossApi(lq.Strategy):
    """Long while the fast SMA is above the slow SMA, flat otherwise."""

    fast = lq.Int(2, 400, grid=range(5, 51, 2))
    slow = lq.Int(5, 2000, grid=range(20, 201, 4))
    constraints = [lq.less("fast", "slow")]

    @lq.indicator
    def fast_ma(bars, fast):
        return lq.ta.sma(bars.close, fast)

    @lq.indicator
    def slow_ma(bars, slow):
        return lq.ta.sma(bars.close, slow)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if ind.fast_ma[i] > ind.slow_ma[i]:
            return 1.0
        return 0.0
