"""Frozen test series (seeded) for the replay tests."""

from __future__ import annotations

import numpy as np

from kernels.series import random_bars
from lq_engine.replay.engine import Series


def series(n: int, seed: int, vol: float = 0.01, volume_scale: float = 1e6) -> Series:
    b = random_bars(n, seed, vol=vol)
    volume = np.random.default_rng(seed + 1).uniform(0.0, 1.0, n) * volume_scale
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return Series.from_arrays("TEST", ts, b.open, b.high, b.low, b.close, volume)
