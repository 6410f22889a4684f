"""The rule kernels (numba, C, Rust) never read memory they were not given (issue 18, finding 1):
offset windows score as fresh copies bit for bit, and a strided, misshapen or out-of-range input is
refused with a message naming it."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lq_engine.kernels.backends import run_accumulators
from lq_engine.prefilter.evaluate import Costs, evaluate_grid
from lq_engine.optimize.tasks import Span
from lq_engine.strategies import compile_sweep, default_grid
from replay.bars import series

COMPILED = ["numba", "c", "rust"]
STRATS = ["ma_cross", "rsi", "bollinger", "donchian_atr"]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(STRATS), st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000))
def test_an_offset_window_scores_as_a_fresh_copy_on_every_backend(name, seed, x, y):
    s = series(400, seed, vol=0.015)
    a = x % 300
    b = a + 1 + y % (400 - a)
    cut = Span.cut(s, a // 2, 400).bars(a, b)  # the optimizer's cut: views at an offset into the span
    assert cut.close.base is not None  # really a view, not a copy
    ref = {f: np.array(getattr(s, f)[a:b]) for f in ("open", "high", "low", "close", "volume", "ts")}
    for v in ref.values():
        v.setflags(write=False)
    g = default_grid(name)
    sets = [g[k % len(g)] for k in (seed, seed + 7, seed + 31)]
    for backend in COMPILED:
        m1 = evaluate_grid(cut, name, sets, Costs(), backend).metrics
        m2 = evaluate_grid(ref, name, sets, Costs(), backend).metrics
        for k in m2:
            assert m1[k].tobytes() == m2[k].tobytes(), (backend, k)


def _sweep():
    return compile_sweep("ma_cross", default_grid("ma_cross")[:5], series(200, 1))


# numba compiles the accumulators afresh for strided arrays (49 s cold in the full suite): slow lane
@pytest.mark.parametrize("backend", [pytest.param("numba", marks=pytest.mark.slow), "c", "rust"])
def test_strided_inputs_are_refused_by_the_native_kernels_and_read_right_by_numba(backend):
    sw = _sweep()
    wide = np.repeat(sw.bank, 2, axis=1)[:, ::2]  # same values, not contiguous
    rets = np.repeat(sw.rets, 2, axis=1)[:, ::2]
    assert np.array_equal(wide, sw.bank, equal_nan=True) and not wide.flags.c_contiguous and not rets.flags.c_contiguous
    if backend == "numba":  # numba indexes with the strides: same figures
        ref = run_accumulators(backend, sw.bank, sw.rets, sw.ip, sw.fp, 0.001)
        assert run_accumulators(backend, wide, rets, sw.ip, sw.fp, 0.001).tobytes() == ref.tobytes()
        return
    with pytest.raises(ValueError, match="'bank' must be C-contiguous"):
        run_accumulators(backend, wide, sw.rets, sw.ip, sw.fp, 0.001)
    with pytest.raises(ValueError, match="'rets' must be C-contiguous"):
        run_accumulators(backend, sw.bank, rets, sw.ip, sw.fp, 0.001)


@pytest.mark.parametrize("backend", COMPILED)
def test_misshapen_inputs_and_rows_out_of_the_bank_are_refused(backend):
    sw = _sweep()
    with pytest.raises(ValueError, match="'rets' has shape"):
        run_accumulators(backend, sw.bank, np.ascontiguousarray(sw.rets[:, :-1]), sw.ip, sw.fp, 0.001)
    with pytest.raises(ValueError, match="programs of shapes"):
        run_accumulators(backend, sw.bank, sw.rets, np.ascontiguousarray(sw.ip[:, :-1]), sw.fp, 0.001)
    ip = sw.ip.copy()
    ip[2, 1] = sw.bank.shape[0]  # one row past the bank
    with pytest.raises(ValueError, match=f"program 2 column 1 names bank row {sw.bank.shape[0]}"):
        run_accumulators(backend, sw.bank, sw.rets, ip, sw.fp, 0.001)
    ip = sw.ip.copy()
    ip[0, 0] = -1
    with pytest.raises(ValueError, match="program 0 column 0 names bank row -1"):
        run_accumulators(backend, sw.bank, sw.rets, ip, sw.fp, 0.001)
