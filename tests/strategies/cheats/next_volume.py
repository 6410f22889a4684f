"""Cheat: long when the next bar trades more volume than this one (a volume-only peek)."""

import lq_engine.api as lq


class NextVolume(lq.Strategy):
    ratio = lq.Float(0.5, 2.0, step=0.25, grid=(1.0, 1.25))

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if i + 1 >= bars.volume.shape[0]:
            return 0.0
        return 1.0 if bars.volume[i + 1] > p.ratio * bars.volume[i] else 0.0
