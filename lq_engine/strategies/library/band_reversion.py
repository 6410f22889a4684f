"""Mean reversion on a rolling standard-deviation band."""

import lq_engine.api as lq


class BandReversion(lq.Strategy):
    """Long when the close falls `k` rolling standard deviations below its moving average, out when it is
    back at the average; short mirrors it above the band."""

    window = lq.Int(5, 1_000, grid=range(10, 101, 10))
    k = lq.Float(0.25, 5.0, step=0.25, grid=(1.0, 1.5, 2.0, 2.5, 3.0))
    side = lq.Side()

    @lq.indicator
    def mean(bars, window):
        return lq.ta.sma(bars.close, window)

    @lq.indicator
    def std(bars, window):
        return lq.ta.rolling_std(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        c, m, band = bars.close[i], ind.mean[i], p.k * ind.std[i]
        return lq.hysteresis(pos.target, p.side, c < m - band, c >= m, c > m + band, c <= m)
