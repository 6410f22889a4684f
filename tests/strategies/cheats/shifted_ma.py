"""Cheat: a moving average shifted backward (``np.roll(sma, -k)``: bar i sees the average k bars on)."""

import numpy as np

import lq_engine.api as lq


class ShiftedMa(lq.Strategy):
    window = lq.Int(2, 100, grid=(10, 20))
    shift = lq.Int(1, 10, grid=(1, 3))

    @lq.indicator
    def ahead(bars, window, shift):
        ma = lq.ta.sma(bars.close, window)
        out = np.roll(ma, -shift)
        out[len(out) - shift:] = np.nan
        return out

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        return 1.0 if ind.ahead[i] > bars.close[i] else 0.0
