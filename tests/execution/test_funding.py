"""The funding rule (``execution.funding``): its pure-Python twin is bit-identical to the compiled
function, and the events land on the bar clock the same way whole (``per_bar``) and bar by bar
(``between``, a live feed)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lq_engine.errors import InputError
from lq_engine.execution import funding as FU
from lq_engine.execution.funding import PY, FundingRates, funding_per_bar

from test_exec_twins import same

H = 3_600_000_000_000  # one hour in ns


@settings(max_examples=80, deadline=None)
@given(st.one_of(st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False)), st.floats(1e-3, 1e6, allow_nan=False),
       st.one_of(st.just(0.0), st.just(math.nan), st.floats(-0.01, 0.01, allow_nan=False)),
       st.floats(-1e9, 1e9, allow_nan=False))
def test_twin_is_bit_identical(pos, mark, rate, cash):
    assert same(PY.funding_payment(pos, mark, rate), FU.funding_payment(pos, mark, rate))
    assert same(PY.apply_funding(cash, pos, mark, rate), FU.apply_funding(cash, pos, mark, rate))


def test_sign_convention():
    """Positive rate: a long pays, a short receives; flat or no rate: nothing."""
    assert PY.apply_funding(1000.0, 2.0, 100.0, 0.001) == (1000.0 - 0.2, 2.0 * 100.0 * 0.001)
    cash, paid = PY.apply_funding(1000.0, -2.0, 100.0, 0.001)
    assert paid == -0.2 and cash == 1000.2
    assert PY.apply_funding(1000.0, 0.0, 100.0, 0.001) == (1000.0, 0.0)
    assert PY.apply_funding(1000.0, 2.0, 100.0, math.nan) == (1000.0, 0.0)


def test_per_bar_rule_on_hourly_bars():
    """ts[k-1] < T <= ts[k] -> bar k; at/before the first open or after the last open: not applied;
    two events between two bars (a gap) add up."""
    bars = np.arange(6, dtype=np.int64) * H  # opens 0h .. 5h
    f = FundingRates(np.array([0, 1 * H, 2 * H + 1, 4 * H - 5, 4 * H, 9 * H]),
                     np.array([9.0, 0.1, 0.2, 0.3, 0.4, 9.0]) * 1e-3)
    got = f.per_bar(bars)
    np.testing.assert_array_equal(got, np.array([0.0, 0.1e-3, 0.0, 0.2e-3, 0.3e-3 + 0.4e-3, 0.0]))
    assert not got.flags.writeable


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=40), st.lists(st.integers(0, 2_000), max_size=60),
       st.integers(0, 2**32))
def test_streaming_between_equals_per_bar(steps, events, seed):
    """The paper trader's bar-by-bar rule gives the replay's array, bit for bit."""
    bars = np.cumsum(np.array(steps, dtype=np.int64))
    t = np.unique(np.array(events, dtype=np.int64))
    r = np.random.default_rng(seed).normal(0, 1e-4, t.size)
    f = FundingRates(t, r)
    whole = f.per_bar(bars)
    one = [f.between(None, int(bars[0]))] + [f.between(int(a), int(b)) for a, b in zip(bars[:-1], bars[1:])]
    assert whole.tobytes() == np.array(one).tobytes()


def test_bad_events_name_the_field_and_row():
    with pytest.raises(InputError, match=r"funding rates BTC: field 'ts' row 2 is not after row 1"):
        FundingRates(np.array([1, 3, 3]), np.zeros(3), "BTC")
    with pytest.raises(InputError, match=r"field 'funding_rate' row 1 is nan"):
        FundingRates(np.array([1, 2]), np.array([0.0, math.nan]))
    with pytest.raises(InputError, match=r"funding per bar: bar 1 has rate inf"):
        funding_per_bar(np.array([0.0, math.inf]), np.arange(2))
    assert funding_per_bar(None, np.arange(3)).tolist() == [0.0, 0.0, 0.0]


def test_twin_never_calls_numba():
    """The event engine books funding without a numba dispatch: the twin calls the other twin."""
    for name in PY.apply_funding.__code__.co_names:
        assert not hasattr(PY.apply_funding.__globals__.get(name), "py_func"), name
