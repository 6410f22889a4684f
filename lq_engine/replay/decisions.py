"""Targets decided at every bar's close by the shared rule (``rules.program_step``), compiled."""

from __future__ import annotations

import numpy as np
from numba import njit

from lq_engine.strategies.rules import program_step


@njit(cache=True)
def _decide(bank, ip, fp, out):
    pos = 0
    ext = 0.0
    for i in range(out.shape[0]):
        pos, ext = program_step(bank, ip, fp, i, pos, ext)
        out[i] = pos


def decide_targets(bank: np.ndarray, ip: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """int8 target per bar (-1, 0, +1): what the strategy wants held from the next open on."""
    out = np.empty(bank.shape[1], dtype=np.int8)
    _decide(bank, ip, fp, out)
    return out
