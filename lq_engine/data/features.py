"""Per-symbol bar features over frozen arrays (compiled): returns and rolling mean / std of close.

Each symbol's segment ``[offsets[k], offsets[k+1])`` is treated on its own: the first return of a
symbol and the first ``window - 1`` rolling values are NaN. Rolling std uses ddof = 1 and is
computed from the deviations around each window's mean (two passes per window), so it does not
lose precision on long series.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _features(close, offsets, window, returns, mean, std):
    for k in range(offsets.shape[0] - 1):
        a, b = offsets[k], offsets[k + 1]
        if a < b:
            returns[a] = np.nan
        for i in range(a + 1, b):
            returns[i] = close[i] / close[i - 1] - 1.0
        s = 0.0
        for i in range(a, b):
            s += close[i]
            if i - a >= window:
                s -= close[i - window]
            if i - a + 1 < window:
                mean[i] = np.nan
                std[i] = np.nan
                continue
            m = s / window
            # re-anchor the running sum now and then so its rounding error cannot drift
            if (i - a) % 1024 == 0:
                s = 0.0
                for j in range(i - window + 1, i + 1):
                    s += close[j]
                m = s / window
            acc = 0.0
            for j in range(i - window + 1, i + 1):
                d = close[j] - m
                acc += d * d
            mean[i] = m
            std[i] = np.sqrt(acc / (window - 1)) if window > 1 else np.nan


def bar_features(close: np.ndarray, offsets: np.ndarray, window: int = 32) -> dict[str, np.ndarray]:
    """``returns``, ``roll_mean``, ``roll_std`` (float64, same length as ``close``)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    n = close.shape[0]
    out = {k: np.empty(n, dtype=np.float64) for k in ("returns", "roll_mean", "roll_std")}
    _features(np.ascontiguousarray(close, dtype=np.float64), np.ascontiguousarray(offsets, dtype=np.int64),
              window, out["returns"], out["roll_mean"], out["roll_std"])
    return out
