"""Shared test inputs: random bars as frozen arrays (seeded)."""

from __future__ import annotations

import numpy as np

from lq_engine.data.bars import Bars


def random_bars(n: int, seed: int, level: float = 100.0, vol: float = 0.01, gaps: bool = True) -> Bars:
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    op = np.empty(n)
    op[0] = close[0]
    op[1:] = close[:-1] * (np.exp(rng.normal(0.0, vol / 3, n - 1)) if gaps else 1.0)
    hi = np.maximum(op, close) * (1 + np.abs(rng.normal(0.0, vol / 2, n)))
    lo = np.minimum(op, close) * (1 - np.abs(rng.normal(0.0, vol / 2, n)))
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (op, hi, lo, close)]
    for a in arrays:
        a.setflags(write=False)
    return Bars(*arrays)
