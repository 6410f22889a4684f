"""Long/short trend following for perpetual futures, evaluated net of funding."""

import lq_engine.api as lq


class PerpTrend(lq.Strategy):
    """Long while the fast SMA is above the slow one by more than `band` (a fraction of the slow SMA),
    short while it is below by more than `band`, flat in between. On a perpetual every position held
    at a funding time pays or receives funding (longs pay when the rate is positive), so the flat
    band is what the funding bill is traded against: in a choppy market no position, no funding. The
    decisions read prices only; every driver books the funding (``execution.funding``), so the
    optimizer ranks the parameter sets net of it (see docs/how-to/perpetuals.md)."""

    fast = lq.Int(1, 100_000, grid=(10, 20, 50))
    slow = lq.Int(2, 100_000, grid=(50, 100, 200))
    band = lq.Float(0.0, 0.1, step=0.001, grid=(0.0, 0.002, 0.005))
    constraints = [lq.less("fast", "slow")]

    @lq.indicator
    def fast_ma(bars, fast):
        return lq.ta.sma(bars.close, fast)

    @lq.indicator
    def slow_ma(bars, slow):
        return lq.ta.sma(bars.close, slow)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        f = ind.fast_ma[i]
        s = ind.slow_ma[i]
        if f > s * (1.0 + p.band):
            return 1.0
        if f < s * (1.0 - p.band):
            return -1.0
        return 0.0
