"""Cheat: a centred moving average (half its window lies in the future)."""

import numpy as np

import lq_engine.api as lq


class CentredMa(lq.Strategy):
    window = lq.Int(3, 201, grid=(11, 21, 41))

    @lq.indicator
    def cma(bars, window):
        out = np.convolve(bars.close, np.ones(window) / window, mode="same")
        half = window // 2
        out[:half] = np.nan
        out[len(out) - half:] = np.nan
        return out

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        return 1.0 if bars.close[i] > ind.cma[i] else 0.0
