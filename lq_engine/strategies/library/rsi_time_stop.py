"""RSI entries with a time stop and the strategy's own trailing exit (a stateful example)."""

import lq_engine.api as lq


class RsiTimeStop(lq.Strategy):
    """Long when RSI drops below `lower`. Out when RSI recovers above `exit_level`, when the close falls
    `trail` below the highest close since entry (its own trailing exit, kept in state), or after
    `max_bars` bars in the trade (a time stop)."""

    period = lq.Int(2, 200, grid=(7, 14, 21))
    lower = lq.Float(5.0, 45.0, step=5.0, grid=(20.0, 25.0, 30.0, 35.0))
    exit_level = lq.Float(50.0, 90.0, step=5.0, grid=(55.0, 65.0))
    trail = lq.Float(0.005, 0.2, step=0.005, grid=(0.02, 0.05))
    max_bars = lq.Int(1, 10_000, grid=(20, 50, 100))
    state = lq.State(peak=0.0)

    @lq.indicator
    def rsi(bars, period):
        return lq.ta.rsi(bars.close, period)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        c = bars.close[i]
        if pos.target > 0.0:
            if c > st.peak:
                st.peak = c
            if pos.bars_held >= p.max_bars or c < st.peak * (1.0 - p.trail) or ind.rsi[i] > p.exit_level:
                return 0.0
            return 1.0
        if ind.rsi[i] < p.lower:
            st.peak = c
            return 1.0
        return 0.0
