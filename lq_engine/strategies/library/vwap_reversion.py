"""VWAP reversion."""

import lq_engine.api as lq


class VwapReversion(lq.Strategy):
    """Long when the close is more than `band` below the rolling VWAP, out when it is back above it;
    short mirrors it. Needs volume (bars without volume use the plain typical-price mean)."""

    window = lq.Int(5, 5_000, grid=(20, 50, 100, 200))
    band = lq.Float(0.001, 0.2, step=0.005, grid=(0.005, 0.01, 0.02, 0.03))
    side = lq.Side()

    @lq.indicator
    def vwap(bars, window):
        return lq.ta.vwap(bars.high, bars.low, bars.close, bars.volume, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        gap = bars.close[i] / ind.vwap[i] - 1.0
        return lq.hysteresis(pos.target, p.side, gap < -p.band, gap >= 0.0, gap > p.band, gap <= 0.0)
