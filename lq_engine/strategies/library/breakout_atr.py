"""Rolling breakout with an ATR protective stop."""

import math

import lq_engine.api as lq


class BreakoutAtr(lq.Strategy):
    """Long when the close breaks above the highest high of the previous `window` bars, out below the
    lowest low of the previous `exit_window` bars. Each entry carries a protective stop `atr_k` ATRs
    away and a trailing stop of the same distance (``exits``: orders the venue executes intrabar)."""

    window = lq.Int(2, 1_000, grid=(20, 55, 100))
    exit_window = lq.Int(2, 1_000, grid=(10, 20))
    atr_window = lq.Int(2, 500, grid=(14,))
    atr_k = lq.Float(0.5, 10.0, step=0.5, grid=(2.0, 3.0))
    side = lq.Side()
    constraints = [lq.less_equal("exit_window", "window")]

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
        return lq.hysteresis(pos.target, p.side, c > ind.hh[i], c < ind.exit_ll[i], c < ind.ll[i], c > ind.exit_hh[i])

    @lq.exits
    def exits(i, bars, ind, p, pos, st):
        d = p.atr_k * ind.atr[i] / bars.close[i]  # the stop distance as a fraction of the price
        if not (d > 0.0 and d < 1.0):
            return math.nan, math.nan, math.nan
        return d, math.nan, d
