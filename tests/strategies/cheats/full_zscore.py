"""Cheat: a z-score of the close against the mean and deviation of the whole sample."""

import numpy as np

import lq_engine.api as lq


class FullZscore(lq.Strategy):
    entry = lq.Float(0.0, 3.0, step=0.5, grid=(0.5, 1.0))

    @lq.indicator
    def z(bars):
        c = np.asarray(bars.close)
        return (c - c.mean()) / c.std()

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if ind.z[i] < -p.entry:
            return 1.0
        if ind.z[i] > p.entry:
            return 0.0
        return pos.target
