"""max_drawdown_duration (vectorized) equals the plain loop definition."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lq_engine.kernels.metrics import max_drawdown_duration


def _loop(e: np.ndarray) -> int:
    peak, best, run = -np.inf, 0, 0
    for x in e:
        peak = max(peak, x)
        run = run + 1 if x < peak else 0
        best = max(best, run)
    return best


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=0, max_size=300))
def test_matches_the_loop(values):
    e = np.array(values, dtype=np.float64)
    assert max_drawdown_duration(e) == _loop(e)


def test_known_cases():
    assert max_drawdown_duration(np.array([1.0, 2.0, 3.0])) == 0
    assert max_drawdown_duration(np.array([3.0, 2.0, 1.0])) == 2
    assert max_drawdown_duration(np.array([1.0, 0.5, 0.7, 1.0, 0.9, 1.2])) == 2  # back at the peak ends it
