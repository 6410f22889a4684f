"""Causal indicators: the value at bar i uses bars 0..i only; NaN until enough history exists.

Computed once per series into the indicator bank (numba, single pass), then shared by every backend,
so no backend re-implements them.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def sma(x, window):
    n = x.shape[0]
    out = np.full(n, np.nan)
    s = 0.0
    for i in range(n):
        s += x[i]
        if i >= window:
            s -= x[i - window]
        if i >= window - 1:
            out[i] = s / window
    return out


@njit(cache=True)
def rolling_zscore(x, window):
    """(x - mean) / std over the trailing window (population std, two-pass per window); 0 if std is 0."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(window - 1, n):
        m = 0.0
        for j in range(i - window + 1, i + 1):
            m += x[j]
        m /= window
        v = 0.0
        for j in range(i - window + 1, i + 1):
            d = x[j] - m
            v += d * d
        sd = np.sqrt(v / window)
        out[i] = (x[i] - m) / sd if sd > 0.0 else 0.0
    return out


@njit(cache=True)
def rsi(close, period):
    """Wilder's RSI (0..100): averages seeded with the mean of the first ``period`` changes."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n <= period:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, period + 1):
        d = close[i] - close[i - 1]
        if d > 0.0:
            gain += d
        else:
            loss -= d
    gain /= period
    loss /= period
    for i in range(period, n):
        if i > period:
            d = close[i] - close[i - 1]
            g = d if d > 0.0 else 0.0
            lo = -d if d < 0.0 else 0.0
            gain = (gain * (period - 1) + g) / period
            loss = (loss * (period - 1) + lo) / period
        if loss == 0.0:
            out[i] = 50.0 if gain == 0.0 else 100.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + gain / loss)
    return out


@njit(cache=True)
def prev_highest(high, window):
    """Highest high of the ``window`` bars BEFORE bar i (excludes bar i: a breakout compares to it)."""
    n = high.shape[0]
    out = np.full(n, np.nan)
    for i in range(window, n):
        m = high[i - window]
        for j in range(i - window + 1, i):
            if high[j] > m:
                m = high[j]
        out[i] = m
    return out


@njit(cache=True)
def prev_lowest(low, window):
    """Lowest low of the ``window`` bars BEFORE bar i: ``prev_highest`` mirrored (negation is exact)."""
    return -prev_highest(-low, window)


@njit(cache=True)
def atr(high, low, close, period):
    """Wilder's average true range; first value at bar ``period`` (mean of true ranges 1..period)."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n <= period:
        return out
    a = 0.0
    for i in range(1, n):
        tr = high[i] - low[i]
        up = abs(high[i] - close[i - 1])
        dn = abs(low[i] - close[i - 1])
        if up > tr:
            tr = up
        if dn > tr:
            tr = dn
        if i <= period:
            a += tr
            if i == period:
                a /= period
                out[i] = a
        else:
            a = (a * (period - 1) + tr) / period
            out[i] = a
    return out
