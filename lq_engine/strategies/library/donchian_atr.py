"""Donchian channel breakout with an ATR trailing stop."""

import lq_engine.api as lq


class DonchianAtr(lq.Strategy):
    """Donchian breakout (close vs previous channel), exit on the opposite exit channel or an ATR trailing stop."""

    window = lq.Int(1, 100_000, grid=(20, 40, 60, 100))
    exit_window = lq.Int(1, 100_000, grid=(10, 20, 40))
    atr_window = lq.Int(1, 100_000, grid=(14, 28))
    atr_k = lq.Float(0.0, 1_000.0, grid=(2.0, 3.0, 4.0))
    side = lq.Side()
    constraints = [lq.less_equal("exit_window", "window")]
    state = lq.State(extreme=0.0)  # highest (lowest) close since a long (short) entry

    @lq.indicator
    def hh(bars, window):
        return lq.ta.prev_highest(bars.high, window)

    @lq.indicator
    def ll(bars, window):
        return lq.ta.prev_lowest(bars.low, window)

    @lq.indicator
    def exit_hh(bars, exit_window):
        return lq.ta.prev_highest(bars.high, exit_window)

    @lq.indicator
    def exit_ll(bars, exit_window):
        return lq.ta.prev_lowest(bars.low, exit_window)

    @lq.indicator
    def atr(bars, atr_window):
        return lq.ta.atr(bars.high, bars.low, bars.close, atr_window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        c = bars.close[i]
        exit_long = ind.exit_ll[i] - c > 0.0
        exit_short = c - ind.exit_hh[i] > 0.0
        if pos.target > 0.0 and p.side != lq.SHORT:  # the ATR stop trails the best close since entry
            if c > st.extreme:
                st.extreme = c
            if not exit_long:
                exit_long = c < st.extreme - p.atr_k * ind.atr[i]
        elif pos.target < 0.0 and p.side != lq.LONG:
            if c < st.extreme:
                st.extreme = c
            if not exit_short:
                exit_short = c > st.extreme + p.atr_k * ind.atr[i]
        t = lq.hysteresis(pos.target, p.side, c - ind.hh[i] > 0.0, exit_long, ind.ll[i] - c > 0.0, exit_short)
        if t != 0.0 and t != pos.target:
            st.extreme = c
        return t
