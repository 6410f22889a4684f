"""A 4-hour trend filter with 15-minute entries, on 1-minute bars (multi-timeframe indicators)."""

import lq_engine.api as lq


class MtfTrend(lq.Strategy):
    """Trades with the 4-hour trend only. Long while the last closed 4-hour bar closed above the
    EMA(`trend`) of 4-hour closes and the last closed 15-minute bar above the SMA(`entry`) of
    15-minute closes; out when either turns (short mirrored, per `side`). It runs on 1-minute bars;
    its 4h and 15m values change only when a bar of theirs closes, and a minute sees only bars that
    had closed by its own close (docs/how-to/multi-timeframe.md)."""

    timeframe = "1m"  # the bars it runs on; the 4h and 15m bars are resampled from them
    trend = lq.Int(2, 500, grid=(6, 12, 24))  # 4-hour bars
    entry = lq.Int(2, 500, grid=(4, 8, 16))  # 15-minute bars
    side = lq.Side()

    @lq.indicator(timeframe="4h")
    def trend_gap(bars, trend):
        return bars.close / lq.ta.ema(bars.close, trend) - 1.0

    @lq.indicator(timeframe="15m")
    def entry_gap(bars, entry):
        return bars.close / lq.ta.sma(bars.close, entry) - 1.0

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        t, e = ind.trend_gap[i], ind.entry_gap[i]  # NaN until a 4h (15m) bar has closed: no entry
        up, down = t > 0.0 and e > 0.0, t < 0.0 and e < 0.0
        return lq.hysteresis(pos.target, p.side, up, not up, down, not down)
