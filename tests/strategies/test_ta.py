"""lq.ta: every indicator is causal (bar i never depends on a later bar) and the windowed
regressions equal their textbook definitions."""

import numpy as np
import pytest

import lq_engine.api as lq

RNG = np.random.default_rng(7)
N = 600
CLOSE = 100 * np.exp(np.cumsum(RNG.normal(0, 0.01, N)))
HIGH = CLOSE * (1 + RNG.uniform(0, 0.01, N))
LOW = CLOSE * (1 - RNG.uniform(0, 0.01, N))
VOLUME = RNG.uniform(1e3, 1e4, N)
OTHER = 0.8 * np.log(CLOSE) + RNG.normal(0, 0.01, N)

CALLS = {
    "sma": lambda c, h, lo, v, o: lq.ta.sma(c, 20),
    "ema": lambda c, h, lo, v, o: lq.ta.ema(c, 20),
    "rsi": lambda c, h, lo, v, o: lq.ta.rsi(c, 14),
    "atr": lambda c, h, lo, v, o: lq.ta.atr(h, lo, c, 14),
    "zscore": lambda c, h, lo, v, o: lq.ta.zscore(c, 30),
    "rolling_std": lambda c, h, lo, v, o: lq.ta.rolling_std(c, 30),
    "highest": lambda c, h, lo, v, o: lq.ta.highest(h, 30),
    "lowest": lambda c, h, lo, v, o: lq.ta.lowest(lo, 30),
    "prev_highest": lambda c, h, lo, v, o: lq.ta.prev_highest(h, 30),
    "prev_lowest": lambda c, h, lo, v, o: lq.ta.prev_lowest(lo, 30),
    "returns": lambda c, h, lo, v, o: lq.ta.returns(c),
    "roc": lambda c, h, lo, v, o: lq.ta.roc(c, 10),
    "ewm_vol": lambda c, h, lo, v, o: lq.ta.ewm_vol(c, 20),
    "vwap": lambda c, h, lo, v, o: lq.ta.vwap(h, lo, c, v, 20),
    "rolling_beta": lambda c, h, lo, v, o: lq.ta.rolling_beta(np.log(c), o, 50),
}


def test_every_indicator_is_listed_here():
    assert set(CALLS) == set(lq.ta.__all__) - {"rolling_zscore"}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_an_indicator_never_reads_a_later_bar(name):
    base = CALLS[name](CLOSE, HIGH, LOW, VOLUME, OTHER)
    cut = 400
    future = [a.copy() for a in (CLOSE, HIGH, LOW, VOLUME, OTHER)]
    for a in future:
        a[cut + 1:] *= 1.37
    changed = CALLS[name](*future)
    np.testing.assert_array_equal(base[:cut + 1], changed[:cut + 1])
    assert np.isfinite(base[cut])


def _beta(y, x, w):
    out = np.full(len(y), np.nan)
    for i in range(w - 1, len(y)):
        xs, ys = x[i - w + 1:i + 1], y[i - w + 1:i + 1]
        if np.isnan(xs).any() or np.isnan(ys).any():
            continue
        dx = xs - xs.mean()
        if (dx * dx).sum() > 0:
            out[i] = (dx * (ys - ys.mean())).sum() / (dx * dx).sum()
    return out


@pytest.mark.parametrize("window", [3, 20, 250])
def test_rolling_beta_is_the_least_squares_slope_with_nan_windows_left_out(window):
    y, x = np.log(CLOSE).copy(), OTHER.copy()
    y[100] = np.nan
    x[300:305] = np.nan
    got, want = lq.ta.rolling_beta(y, x, window), _beta(y, x, window)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-9, atol=1e-12)
    flat = np.full(50, 3.3)
    assert np.isnan(lq.ta.rolling_beta(2 * flat, flat, 10)).all()  # x does not vary


@pytest.mark.parametrize("window", [1, 2, 30, 200])
def test_rolling_std_and_zscore_are_the_population_definitions(window):
    x = CLOSE.copy()
    x[50] = np.nan
    x[400:420] = 123.0  # a flat stretch: std exactly 0, z exactly 0
    want_sd = np.full(N, np.nan)
    want_z = np.full(N, np.nan)
    for i in range(window - 1, N):
        w = x[i - window + 1:i + 1]
        want_sd[i] = w.std()
        want_z[i] = (x[i] - w.mean()) / w.std() if w.std() > 0 else (np.nan if np.isnan(w).any() else 0.0)
    sd, z = lq.ta.rolling_std(x, window), lq.ta.zscore(x, window)
    for got, want in ((sd, want_sd), (z, want_z)):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-7, atol=1e-9)
    if window <= 20:
        assert sd[419] == 0.0 and z[419] == 0.0


@pytest.mark.parametrize("name", sorted(CALLS))
def test_leading_nans_start_the_indicator_late_as_if_the_series_began_there(name):
    lead = 57
    full = CALLS[name](CLOSE, HIGH, LOW, VOLUME, OTHER)
    pad = [np.r_[np.full(lead, np.nan), a] for a in (CLOSE, HIGH, LOW, VOLUME, OTHER)]
    late = CALLS[name](*pad)
    assert np.isnan(late[:lead]).all()
    np.testing.assert_allclose(late[lead:], full, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert np.isfinite(late[-1])
