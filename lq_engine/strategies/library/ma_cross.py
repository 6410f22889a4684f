"""Moving-average cross."""

import lq_engine.api as lq


class MaCross(lq.Strategy):
    """Long when the fast SMA is above the slow SMA, short when below (per `side`)."""

    fast = lq.Int(1, 100_000, grid=range(5, 51, 2))
    slow = lq.Int(2, 100_000, grid=range(20, 201, 4))
    side = lq.Side()
    constraints = [lq.less("fast", "slow")]

    @lq.indicator
    def fast_ma(bars, fast):
        return lq.ta.sma(bars.close, fast)

    @lq.indicator
    def slow_ma(bars, slow):
        return lq.ta.sma(bars.close, slow)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        d = ind.fast_ma[i] - ind.slow_ma[i]
        return lq.hysteresis(pos.target, p.side, d > 0.0, -d > 0.0, -d > 0.0, d > 0.0)
