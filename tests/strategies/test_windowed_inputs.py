"""Compiled code never reads memory it was not given (issue 18, finding 1).

The kernels hand a strategy ``borrowed`` views (a pointer and a shape, no strides). A window cut
out of a panel (``panel.close[:, a:b]``) is a strided view, so before the fix a compiled portfolio
decision read the bars of other dates. Here every input is cut the way the optimizer cuts it
(``Panel.window`` at offsets, the optimizer's ``PanelSpan`` / ``Span``, strided views, one-bar
windows) and its results must equal, bit for bit, the same data given as a fresh contiguous copy;
a strided array handed straight to a compiled entry point must fail loudly, naming the fault.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lq_engine.execution.config import ExecutionConfig
from lq_engine.prefilter.evaluate import Costs, evaluate_grid, evaluate_panel
from lq_engine.optimize.tasks import PanelSpan, Span
from lq_engine.replay.portfolio import replay_portfolio
from lq_engine.strategies import StrategyError, resolve
from lq_engine.data.bars import Bars
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.registry import list_strategies
from replay.bars import series
from strategies.test_portfolio import random_panel

PANEL_FIELDS = ("ts", "open", "high", "low", "close", "volume", "mask")
BAR_FIELDS = ("open", "high", "low", "close", "volume", "ts")
PORTFOLIO = list_strategies(portfolio=True)
SINGLE = list_strategies(portfolio=False)


def frozen_copy(x: np.ndarray) -> np.ndarray:
    """A brand-new C-contiguous read-only copy (read-only like the cut: the same compiled signature)."""
    out = np.array(x, order="C")
    out.setflags(write=False)
    return out


def fresh_copy(p: Panel) -> Panel:
    """The same panel as brand-new C-contiguous arrays (what the strategy must see either way)."""
    return Panel(p.symbols, *(frozen_copy(getattr(p, f)) for f in PANEL_FIELDS))


def strided_panel(p: Panel, a: int, b: int) -> Panel:
    """Bars [a, b) of ``p`` as raw strided views (bypassing ``Panel.window``): every field a view
    into a twice-as-wide buffer, so no field is contiguous."""
    out = []
    for f in PANEL_FIELDS:
        x = np.asarray(getattr(p, f))[..., a:b]
        wide = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), dtype=x.dtype)
        wide[..., ::2] = x
        out.append(wide[..., ::2])
    return Panel(p.symbols, *out)


def _params(name: str, pick: int) -> dict:
    g = resolve(name).default_grid()
    return g[pick % len(g)]


def _same_decisions(name: str, params: dict, cut: Panel, ref: Panel) -> bool:
    """Equal decisions, or the same refusal (a pair with no date in common in the window): whether
    there were decisions."""
    spec = resolve(name)
    try:
        d = spec.decisions(params, cut)
    except StrategyError as err:
        with pytest.raises(StrategyError) as again:
            spec.decisions(params, ref)
        assert str(again.value) == str(err)
        return False
    e = spec.decisions(params, ref)
    assert np.array_equal(d.targets, e.targets), (name, params, np.argwhere(d.targets != e.targets)[:3])
    assert np.array_equal(d.rebalance, e.rebalance)
    return True


def _bitwise(m1: dict, m2: dict) -> None:
    for k in m2:
        a, b = np.asarray(m1[k]), np.asarray(m2[k])
        assert np.array_equal(a, b, equal_nan=True), (k, a, b)


windows = st.tuples(st.integers(0, 10_000), st.integers(0, 10_000), st.sampled_from(["any", "one", "first", "last"]))


def _window(n: int, w: tuple[int, int, str]) -> tuple[int, int]:
    x, y, kind = w
    a = x % n
    if kind == "one":  # a one-bar window
        return a, a + 1
    if kind == "first":  # the first fold: [0, b)
        return 0, 1 + y % n
    if kind == "last":  # the holdout: [a, n)
        return a, n
    b = a + 1 + y % (n - a)
    return a, b


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PORTFOLIO), st.integers(0, 10_000), st.integers(0, 10_000), st.integers(2, 5),
       st.integers(40, 260), st.sampled_from([0.0, 0.1, 0.3]), windows)
def test_a_window_of_a_panel_decides_as_a_fresh_copy_of_it(name, pick, seed, n_sym, n, gaps, w):
    """Decisions, prefilter metrics and the replay of ``Panel.window(a, b)`` (the optimizer's cut,
    through its ``PanelSpan``) equal those of the same bars given as new contiguous arrays."""
    panel = random_panel(seed, n_sym, n, gaps)
    a, b = _window(panel.n, w)
    span = PanelSpan(a // 2, panel.window(a // 2, panel.n))  # a span that starts before the window, like prefilter's
    cut = span.window(a, b)
    ref = fresh_copy(panel.window(a, b))
    p = _params(name, pick)
    if not _same_decisions(name, p, cut, ref):
        return
    _bitwise(evaluate_panel(cut, name, [p], Costs(fee=0.001)).metrics,
             evaluate_panel(ref, name, [p], Costs(fee=0.001)).metrics)
    r1, r2 = replay_portfolio(name, p, cut, ExecutionConfig()), replay_portfolio(name, p, ref, ExecutionConfig())
    assert np.array_equal(r1.equity, r2.equity) and np.array_equal(r1.exposure, r2.exposure)
    _bitwise(r1.metrics, r2.metrics)


@pytest.mark.slow  # numba compiles every portfolio decider for strided arrays (17 s cold)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PORTFOLIO), st.integers(0, 10_000), st.integers(0, 10_000), st.integers(2, 4),
       st.integers(40, 200), windows)
def test_a_panel_of_strided_views_decides_as_a_fresh_copy(name, pick, seed, n_sym, n, w):
    panel = random_panel(seed, n_sym, n, 0.1)
    a, b = _window(panel.n, w)
    cut, ref = strided_panel(panel, a, b), fresh_copy(panel.window(a, b))
    p = _params(name, pick)
    if _same_decisions(name, p, cut, ref):
        _bitwise(evaluate_panel(cut, name, [p]).metrics, evaluate_panel(ref, name, [p]).metrics)


@pytest.mark.slow  # numba compiles every decider for strided arrays (17 s cold)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SINGLE), st.integers(0, 10_000), st.integers(0, 10_000), st.integers(60, 400), windows)
def test_a_strided_or_offset_series_decides_as_a_fresh_copy(name, pick, seed, n, w):
    """Single-symbol strategies: the optimizer's ``Span`` windows (offset views) and strided views of
    bars decide and score as a contiguous copy of the same bars."""
    s = series(n, seed, vol=0.015, volume_scale=1e4)
    a, b = _window(n, w)
    span = Span.cut(s, a // 2, n)
    offset = span.bars(a, b)
    strided = Bars(*(np.repeat(np.asarray(getattr(s, f))[a:b], 2)[::2] for f in BAR_FIELDS))
    ref = Bars(*(frozen_copy(getattr(s, f)[a:b]) for f in BAR_FIELDS))
    spec = resolve(name)
    p = _params(name, pick)
    e = spec.decisions(p, ref)
    for cut in (offset, strided):
        d = spec.decisions(p, cut)
        assert np.array_equal(d.targets, e.targets)
        assert (d.exits is None) == (e.exits is None)
        if e.exits is not None:
            assert np.array_equal(d.exits, e.exits, equal_nan=True)
    g1 = evaluate_grid(offset, name, [p], backend="numba-api").metrics
    _bitwise(g1, evaluate_grid(ref, name, [p], backend="numba-api").metrics)


def test_the_window_property_is_not_vacuous():
    """The cuts above really are strided, and the strategies really trade on them: on the old code
    (``borrowed`` reading a strided window as if contiguous) xs_momentum's weights differed."""
    panel = random_panel(3, 4, 300, 0.0)  # late starts, no gaps (a pair needs hedge_window common dates in a row)
    assert not panel.close[:, 37:260].flags.c_contiguous  # what Panel.window used to hand on
    cut, ref = PanelSpan(10, panel.window(10, 300)).window(37, 260), fresh_copy(panel.window(37, 260))
    for f in PANEL_FIELDS:
        assert getattr(cut, f).flags.c_contiguous, f
    for name in PORTFOLIO:
        p = {"pair": 0, "hedge_window": 20, "z_window": 10, "entry_z": 1.0, "exit_z": 0.0} if name == "pairs" \
            else resolve(name).default_params()
        d = resolve(name).decisions(p, cut)
        assert (d.targets != 0).sum() > 50, name  # weights on most bars
        assert len({tuple(r) for r in d.targets}) > 3, name  # and they change
        assert np.array_equal(d.targets, resolve(name).decisions(p, ref).targets), name


def test_a_window_is_cut_once_into_frozen_contiguous_arrays():
    panel = random_panel(5, 3, 120, 0.1)
    w = panel.window(17, 90)
    for f in PANEL_FIELDS:
        x = getattr(w, f)
        assert x.flags.c_contiguous and not x.flags.writeable, f
        assert np.array_equal(x, np.asarray(getattr(panel, f))[..., 17:90]), f
    same = panel.window(0, panel.n)  # already contiguous: no copy
    assert all(getattr(same, f) is getattr(panel, f) or np.shares_memory(getattr(same, f), getattr(panel, f))
               for f in PANEL_FIELDS)


# --- loud failure: a strided array that reaches a compiled entry point is refused -------------------

def test_borrowed_refuses_a_non_contiguous_array_at_compile_time():
    from numba import njit
    from numba.core.errors import TypingError

    from lq_engine.strategies.borrow import borrowed

    @njit
    def first(a):
        return borrowed(a)[0, 0]

    x = np.arange(24.0).reshape(4, 6)
    assert first(x[:, 2:5].copy()) == 2.0
    with pytest.raises(TypingError, match="C-contiguous"):
        first(x[:, 2:5])


def test_borrowed_without_the_jit_refuses_a_non_contiguous_array():
    from lq_engine.strategies.borrow import require_c_contiguous

    x = np.arange(24.0).reshape(4, 6)
    assert require_c_contiguous(x[1:3]) is not None
    with pytest.raises(StrategyError, match="C-contiguous"):
        require_c_contiguous(x[:, 2:5])


def test_a_strided_panel_handed_to_the_compiled_loop_fails_loudly():
    """Straight into the generated module's entry point (no Panel in between): a typing error that
    says what is wrong, never a misread."""
    from numba.core.errors import TypingError

    from lq_engine.strategies.kernel_types import position_records

    spec = resolve("xs_momentum")
    panel = random_panel(3, 4, 200, 0.0)
    table = spec.table([spec.default_params()])
    rows = spec.indicator_rows(table, panel)
    n, s = 150, panel.n_symbols
    views = [np.asarray(getattr(panel, f))[..., 20:20 + n] for f in ("open", "high", "low", "close", "volume", "ts",
                                                                     "mask")]
    args = (rows.bank[:, :, 20:20 + n].copy(), rows.idx[:1], table.matrix()[:1], spec.declaration.state.new(1),
            position_records(1, s), np.zeros((1, n + 1, s)), np.zeros((1, n), dtype=np.int64),
            np.zeros((1, n), dtype=np.bool_), np.zeros((1, 4)))
    with pytest.raises(TypingError, match="C-contiguous"):
        spec.kernels.module.pdecision_loop(*views, *args)


def test_a_strided_array_slipped_into_a_panel_is_refused_by_the_kernels():
    """Even a Panel whose arrays were swapped after construction cannot reach ``borrowed`` strided:
    the kernels' entry refuses it, naming the argument."""
    panel = random_panel(3, 4, 200, 0.0)
    bad = fresh_copy(panel)
    object.__setattr__(bad, "close", np.asfortranarray(panel.close))  # same values, column-major: not C-contiguous
    with pytest.raises(StrategyError, match="close.*C-contiguous"):
        resolve("xs_momentum").decisions(None, bad)
