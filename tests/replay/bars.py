"""Frozen test series (seeded) for the replay tests."""

from __future__ import annotations

import numpy as np

from kernels.series import random_bars
from lq_engine.data.bars import Bars


def series(n: int, seed: int, vol: float = 0.01, volume_scale: float = 1e6) -> Bars:
    b = random_bars(n, seed, vol=vol)
    volume = np.random.default_rng(seed + 1).uniform(0.0, 1.0, n) * volume_scale
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return Bars.from_arrays("TEST", ts, b.open, b.high, b.low, b.close, volume)


def params_for(name: str, pick: int, side: str | None = None) -> dict:
    """A default-grid set of ``name`` (``pick`` modulo the grid), with ``side`` when it has one."""
    from lq_engine.strategies.registry import default_grid

    g = default_grid(name)
    p = dict(g[pick % len(g)])
    if side is not None and "side" in p:
        p["side"] = side
    return p


def prefilter_backends(name: str) -> tuple[str, ...]:
    """Every prefilter kernel that runs ``name``: its generated kernel, and, for a rule-vocabulary
    strategy, the numba rule kernel and the python reference as well."""
    from lq_engine.strategies.registry import resolve

    return ("python", "numba", "numba-api") if resolve(name).rules is not None else ("numba",)
