"""Bollinger z-score mean reversion."""

import lq_engine.api as lq
from lq_engine.authoring.declare import rules
from lq_engine.kernels.rules import ZERO_ROW, program


class Bollinger(lq.Strategy):
    """Bollinger z-score mean reversion: long when z < -entry_z until z > -exit_z; short mirrors it."""

    window = lq.Int(2, 100_000, grid=range(10, 61, 10))
    entry_z = lq.Float(0.0, 100.0, grid=(1.5, 2.0, 2.5, 3.0))
    exit_z = lq.Float(-100.0, 100.0, grid=(0.0, 0.5, 1.0))
    side = lq.Side()
    constraints = [lq.less("exit_z", "entry_z")]

    @lq.indicator
    def z(bars, window):
        return lq.ta.zscore(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        z = ind.z[i]
        return lq.hysteresis(pos.target, p.side,
                             0.0 - z > p.entry_z,  # z < -entry
                             z - 0.0 > -p.exit_z,  # z > -exit
                             z - 0.0 > p.entry_z,  # z > entry
                             0.0 - z > -p.exit_z)  # z < exit

    @rules
    def rules(row, p):
        z = row("z")
        return program(p["side"], (ZERO_ROW, z, p["entry_z"]), (z, ZERO_ROW, -p["exit_z"]),
                       (z, ZERO_ROW, p["entry_z"]), (ZERO_ROW, z, -p["exit_z"]))
