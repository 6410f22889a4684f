"""A CHEAT (tests only): long when the NEXT bar closes higher, read as ``bars.close[i + 1]`` with no
guard. In one pass over a series it sees the future at every bar but the last; streamed, the next
bar is never in memory (the read hits the padding after the visible bars: NaN, so it stays flat)."""

import lq_engine.api as lq


class NextBar(lq.Strategy):
    """Long before every up bar, flat before every down bar."""

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        return 1.0 if bars.close[i + 1] > bars.close[i] else 0.0
