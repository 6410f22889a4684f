import numpy as np
from hypothesis import given, settings, strategies as st

from lq_engine.authoring import ta as ind
from lq_engine.data.bars import Bars
from lq_engine.strategies import compile_sweep, default_grid, resolve
from lq_engine.kernels.rules import decide_positions
from kernels.series import random_bars

STRATS = ["ma_cross", "rsi", "bollinger", "donchian_atr"]


def _sample_params(name, k, seed, side):
    g = default_grid(name)
    idx = np.random.default_rng(seed).choice(len(g), size=min(k, len(g)), replace=False)
    return [dict(g[i], side=side) for i in sorted(idx)]


def _truncate(b: Bars, m: int) -> Bars:
    arrs = [np.array(getattr(b, f)[:m]) for f in ("open", "high", "low", "close")]
    return Bars(*arrs)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(STRATS), st.sampled_from(["long", "short", "both"]), st.integers(0, 10_000),
       st.integers(5, 250))
def test_no_lookahead_truncation_keeps_decisions(name, side, seed, cut):
    """Decisions up to bar cut-1 are the same whether or not later bars exist."""
    full = random_bars(260, seed, vol=0.02)
    params = _sample_params(name, 3, seed, side)
    a = compile_sweep(name, params, full)
    b = compile_sweep(name, params, _truncate(full, cut))
    for k in range(len(params)):
        pa = decide_positions(a.bank, a.ip[k], a.fp[k])
        pb = decide_positions(b.bank, b.ip[k], b.fp[k])
        assert np.array_equal(pa[:cut], pb)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 150))
def test_indicators_are_causal(seed, cut):
    b = random_bars(160, seed)
    t = _truncate(b, cut)
    for full, part in [
        (ind.sma(b.close, 7), ind.sma(t.close, 7)),
        (ind.rolling_zscore(b.close, 9), ind.rolling_zscore(t.close, 9)),
        (ind.rsi(b.close, 5), ind.rsi(t.close, 5)),
        (ind.prev_highest(b.high, 6), ind.prev_highest(t.high, 6)),
        (ind.prev_lowest(b.low, 6), ind.prev_lowest(t.low, 6)),
        (ind.atr(b.high, b.low, b.close, 4), ind.atr(t.high, t.low, t.close, 4)),
    ]:
        np.testing.assert_array_equal(full[:cut], part)


def test_ma_cross_long_follows_fast_above_slow():
    b = random_bars(400, 3)
    sw = compile_sweep("ma_cross", [{"fast": 5, "slow": 20}], b)
    pos = decide_positions(sw.bank, sw.ip[0], sw.fp[0])
    f, s = ind.sma(b.close, 5), ind.sma(b.close, 20)
    valid = ~np.isnan(s)
    assert np.all(pos[~valid] == 0)
    assert np.array_equal(pos[valid] == 1, (f > s)[valid])  # no exact ties on random data


def test_both_sides_reverse_and_short_only_never_goes_long():
    b = random_bars(400, 4)
    both = compile_sweep("ma_cross", [{"fast": 5, "slow": 20, "side": "both"}], b)
    short = compile_sweep("ma_cross", [{"fast": 5, "slow": 20, "side": "short"}], b)
    pb = decide_positions(both.bank, both.ip[0], both.fp[0])
    ps = decide_positions(short.bank, short.ip[0], short.fp[0])
    assert (pb == 1).any() and (pb == -1).any()
    assert (ps <= 0).all() and (ps == -1).any()
    assert np.array_equal(ps, np.where(pb == -1, -1, 0))


def test_rsi_thresholds_enter_and_exit():
    b = random_bars(500, 5, vol=0.02)
    sw = compile_sweep("rsi", [{"period": 10, "lower": 35.0, "upper": 65.0}], b)
    pos = decide_positions(sw.bank, sw.ip[0], sw.fp[0])
    r = ind.rsi(b.close, 10)
    entries = np.flatnonzero((pos[1:] == 1) & (pos[:-1] == 0)) + 1
    exits = np.flatnonzero((pos[1:] == 0) & (pos[:-1] == 1)) + 1
    assert entries.size > 0 and exits.size > 0
    assert (r[entries] < 35).all() and (r[exits] > 65).all()


def test_donchian_atr_stop_exits_on_a_pullback():
    # a steady climb (breakouts) followed by a sharp drop: the ATR stop must take the position off
    close = np.concatenate([100 + np.arange(60) * 0.5, 130 - np.arange(1, 21) * 3.0])
    b = Bars.from_close(close)
    p = {"window": 10, "exit_window": 10, "atr_window": 5, "atr_k": 2.0}
    sw = compile_sweep("donchian_atr", [p], b)
    pos = decide_positions(sw.bank, sw.ip[0], sw.fp[0])
    assert pos[20] == 1
    first_flat = 10 + int(np.argmax(pos[10:] == 0))
    assert 60 <= first_flat <= 62  # within the first bars of the drop, before the exit channel would
    atr = sw.bank[sw.rows.keys[("atr", 5)]]
    ext = close[:first_flat + 1].max()
    assert close[first_flat] < ext - 2.0 * atr[first_flat]


def test_every_strategy_compiles_with_every_side():
    b = random_bars(120, 9)
    for name in STRATS:
        for side in ("long", "short", "both"):
            sw = compile_sweep(name, _sample_params(name, 4, 1, side), b)
            assert sw.ip.shape == (4, 9) and sw.fp.shape == (4, 5)
            assert resolve(name).description


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(STRATS), st.sampled_from(["long", "short", "both"]), st.integers(0, 10_000),
       st.integers(2, 400), st.sampled_from([0.003, 0.02, 0.05]))
def test_rule_front_end_makes_the_api_decisions(name, side, seed, n, vol):
    """The shipped four are written with the public API and also declare a rule program (what C, Rust
    and the numba rule kernel run): both forms decide the same target at every bar."""
    bars = random_bars(n, seed, vol=vol)
    spec = resolve(name)
    for p in _sample_params(name, 3, seed, side):
        sw = compile_sweep(name, [p], bars)
        rule = decide_positions(sw.bank, sw.ip[0], sw.fp[0]).astype(np.float64)
        api = spec.decisions(p, bars).targets
        assert np.array_equal(rule, api), (p, np.flatnonzero(rule != api)[:5])
