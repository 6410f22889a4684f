"""Per-symbol bar features over frozen arrays (compiled): returns and rolling mean / std of close.

Each symbol's segment ``[offsets[k], offsets[k+1])`` is treated on its own: the first return of a
symbol and the first ``window - 1`` rolling values are NaN. Rolling mean and std (ddof = 1) use
the streaming add/remove update of the mean and of the sum of squared deviations (Welford form,
no sum-of-squares cancellation), recomputed exactly every ``RESYNC`` bars so rounding cannot drift.
The loops multiply by 1/window rather than divide, and take the square roots in a separate
vectorizable pass: the kernel is bound by memory traffic, not by dividers.
"""

from __future__ import annotations

import numba
import numpy as np

from lq_engine.errors import InputError

RESYNC = 256


@numba.njit(cache=True, nogil=True)
def _exact(close, lo, hi, window):
    s = 0.0
    for j in range(lo, hi):
        s += close[j]
    m = s / window
    m2 = 0.0
    for j in range(lo, hi):
        d = close[j] - m
        m2 += d * d
    return m, m2


@numba.njit(cache=True, nogil=True)
def _features(close, offsets, window, returns, mean, std):
    inv_w = 1.0 / window
    inv_w1 = 1.0 / (window - 1) if window > 1 else np.nan
    for k in range(offsets.shape[0] - 1):
        a, b = offsets[k], offsets[k + 1]
        if a < b:
            returns[a] = np.nan
        for i in range(a + 1, b):
            returns[i] = (close[i] - close[i - 1]) / close[i - 1]
        first = a + window - 1
        for i in range(a, min(b, first)):
            mean[i] = np.nan
            std[i] = np.nan
        # std holds the sum of squared deviations first; one vectorizable pass turns it into std
        s = first
        while s < b:
            e = min(b, s + RESYNC)
            m, m2 = _exact(close, s - window + 1, s + 1, window)
            mean[s] = m
            std[s] = m2
            for i in range(s + 1, e):
                x_new = close[i]
                x_old = close[i - window]
                d = x_new - x_old
                m_new = m + d * inv_w
                m2 += d * (x_new - m_new + x_old - m)
                m = m_new
                mean[i] = m
                std[i] = m2
            s = e
        for i in range(first, b):
            std[i] = np.sqrt(max(std[i], 0.0) * inv_w1)


def bar_features(close: np.ndarray, offsets: np.ndarray, window: int = 32) -> dict[str, np.ndarray]:
    """``returns``, ``roll_mean``, ``roll_std`` (float64, same length as ``close``; rows of one
    allocation)."""
    if window < 1:
        raise InputError(f"window must be >= 1, got {window}")
    n = close.shape[0]
    block = np.empty((3, n), dtype=np.float64)
    out = dict(zip(("returns", "roll_mean", "roll_std"), block))
    _features(np.ascontiguousarray(close, dtype=np.float64), np.ascontiguousarray(offsets, dtype=np.int64),
              window, out["returns"], out["roll_mean"], out["roll_std"])
    return out
