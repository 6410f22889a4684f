"""RSI on both sides."""

import lq_engine.api as lq


class RsiBoth(lq.Strategy):
    """Long when RSI is below `lower`, short when it is above `upper`; either side is closed when RSI
    crosses back over 50."""

    period = lq.Int(2, 500, grid=(7, 14, 21))
    lower = lq.Float(1.0, 49.0, step=1.0, grid=(20.0, 25.0, 30.0))
    upper = lq.Float(51.0, 99.0, step=1.0, grid=(70.0, 75.0, 80.0))

    @lq.indicator
    def rsi(bars, period):
        return lq.ta.rsi(bars.close, period)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        r = ind.rsi[i]
        return lq.hysteresis(pos.target, lq.BOTH, r < p.lower, r > 50.0, r > p.upper, r < 50.0)
