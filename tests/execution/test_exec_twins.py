"""The pure-Python twins of the fill math give bit-identical results to the compiled functions."""

import math

import numpy as np
from hypothesis import given, settings, strategies as st

from lq_engine.execution import fillmath as FM
from lq_engine.execution.fillmath import PY
from lq_engine.execution.twins import python_twins
from lq_engine.execution import sizing

price = st.floats(1e-3, 1e6, allow_nan=False)
maybe_price = st.one_of(st.just(math.nan), price)
qty = st.floats(0.0, 1e6, allow_nan=False)
rate = st.floats(0.0, 0.01, allow_nan=False)
bps = st.floats(0.0, 50.0, allow_nan=False)
side = st.sampled_from([1, -1])
signed = st.one_of(st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False))


def same(a, b) -> bool:
    """Bit-identical doubles (any NaN matches any NaN: payloads carry no meaning here; -0.0 differs
    from 0.0), elementwise over tuples; ints must be ints on both sides."""
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, int) != isinstance(b, int):
        return False
    if a != a:
        return b != b
    return np.float64(a).tobytes() == np.float64(b).tobytes()


S = settings(max_examples=300, deadline=None)


@S
@given(price, side, bps, bps, st.floats(0.0, 1.0), maybe_price, maybe_price, maybe_price)
def test_market_fill_price(ref, sd, spread, slip, k, ph, pl, pc):
    args = (ref, sd, spread, slip, k, ph, pl, pc)
    assert same(PY.market_fill_price(*args), FM.market_fill_price(*args))
    assert same(PY.volatility_fraction(ph, pl, pc), FM.volatility_fraction(ph, pl, pc))


@S
@given(st.sampled_from([0, 1]), price, side, qty, st.floats(1e-6, 1e6), st.floats(0.0, 1e3), rate, bps, bps,
       st.floats(0.0, 1.0), maybe_price, maybe_price, maybe_price)
def test_market_order_fill(basis, op, sd, q, oq, fixed, fee, spread, slip, k, ph, pl, pc):
    args = (basis, op, sd, q, oq, fixed, fee, spread, slip, k, ph, pl, pc)
    assert same(PY.market_order_fill(*args), FM.market_order_fill(*args))


@S
@given(qty, price, rate, st.floats(0.0, 1e9), st.sampled_from([0.01, 0.5, 1.0, math.inf]), qty, st.floats(-1e3, 1e6))
def test_fee_budget_cap(q, p, r, volume, cap, remaining, budget):
    assert same(PY.fill_fee(q, p, r), FM.fill_fee(q, p, r))
    assert same(PY.liquidity_budget(volume, cap), FM.liquidity_budget(volume, cap))
    assert same(PY.capped_quantity(remaining, budget), FM.capped_quantity(remaining, budget))


@S
@given(side, price, price, price, maybe_price, maybe_price, maybe_price)
def test_bracket_trigger(direction, op, hi, lo, stop, take, trail):
    args = (direction, op, max(op, hi), min(op, lo), stop, take, trail)
    assert same(PY.bracket_trigger(*args), FM.bracket_trigger(*args))


@S
@given(side, price, price, price, st.floats(1e-6, 1e3))
def test_trailing_update(direction, extreme, hi, lo, dist):
    args = (direction, extreme, hi, lo, dist)
    assert same(PY.trailing_update(*args), FM.trailing_update(*args))


@S
@given(st.floats(-1e6, 1e7, allow_nan=False), signed, maybe_price, side, st.floats(1e-9, 1e6), price,
       st.floats(0.0, 1e3))
def test_apply_fill_and_mark(cash, pos, avg, sd, q, p, fee):
    avg = math.nan if pos == 0.0 else (p if avg != avg else avg)  # a position always has an entry price
    assert same(PY.apply_fill(cash, pos, avg, sd, q, p, fee), FM.apply_fill(cash, pos, avg, sd, q, p, fee))
    assert same(PY.mark_to_market(cash, pos, p), FM.mark_to_market(cash, pos, p))


@settings(max_examples=400, deadline=None)
@given(st.floats(-1e5, 1e6, allow_nan=False), signed, st.one_of(st.just(0.0), st.floats(-1e4, 1e4)),
       st.sampled_from([-1, 0, 1]), price, maybe_price, maybe_price, maybe_price, st.sampled_from([0, 1]), rate,
       bps, bps, st.floats(0.0, 1.0), st.one_of(st.just(math.nan), st.floats(0.001, 0.5)),
       st.one_of(st.just(math.nan), st.floats(0.001, 0.5)), st.one_of(st.just(math.nan), st.floats(0.001, 0.5)))
def test_plan_orders(cash, units, pending, target, op, ph, pl, pc, basis, cost, spread, slip, k, sl, tp, tr):
    args = (cash, units, pending, target, op, ph, pl, pc, basis, cost, spread, slip, k, sl, tp, tr)
    assert same(sizing.plan_orders_py(*args), sizing.plan_orders(*args))


def test_twins_never_call_numba():
    """A twin's calls to other fill-math functions resolve to twins, not to numba dispatchers."""
    for twin in (PY.market_order_fill, PY.market_fill_price, sizing.plan_orders_py):
        for name in twin.__code__.co_names:
            target = twin.__globals__.get(name)
            assert not hasattr(target, "py_func"), (twin.__name__, name)
    twins = python_twins({"f": FM.fill_fee}, ["f"])
    assert twins["f"](2.0, 3.0, 0.5) == 3.0 and not hasattr(twins["f"], "py_func")
