"""Bollinger z-score mean reversion."""

import lq_engine.api as lq


class Bollinger(lq.Strategy):
    """Bollinger z-score mean reversion: long when z < -entry_z until z > -exit_z; short mirrors it."""

    window = lq.Int(2, 100_000, grid=range(10, 61, 10))
    entry_z = lq.Float(0.0, 100.0, grid=(1.5, 2.0, 2.5, 3.0))
    exit_z = lq.Float(-100.0, 100.0, grid=(0.0, 0.5, 1.0))
    side = lq.Side()
    constraints = [lq.less("exit_z", "entry_z")]

    @lq.indicator
    def z(bars, window):
        return lq.ta.zscore(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        z = ind.z[i]
        return lq.hysteresis(pos.target, p.side,
                             z < -p.entry_z,  # enter long
                             z > -p.exit_z,  # exit long
                             z > p.entry_z,  # enter short
                             z < p.exit_z)  # exit short
