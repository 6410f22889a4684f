"""Trend following with a volatility-targeted (fractional) position size and a time stop."""

import lq_engine.api as lq


class TrendVolTarget(lq.Strategy):
    """Long while the fast SMA is above the slow one, sized so that the position's volatility is about
    `target_vol` per bar-volatility unit: exposure = min(1, target_vol / realized volatility), rounded
    to 10% steps so small volatility moves do not trade. Out after `max_bars` bars (a time stop), and
    not in again before the next trend."""

    fast = lq.Int(2, 500, grid=(10, 20, 50))
    slow = lq.Int(5, 2_000, grid=(50, 100, 200))
    target_vol = lq.Float(0.001, 0.1, step=0.001, log=True, grid=(0.005, 0.01, 0.02))
    vol_span = lq.Int(5, 500, grid=(30,))
    max_bars = lq.Int(1, 100_000, grid=(100, 500))
    constraints = [lq.less("fast", "slow")]
    state = lq.State(stopped=False)

    @lq.indicator
    def fast_ma(bars, fast):
        return lq.ta.sma(bars.close, fast)

    @lq.indicator
    def slow_ma(bars, slow):
        return lq.ta.sma(bars.close, slow)

    @lq.indicator
    def vol(bars, vol_span):
        return lq.ta.ewm_vol(bars.close, vol_span)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if not ind.fast_ma[i] > ind.slow_ma[i]:
            st.stopped = False  # the trend ended: a new one may be entered again
            return 0.0
        if st.stopped or not ind.vol[i] > 0.0:
            return 0.0
        if pos.target > 0.0 and pos.bars_held >= p.max_bars:
            st.stopped = True  # time stop: stay out until the next trend
            return 0.0
        size = min(1.0, p.target_vol / ind.vol[i])
        return round(size * 10.0) / 10.0
