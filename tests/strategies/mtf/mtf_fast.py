"""An honest multi-timeframe strategy on 1-minute bars with short higher timeframes (5m, 15m), so
that a few hundred bars close many higher bars: a same-timeframe chain (15m close -> 15m gap), a
base indicator taking a 15m one, and a 5m range from highs and lows."""

import lq_engine.api as lq


class MtfFast(lq.Strategy):
    timeframe = "1m"
    slow = lq.Int(2, 50, grid=(3, 5))
    fast = lq.Int(2, 50, grid=(3, 6))
    side = lq.Side(grid=("long", "both"))

    @lq.indicator(timeframe="15m")
    def q_close(bars):
        return bars.close

    @lq.indicator(timeframe="15m")
    def q_ma(bars, slow):
        return lq.ta.sma(bars.close, slow)

    @lq.indicator(timeframe="15m")
    def q_gap(bars, q_close, q_ma):  # an input of its own timeframe: per 15m bar
        return q_close / q_ma - 1.0

    @lq.indicator(timeframe="5m")
    def f_range(bars):
        return (bars.high - bars.low) / bars.close + 0.0 * bars.volume

    @lq.indicator
    def fast_ma(bars, fast):
        return lq.ta.sma(bars.close, fast)

    @lq.indicator
    def vs_quarter(bars, q_close):  # a base indicator taking a 15m one: on the base clock
        return bars.close / q_close - 1.0

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        calm = ind.f_range[i] < 0.05
        up = ind.q_gap[i] > 0.0 and bars.close[i] > ind.fast_ma[i] and ind.vs_quarter[i] > -0.02 and calm
        down = ind.q_gap[i] < 0.0 and bars.close[i] < ind.fast_ma[i]
        return lq.hysteresis(pos.target, p.side, up, not up, down, not down)
