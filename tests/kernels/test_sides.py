"""The kernels' side tests: ``new_side`` (one branch-free expression, for speed) says exactly what
"non-zero and on another side than before, flat being a side" says with ``sign``."""

import math

from hypothesis import given, settings, strategies as st

from lq_engine.execution.sides import new_side, sign
from lq_engine.execution.sizing import PY as SIZING_PY

value = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 5e-324, -5e-324, math.nan]),
                  st.floats(-1e6, 1e6, allow_nan=False))


def reference_sign(x: float) -> int:
    return 1 if x > 0 else -1 if x < 0 else 0


@settings(max_examples=400, deadline=None)
@given(value, value)
def test_new_side_is_a_nonzero_target_on_another_side(x, old):
    expected = x != 0.0 and reference_sign(x) != reference_sign(old)
    assert bool(new_side(x, old)) is expected
    assert bool(new_side.py_func(x, old)) is expected


@settings(max_examples=200, deadline=None)
@given(value)
def test_sign_compiled_and_its_python_twin(x):
    assert sign(x) == reference_sign(x)
    assert SIZING_PY["sign"](x) == reference_sign(x)
