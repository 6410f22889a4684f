"""Portfolio strategies: parity of every driver over random panels with gaps and staggered starts,
an equity curve computed by hand, the alignment rule, and errors that name strategy, bar and symbol."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lq_engine.execution.config import ExecutionConfig
from lq_engine.prefilter.evaluate import Costs, evaluate_panel
from lq_engine.data.bars import Bars
from lq_engine.replay.portfolio import replay_portfolio
from lq_engine.replay.portfolio_engine import run_portfolio_engine
from lq_engine.strategies import StrategyError, resolve
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.registry import list_strategies, load_file

DAY = 86_400_000_000_000
T0 = 1_700_000_000_000_000_000


def _series(sym: str, n: int, seed: int, start: int = 0, gaps: float = 0.0, vol: float = 0.015) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    op = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, vol / 3, n))
    days = start + np.arange(n)
    keep = rng.uniform(size=n) >= gaps
    keep[0] = True
    return Bars.from_arrays(sym, T0 + days[keep] * DAY, op[keep], (np.maximum(op, close) * 1.004)[keep],
                              (np.minimum(op, close) * 0.996)[keep], close[keep], rng.uniform(1e3, 1e5, n)[keep])


def random_panel(seed: int, n_sym: int, n: int, gaps: float) -> Panel:
    rng = np.random.default_rng(seed)
    return Panel.from_series([_series(f"S{k:02d}", n - int(rng.integers(0, n // 3)), seed * 10 + k,
                                      start=int(rng.integers(0, n // 3)), gaps=gaps) for k in range(n_sym)])


def _params(name: str, pick: int) -> dict:
    g = resolve(name).default_grid()
    return g[pick % len(g)]


SHIPPED = list_strategies(portfolio=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHIPPED), st.integers(0, 10_000), st.integers(0, 10_000), st.integers(2, 5),
       st.integers(20, 300), st.sampled_from([0.0, 0.1, 0.3]), st.sampled_from([None, 0.002, 0.1]))
def test_event_engine_equals_the_replay_bit_for_bit(name, pick, seed, n_sym, n, gaps, cap):
    panel = random_panel(seed, n_sym, n, gaps)
    p = _params(name, pick)
    cfg = ExecutionConfig(liquidity_cap=cap)
    r = replay_portfolio(name, p, panel, cfg)
    e = run_portfolio_engine(name, p, panel, cfg)
    assert [(f.timestamp_ns, f.symbol, f.side, f.quantity, f.price, f.fee) for f in e.fills] == [
        (int(t), panel.symbols[int(k)], int(s), float(q), float(px), float(fee))
        for t, k, s, q, px, fee in zip(r.fills.ts, r.fills.symbol, r.fills.side, r.fills.quantity, r.fills.price,
                                       r.fills.fee)]
    assert np.array_equal(np.asarray(e.equity), r.equity)
    assert np.array_equal(np.asarray(e.exposure), r.exposure)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHIPPED), st.integers(0, 10_000), st.integers(0, 10_000), st.integers(2, 5),
       st.integers(20, 300), st.sampled_from([0.0, 0.1, 0.3]), st.floats(0.0, 0.003), st.floats(0.0, 5.0))
@pytest.mark.slow
def test_prefilter_agrees_with_the_simplified_replay(name, pick, seed, n_sym, n, gaps, fee, slip_bps):
    panel = random_panel(seed, n_sym, n, gaps)
    p = _params(name, pick)
    r = replay_portfolio(name, p, panel, ExecutionConfig().simplified(fee=fee, slippage_bps=slip_bps))
    g = evaluate_panel(panel, name, [p], Costs(fee=fee, slippage=slip_bps * 1e-4))
    for k, v in g.metrics.items():
        assert np.isclose(r.metrics[k], v[0], rtol=1e-9, atol=1e-12), (k, r.metrics[k], v[0])


FIXED = """
import lq_engine.api as lq


class Fixed6040(lq.PortfolioStrategy):
    min_symbols = 2
    max_symbols = 2
    every = lq.Int(1, 100, grid=(2,))

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        if i % p.every == 0:
            w[0] = 0.6
            w[1] = 0.4
            return True  # rebalance both legs back to 60/40
"""


def _hand_panel() -> Panel:
    a_open = [10.0, 10.5, 11.0, 10.0, 10.4, 11.2, 12.0]
    a_close = [10.4, 11.0, 10.2, 10.5, 11.0, 11.8, 12.2]
    b_open = [20.0, 19.0, 18.5, 19.5, 20.5, 20.0, 19.0]
    b_close = [19.5, 18.8, 19.2, 20.2, 20.1, 19.2, 19.6]

    def s(sym, o, c):
        o, c = np.array(o), np.array(c)
        return Bars.from_arrays(sym, T0 + np.arange(7) * DAY, o, np.maximum(o, c) + 0.1, np.minimum(o, c) - 0.1, c,
                                  np.full(7, 1e9))

    return Panel.from_series([s("AAA", a_open, a_close), s("BBB", b_open, b_close)])


def test_fixed_weight_rebalancing_matches_an_equity_curve_computed_by_hand(tmp_path):
    """60/40 rebalanced every 2 bars at the next open, fee 0.2% of each leg's notional, no slippage:
    the replay's equity equals a plain loop over the same rules."""
    path = tmp_path / "fixed6040.py"
    path.write_text(FIXED)
    spec = load_file(path)
    panel = _hand_panel()
    fee = 0.002
    cfg = ExecutionConfig(fee_taker=fee, fee_maker=fee, spread_bps=0.0, slippage_bps=0.0, slippage_vol_k=0.0,
                          liquidity_cap=None)
    r = replay_portfolio(spec, {"every": 2}, panel, cfg, initial_cash=1000.0)
    o, c = panel.open, panel.close
    cash, units, expected = 1000.0, [0.0, 0.0], []
    for j in range(7):
        if j > 0 and (j - 1) % 2 == 0:  # weights decided at close j-1 (every 2 bars) rebalance at open j
            equity = cash + units[0] * o[0, j] + units[1] * o[1, j]
            legs = []
            for k, w in enumerate((0.6, 0.4)):
                want = w * equity / o[k, j]
                if want != units[k]:
                    legs.append((k, want - units[k]))
            for k, dq in sorted(legs, key=lambda leg: leg[1] > 0):  # sells first
                cash -= dq * o[k, j] + abs(dq) * o[k, j] * fee
                units[k] += dq
        expected.append(cash + units[0] * c[0, j] + units[1] * c[1, j])
    np.testing.assert_allclose(r.equity, expected, rtol=1e-12)
    assert r.fills.side[0] == 1 and len(r.fills) >= 6  # opened both legs, then rebalanced
    assert abs(sum(r.contributions().values()) - (r.equity[-1] / 1000.0 - 1.0)) < 1e-12


def test_a_symbol_without_a_bar_does_not_trade_and_is_marked_at_its_last_close(tmp_path):
    """Bar 3 of BBB is missing: the rebalance decided at close 2 trades AAA at open 3 and BBB only at
    open 4; at close 3 BBB counts at its close of bar 2 (never a carried price as a fill)."""
    path = tmp_path / "fixed6040.py"
    path.write_text(FIXED.replace("grid=(2,)", "grid=(1,)"))
    full = _hand_panel()
    keep = np.array([True, True, True, False, True, True, True])
    b = Bars.from_arrays("BBB", full.ts[keep], full.open[1][keep], full.high[1][keep], full.low[1][keep],
                           full.close[1][keep], full.volume[1][keep])
    a = Bars.from_arrays("AAA", full.ts, full.open[0], full.high[0], full.low[0], full.close[0], full.volume[0])
    panel = Panel.from_series([a, b])
    assert not panel.mask[1, 3] and panel.close[1, 3] == panel.close[1, 2] == panel.open[1, 3]
    r = replay_portfolio(load_file(path), {"every": 1}, panel, ExecutionConfig(liquidity_cap=None))
    bars_b = r.fills.bar[r.fills.symbol == 1]
    assert 3 not in bars_b.tolist() and 4 in bars_b.tolist()
    traded = {(int(k), float(px)) for k, px in zip(r.fills.symbol, r.fills.price)}
    assert all(px != panel.close[1, 2] for k, px in traded if k == 1)
    units_b = float(r.fills.position[(r.fills.symbol == 1) & (r.fills.bar <= 3)][-1])
    units_a = float(r.fills.position[(r.fills.symbol == 0) & (r.fills.bar <= 3)][-1])
    cash = float(r.fills.cash[r.fills.bar <= 3][-1])
    assert r.equity[3] == cash + units_a * panel.close[0, 3] + units_b * panel.close[1, 2]


def test_universe_errors_name_the_strategy_and_the_symbols():
    three = random_panel(1, 3, 50, 0.0)
    one = Panel.from_series([_series("AAA", 50, 1)])
    with pytest.raises(StrategyError,
                       match=r"strategy 'xs_momentum' needs at least 2 symbols; the universe has 1: \['AAA'\]"):
        replay_portfolio("xs_momentum", None, one)
    apart = Panel.from_series([_series("AAA", 30, 1), _series("BBB", 30, 2, start=40)])
    with pytest.raises(StrategyError, match=r"pair 0 has no bar in common"):
        resolve("pairs").decisions({**resolve("pairs").default_params(), "pair": 0}, apart)
    with pytest.raises(StrategyError, match="is a portfolio strategy"):
        resolve("xs_momentum").decisions(None, _series("AAA", 50, 1))
    assert resolve("xs_momentum").decisions(None, three).targets.shape == (three.n, 3)


BAD = """
import math

import lq_engine.api as lq


class Bad(lq.PortfolioStrategy):
    min_symbols = 2
    gross = 1.0
    mode = lq.Int(0, 1, grid=(0, 1))

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        if i == 12:
            if p.mode == 0:
                w[1] = math.nan
            else:
                w[0] = 0.8
                w[1] = -0.7
"""


def test_bad_weights_name_the_bar_and_the_symbol(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(textwrap.dedent(BAD))
    spec = load_file(path)
    panel = random_panel(2, 3, 40, 0.0)
    with pytest.raises(StrategyError, match=rf"decide set weight nan for symbol {panel.symbols[1]} at bar 12"):
        spec.decisions({"mode": 0}, panel)
    with pytest.raises(StrategyError, match=r"weights at bar 12 add up to a gross exposure of 1.5, "
                                            r"above the strategy's cap gross=1"):
        evaluate_panel(panel, spec, [{"mode": 1}])


def test_optimizer_refuses_an_unsuitable_universe_before_writing_anything(tmp_path):
    from lq_engine.optimize import dataset_from_frame, optimize
    from lq_engine.data.samples import generate_synthetic

    ds = dataset_from_frame(generate_synthetic(1, 2, seed=3), "one_symbol")
    with pytest.raises(StrategyError, match="needs at least 2 symbols; the universe has 1"):
        optimize(ds, "xs_momentum")


HOLDER = '''
import lq_engine.api as lq


@lq.jit
def held(pos, s):
    return pos.bars_held[s]


class Holder(lq.PortfolioStrategy):
    """Enters symbol s when i % 10 == s, leaves it after `hold` bars (read through a helper)."""

    min_symbols = 2
    hold = lq.Int(1, 50, grid=(3, 7))

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        for s in range(w.shape[0]):
            if pos.target[s] == 0.0 and i % 10 == s:
                w[s] = 0.25
            elif pos.target[s] != 0.0 and held(pos, s) >= p.hold:
                w[s] = 0.0
'''


def test_bars_held_is_kept_for_a_strategy_that_reads_it_even_through_a_helper(tmp_path):
    path = tmp_path / "holder.py"
    path.write_text(HOLDER)
    spec = load_file(path)
    panel = random_panel(5, 4, 80, 0.0)
    n, n_sym = panel.close.shape[1], panel.n_symbols
    for hold in (3, 7):
        got = spec.decisions({"hold": hold}, panel).targets
        w, tgt, count, want = np.zeros(n_sym), np.zeros(n_sym), np.zeros(n_sym, dtype=int), np.zeros((n, n_sym))
        for i in range(n):  # the rule with the position as the kernel keeps it, in plain Python
            for s in range(n_sym):
                if i > 0 and panel.mask[s, i] and w[s] != tgt[s]:
                    count[s] = 0 if np.sign(w[s]) != np.sign(tgt[s]) else count[s]
                    tgt[s] = w[s]
                if i > 0 and tgt[s] != 0.0:
                    count[s] += 1
            for s in range(n_sym):
                if tgt[s] == 0.0 and i % 10 == s:
                    w[s] = 0.25
                elif tgt[s] != 0.0 and count[s] >= hold:
                    w[s] = 0.0
            want[i] = w
        np.testing.assert_array_equal(got, want)
        assert (got != 0).any() and (np.diff((got[:, 0] != 0).astype(int)) != 0).sum() >= 4
    assert spec.kernels.module.KEEP_HELD and not resolve("pairs").kernels.module.KEEP_HELD


def test_the_docs_portfolio_example_runs_as_documented(tmp_path):
    """The example of the docs page "Portfolio strategies", copied from the page: equal weights over
    the symbols above their average on every `every`-th close, nothing else traded in between."""
    from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT

    page = (REPO_ROOT / "docs" / "how-to" / "portfolio.md").read_text()
    code = page[page.index("```python\n") + 10:page.index("```\n", page.index("```python\n") + 10)]
    path = tmp_path / "above_average.py"
    path.write_text(code)
    spec = load_file(path)
    assert spec.name == "above_average" and spec.is_portfolio
    panel = random_panel(11, 4, 160, 0.1)
    p = {"window": 50, "every": 5}
    w = spec.decisions(p, panel).targets
    ma = np.vstack([np.convolve(c, np.ones(50) / 50, "full")[:len(c)] for c in panel.close])
    ma[:, :49] = np.nan
    for i in range(panel.close.shape[1]):
        if i % 5 == 0:
            up = panel.mask[:, i] & (panel.close[:, i] > ma[:, i])
            want = up / up.sum() if up.any() else np.zeros(4)
            np.testing.assert_allclose(w[i], want, rtol=0, atol=1e-12)
        elif i:
            assert (w[i] == w[i - 1]).all()
    assert (w.sum(axis=1) > 0).any()
    g = evaluate_panel(panel, spec, spec.grid().rows(), Costs(fee=0.001))
    assert len(g.params) == 6 and np.isfinite(g.metrics["sharpe"]).all()
