"""Per-symbol bar features over frozen arrays (compiled): returns and rolling mean / std of close.

Each symbol's segment ``[offsets[k], offsets[k+1])`` is treated on its own: the first return of a
symbol and the first ``window - 1`` rolling values are NaN. Rolling mean and std (ddof = 1) use
the streaming add/remove update of the mean and of the sum of squared deviations (Welford form,
no sum-of-squares cancellation), recomputed exactly every ``RESYNC`` bars so rounding cannot drift.
"""

from __future__ import annotations

import numba
import numpy as np

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
    for k in range(offsets.shape[0] - 1):
        a, b = offsets[k], offsets[k + 1]
        if a < b:
            returns[a] = np.nan
        for i in range(a + 1, b):
            returns[i] = (close[i] - close[i - 1]) / close[i - 1]
        m = 0.0
        m2 = 0.0
        for i in range(a, min(b, a + window - 1)):
            mean[i] = np.nan
            std[i] = np.nan
        for i in range(a + window - 1, b):
            step = i - (a + window - 1)
            if step % RESYNC == 0:
                m, m2 = _exact(close, i - window + 1, i + 1, window)
            else:
                x_new = close[i]
                x_old = close[i - window]
                m_new = m + (x_new - x_old) / window
                m2 += (x_new - x_old) * (x_new - m_new + x_old - m)
                m = m_new
            mean[i] = m
            std[i] = np.sqrt(max(m2, 0.0) / (window - 1)) if window > 1 else np.nan


def bar_features(close: np.ndarray, offsets: np.ndarray, window: int = 32) -> dict[str, np.ndarray]:
    """``returns``, ``roll_mean``, ``roll_std`` (float64, same length as ``close``)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    n = close.shape[0]
    out = {k: np.empty(n, dtype=np.float64) for k in ("returns", "roll_mean", "roll_std")}
    _features(np.ascontiguousarray(close, dtype=np.float64), np.ascontiguousarray(offsets, dtype=np.int64),
              window, out["returns"], out["roll_mean"], out["roll_std"])
    return out
