"""``lq.ta``: causal indicators for strategy authors. The value at bar i uses bars 0..i only (NaN
until enough history exists), so a strategy built on them cannot read the future. Leading NaNs (a
panel symbol before its first bar) are skipped: an indicator starts where its input does. After
that, a window holding a NaN gives NaN (the windowed ones), and a NaN carries on in the recursive
ones (``ema``, ``rsi``, ``atr``, ``ewm_vol``).

Each is a numba function over 1-D float64 arrays, callable from an ``@lq.indicator`` (numpy or
numba) and computed once per distinct argument tuple across a grid.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _sma(x, window):
    n = x.shape[0]
    out = np.full(n, np.nan)
    s = 0.0
    bad = 0  # NaNs in the window
    for i in range(n):
        if x[i] == x[i]:
            s += x[i]
        else:
            bad += 1
        if i >= window:
            if x[i - window] == x[i - window]:
                s -= x[i - window]
            else:
                bad -= 1
        if i >= window - 1 and bad == 0:
            out[i] = s / window
    return out


@njit(cache=True, nogil=True)
def _mean_var(x, window):
    """Trailing-window mean and population variance, O(n): sliding sums of deviations from a reference
    value in the window, summed afresh about a new reference every ``window`` bars (rounding cannot
    build up, a drifting level cannot cancel digits away). A window whose values are all equal has
    variance exactly 0 (counted exactly: the bars whose value differs from the previous one); a NaN
    in the window gives NaN."""
    n = x.shape[0]
    mean = np.full(n, np.nan)
    var = np.full(n, np.nan)
    x0 = 0.0
    sx = 0.0
    sxx = 0.0
    bad = 0  # NaNs in the window
    moves = 0  # bars j in the window (but its first) with x[j] != x[j - 1]
    for i in range(n):
        if i % window == 0:
            x0 = np.nan
            for j in range(max(i - window + 1, 0), i + 1):
                if x[j] == x[j]:
                    x0 = x[j]
                    break
            sx = 0.0
            sxx = 0.0
            bad = 0
            for j in range(max(i - window + 1, 0), i):
                if x[j] == x[j]:
                    d = x[j] - x0
                    sx += d
                    sxx += d * d
                else:
                    bad += 1
        elif i >= window:
            j = i - window
            if x[j] == x[j]:
                d = x[j] - x0
                sx -= d
                sxx -= d * d
            else:
                bad -= 1
        if x[i] == x[i]:
            d = x[i] - x0
            sx += d
            sxx += d * d
        else:
            bad += 1
        if i >= 1 and x[i] != x[i - 1]:
            moves += 1
        if i >= window and x[i - window + 1] != x[i - window]:
            moves -= 1
        if i >= window - 1 and bad == 0:
            m = sx / window
            mean[i] = x0 + m
            var[i] = max(sxx / window - m * m, 0.0) if moves > 0 else 0.0
    return mean, var


@njit(cache=True, nogil=True)
def rolling_zscore(x, window):
    """(x - mean) / std over the trailing window (population std); 0 if std is 0."""
    mean, var = _mean_var(x, window)
    out = np.full(x.shape[0], np.nan)
    for i in range(window - 1, x.shape[0]):
        if var[i] == var[i]:
            sd = np.sqrt(var[i])
            out[i] = (x[i] - mean[i]) / sd if sd > 0.0 else 0.0
    return out


@njit(cache=True, nogil=True)
def _rsi(close, period):
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def prev_lowest(low, window):
    """Lowest low of the ``window`` bars BEFORE bar i: ``prev_highest`` mirrored (negation is exact)."""
    return -prev_highest(-low, window)


@njit(cache=True, nogil=True)
def _atr(high, low, close, period):
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


@njit(cache=True, nogil=True)
def _ema(x, span):
    """Exponential moving average, alpha = 2 / (span + 1), seeded with the mean of the first ``span`` values."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if n < span or span < 1:
        return out
    a = 2.0 / (span + 1.0)
    s = 0.0
    for i in range(span):
        s += x[i]
    m = s / span
    out[span - 1] = m
    for i in range(span, n):
        m = m + a * (x[i] - m)
        out[i] = m
    return out


@njit(cache=True, nogil=True)
def rolling_std(x, window):
    """Population standard deviation over the trailing window."""
    return np.sqrt(_mean_var(x, window)[1])


@njit(cache=True, nogil=True)
def highest(x, window):
    """Highest value of the ``window`` bars ending at bar i (bar i included)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(window - 1, n):
        m = x[i - window + 1]
        for j in range(i - window + 2, i + 1):
            if x[j] > m:
                m = x[j]
        out[i] = m
    return out


@njit(cache=True, nogil=True)
def lowest(x, window):
    """Lowest value of the ``window`` bars ending at bar i (bar i included)."""
    return -highest(-x, window)


@njit(cache=True, nogil=True)
def returns(close):
    """Simple close-to-close returns; NaN at bar 0."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    for i in range(1, n):
        out[i] = close[i] / close[i - 1] - 1.0
    return out


@njit(cache=True, nogil=True)
def _ewm_vol(close, span):
    """Exponentially weighted volatility of close-to-close returns (per bar, not annualized):
    sqrt of the EMA of squared returns, alpha = 2 / (span + 1), seeded over the first ``span`` returns."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n <= span or span < 1:
        return out
    a = 2.0 / (span + 1.0)
    s = 0.0
    for i in range(1, span + 1):
        r = close[i] / close[i - 1] - 1.0
        s += r * r
    v = s / span
    out[span] = np.sqrt(v)
    for i in range(span + 1, n):
        r = close[i] / close[i - 1] - 1.0
        v = v + a * (r * r - v)
        out[i] = np.sqrt(v)
    return out


@njit(cache=True, nogil=True)
def vwap(high, low, close, volume, window):
    """Rolling volume-weighted average of the typical price (high + low + close) / 3 over ``window``
    bars; the plain mean of the typical price where the window has no volume."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    for i in range(window - 1, n):
        pv = 0.0
        vv = 0.0
        tp_sum = 0.0
        for j in range(i - window + 1, i + 1):
            tp = (high[j] + low[j] + close[j]) / 3.0
            pv += tp * volume[j]
            vv += volume[j]
            tp_sum += tp
        out[i] = pv / vv if vv > 0.0 else tp_sum / window
    return out


@njit(cache=True, nogil=True)
def roc(x, window):
    """Rate of change over ``window`` bars: x[i] / x[i - window] - 1."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(window, n):
        out[i] = x[i] / x[i - window] - 1.0
    return out


@njit(cache=True, nogil=True)
def rolling_beta(y, x, window):
    """Slope of the least-squares line y = a + b x over the trailing ``window`` bars; NaN where the
    window holds a NaN or x does not vary. O(n): sliding sums of the deviations from a reference point,
    summed afresh (about a new reference in the window) every ``window`` bars so that neither rounding
    nor a drifting level can build up."""
    n = y.shape[0]
    out = np.full(n, np.nan)
    x0 = np.nan
    y0 = np.nan
    for i in range(n):
        if x[i] == x[i] and y[i] == y[i]:
            x0 = x[i]
            y0 = y[i]
            break
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    sxy = 0.0
    bad = 0  # NaNs in the window
    for i in range(n):
        if i % window == 0 and i >= window:  # fresh sums over (i - window, i), about a new reference
            for j in range(i - window + 1, i + 1):
                if x[j] == x[j] and y[j] == y[j]:
                    x0 = x[j]
                    y0 = y[j]
                    break
            sx = 0.0
            sy = 0.0
            sxx = 0.0
            sxy = 0.0
            bad = 0
            for j in range(i - window + 1, i):
                if x[j] == x[j] and y[j] == y[j]:
                    dx = x[j] - x0
                    dy = y[j] - y0
                    sx += dx
                    sy += dy
                    sxx += dx * dx
                    sxy += dx * dy
                else:
                    bad += 1
        else:
            if i >= window:
                j = i - window
                if x[j] == x[j] and y[j] == y[j]:
                    dx = x[j] - x0
                    dy = y[j] - y0
                    sx -= dx
                    sy -= dy
                    sxx -= dx * dx
                    sxy -= dx * dy
                else:
                    bad -= 1
        if x[i] == x[i] and y[i] == y[i]:
            dx = x[i] - x0
            dy = y[i] - y0
            sx += dx
            sy += dy
            sxx += dx * dx
            sxy += dx * dy
        else:
            bad += 1
        if i >= window - 1 and bad == 0:
            vxx = sxx - sx * sx / window
            if vxx > 1e-12 * sxx:
                out[i] = (sxy - sx * sy / window) / vxx
    return out


# -- the public forms: leading NaNs skipped ---------------------------------------------------------
# A panel symbol has NaN before its first bar; a running or recursive indicator starts at the first
# bar where its inputs are finite, as if the series began there (NaN before it).


@njit(cache=True, nogil=True)
def _start(x):
    for i in range(x.shape[0]):
        if x[i] == x[i]:
            return i
    return x.shape[0]


@njit(cache=True, nogil=True, inline="always")
def _from(n, f, values):
    """``values`` from bar ``f`` on, NaN before it (n bars in all)."""
    out = np.full(n, np.nan)
    out[f:] = values
    return out


@njit(cache=True, nogil=True)
def sma(x, window):
    """Simple moving average over the trailing ``window`` bars."""
    f = _start(x)
    return _from(x.shape[0], f, _sma(x[f:], window))


@njit(cache=True, nogil=True)
def ema(x, span):
    """Exponential moving average, alpha = 2 / (span + 1), seeded with the mean of the first ``span`` values."""
    f = _start(x)
    return _from(x.shape[0], f, _ema(x[f:], span))


@njit(cache=True, nogil=True)
def rsi(close, period):
    """Wilder's RSI (0..100): averages seeded with the mean of the first ``period`` changes."""
    f = _start(close)
    return _from(close.shape[0], f, _rsi(close[f:], period))


@njit(cache=True, nogil=True)
def atr(high, low, close, period):
    """Wilder's average true range; first value ``period`` bars after the start (mean of true ranges 1..period)."""
    f = max(_start(high), _start(low), _start(close))
    return _from(close.shape[0], f, _atr(high[f:], low[f:], close[f:], period))


@njit(cache=True, nogil=True)
def ewm_vol(close, span):
    """Exponentially weighted volatility of close-to-close returns (per bar, not annualized): sqrt of
    the EMA of squared returns, alpha = 2 / (span + 1), seeded over the first ``span`` returns."""
    f = _start(close)
    return _from(close.shape[0], f, _ewm_vol(close[f:], span))


zscore = rolling_zscore

__all__ = ["atr", "ema", "ewm_vol", "highest", "lowest", "prev_highest", "prev_lowest", "returns", "roc",
           "rolling_beta", "rolling_std", "rolling_zscore", "rsi", "sma", "vwap", "zscore"]
