"""RSI mean reversion."""

import lq_engine.api as lq


class Rsi(lq.Strategy):
    """Wilder RSI mean reversion: long below `lower` until above `upper`; short mirrors it."""

    period = lq.Int(2, 100_000, grid=range(5, 51, 5))
    lower = lq.Float(0.0, 100.0, grid=range(10, 40, 3))
    upper = lq.Float(0.0, 100.0, grid=range(60, 90, 3))
    side = lq.Side()
    constraints = [lq.less("lower", "upper")]

    @lq.indicator
    def rsi(bars, period):
        return lq.ta.rsi(bars.close, period)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        r = ind.rsi[i]
        under = r < p.lower  # (False while the RSI is still NaN)
        over = r > p.upper
        return lq.hysteresis(pos.target, p.side, under, over, over, under)
