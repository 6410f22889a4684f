"""Multi-timeframe indicators (issue 22, part 2): ``@lq.indicator(timeframe="4h")``.

The rule (``lq_engine.data.resample``): epoch-anchored bins, a base bar [t, t+b) sees the last higher
bar [T, T+H) with T+H <= t+b, a gap or the data's end never closes a bin early, a first bin cut short
is no bar. Checked by hand on a small case, as a hypothesis property (no base bar's value changes
when the bars after it change: truncated, repriced, thinned), across every driver (decisions, the
prefilter sweep, replay, event engine, the streaming decider and the paper trader), by the lookahead
gate (which catches a resample that peeks), and on the shipped ``mtf_trend`` over synthetic minutes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import lq_engine.api as lq
from lq_engine.data import resample as rs
from lq_engine.core.events import BarEvent
from lq_engine.data.bars import Bars
from lq_engine.execution.config import ExecutionConfig
from lq_engine.prefilter.evaluate import Costs, evaluate_grid
from lq_engine.replay.engine import replay
from lq_engine.replay.event_engine import StreamingDecider, run_event_engine
from lq_engine.replay.lookahead import default_series, gate_sets, lookahead_scan, other_future
from lq_engine.strategies import StrategyError
from lq_engine.strategies.registry import load_file, resolve

MIN = 60_000_000_000
DAY0 = 1_699_920_000 * 1_000_000_000  # 2023-11-14 00:00 UTC, a multiple of every bin up to a day
MTF_FAST = Path(__file__).parent / "mtf" / "mtf_fast.py"


def fast():
    return load_file(MTF_FAST)


def bars_at(minutes, seed: int = 0, offset_ns: int = 0) -> Bars:
    """1-minute bars opening at ``DAY0 + minutes`` (gaps where minutes skip), random walk prices."""
    m = np.asarray(minutes, dtype=np.int64)
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, m.size)))
    op = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0.0, 0.001, m.size))
    hi = np.maximum(op, close) * (1 + rng.uniform(0.0, 0.003, m.size))
    lo = np.minimum(op, close) * (1 - rng.uniform(0.0, 0.003, m.size))
    return Bars.from_arrays("MTF", DAY0 + offset_ns + m * MIN, op, hi, lo, close, rng.uniform(1.0, 10.0, m.size))


# -- the rule, by hand -----------------------------------------------------------------------------

def test_resample_by_hand_first_bin_cut_short_gaps_and_an_open_last_bin():
    # 15-minute bars into hours. 00:15-00:45: the first hour is cut short (no bar). 01:00-01:45 with
    # 01:30 missing: closes at 02:00, seen by the 01:45 bar (closing at 02:00). 02:00-02:30 with 02:45
    # missing: still closes at 03:00, seen from the 03:00 bar on. 03:00-03:15: not closed, no bar.
    q = np.array([15, 30, 45, 60, 75, 105, 120, 135, 150, 180, 195], dtype=np.int64) * MIN
    ts = DAY0 + q
    n = ts.size
    o, c = 10.0 + np.arange(n), 20.0 + np.arange(n)
    h = np.array([5, 1, 9, 31, 35, 32, 40, 44, 41, 50, 51], dtype=float)
    lo = np.array([1, 0.5, 2, 3, 1.5, 2.5, 7, 6, 8, 9, 9], dtype=float)
    v = np.arange(1.0, n + 1)
    r = rs.resample(ts, o, h, lo, c, v, 60 * MIN, 15 * MIN)
    assert r.ts.tolist() == [DAY0 + 60 * MIN, DAY0 + 120 * MIN]
    assert r.open.tolist() == [o[3], o[6]] and r.close.tolist() == [c[5], c[8]]
    assert r.high.tolist() == [35.0, 44.0] and r.low.tolist() == [1.5, 6.0]
    assert r.volume.tolist() == [4 + 5 + 6, 7 + 8 + 9]
    assert r.at.tolist() == [-1, -1, -1, -1, -1, 0, 0, 0, 0, 1, 1]
    ff = rs.on_base(r.close, r.at)
    assert np.isnan(ff[:5]).all() and ff[5:].tolist() == [c[5]] * 4 + [c[8]] * 2


def test_timeframes_parse_in_one_place():
    from lq_engine.data import schema

    assert schema.timeframe_to_ns is rs.timeframe_to_ns and rs.canonical_timeframe("240m") == "4h"
    with pytest.raises(ValueError, match="'4x'"):
        rs.timeframe_to_ns("4x")


# -- the property: nothing after a base bar changes its value --------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 4), min_size=30, max_size=260), st.integers(0, 59), st.sampled_from([0, 20]),
       st.integers(0, 10_000), st.floats(0.05, 0.95), st.sampled_from([1.5, 0.5, "drop"]))
def test_no_base_bar_value_changes_when_later_bars_change(steps, start, seconds, seed, where, how):
    spec = fast()
    s = bars_at(start + np.cumsum(steps), seed, seconds * 1_000_000_000)
    table = spec.table(spec.default_grid())
    full = spec.indicator_rows(table, s).bank
    cut = max(1, int(where * s.n))
    if how == "drop":  # thin the future: other bars after the cut, so bins close at other bars
        keep = np.r_[np.arange(cut), cut + np.flatnonzero(np.random.default_rng(seed).random(s.n - cut) < 0.5)]
        alt = Bars.from_arrays("MTF", *(np.asarray(getattr(s, f))[keep] for f in
                                        ("ts", "open", "high", "low", "close", "volume")))
    else:
        alt = other_future(s, cut, how)
    for other in (s.head(cut), alt):
        np.testing.assert_array_equal(spec.indicator_rows(table, other).bank[:, :cut], full[:, :cut])


def test_the_property_is_not_vacuous():
    s = bars_at(np.arange(600))
    rows = fast().indicator_rows(fast().table(fast().default_grid()), s)
    q_close = rows.bank[rows.keys[("q_close",)]]
    assert np.isfinite(q_close[14:]).all() and np.isnan(q_close[:14]).all()  # 00:14 closes at 00:15
    # each minute sees the close of the last quarter hour that had closed by its own close
    i = np.arange(14, 600)
    np.testing.assert_array_equal(q_close[i], s.close[(i + 1) // 15 * 15 - 1])


# -- the declaration --------------------------------------------------------------------------------

def test_indicator_keeps_its_plain_form_and_takes_a_timeframe():
    class Plain(lq.Strategy):
        timeframe = "1m"

        @lq.indicator()
        def a(bars):
            return bars.close

        @lq.indicator(timeframe="60m")
        def b(bars):
            return bars.close

        @lq.decide
        def decide(i, bars, ind, p, pos, st):
            return 0.0

    assert [(d.name, d.timeframe) for d in Plain.declaration.indicators] == [("a", None), ("b", "1h")]
    assert Plain.declaration.timeframe == "1m"


def _declare(base, tf="1h", portfolio=False, inputs=False):
    body = {"timeframe": base} if base is not None else {}

    def hi(bars):
        return bars.close

    def lo_(bars, hi):
        return hi

    body["hi"] = lq.indicator(timeframe=tf)(hi)
    if inputs:
        body["other"] = lq.indicator(timeframe="2h")(lo_)
    def decide(i, bars, ind, p, pos, st):
        return 0.0

    def decide_w(i, bars, ind, p, pos, st, w):
        return False

    body["decide"] = lq.decide(decide_w if portfolio else decide)
    return type("Bad", (lq.PortfolioStrategy if portfolio else lq.Strategy,), body)


@pytest.mark.parametrize("kwargs, message", [
    (dict(base=None), "declare the timeframe of the bars the strategy runs on"),
    (dict(base="1m", tf="1x"), "indicator hi: timeframe: timeframe '1x' is not of the form"),
    (dict(base="7m"), "timeframe 1h must be a multiple of the strategy's timeframe 7m"),
    (dict(base="1h"), "timeframe 1h must be a multiple of the strategy's timeframe 1h, and longer"),
    (dict(base="1m", inputs=True), "indicator 'other' (2h bars) takes 'hi' (1h bars)"),
    (dict(base="1d", tf="1w", portfolio=True), "higher-timeframe indicators are for single-symbol strategies"),
    (dict(base=5), "timeframe (the base bars' timeframe)"),
])
def test_declaration_mistakes_are_named(kwargs, message):
    with pytest.raises(StrategyError, match="strategy Bad: .*" + _re(message)):
        _declare(**kwargs)


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_a_timeframe_given_by_position_is_refused():
    with pytest.raises(StrategyError, match=r"@lq.indicator\(timeframe='1h'\)"):
        lq.indicator("1h")


def test_bars_closer_than_the_declared_timeframe_are_refused_naming_the_row():
    s = bars_at(np.arange(41))
    ts = np.array(s.ts)
    ts[10] = ts[9] + MIN // 2  # 30 seconds after row 9 (the rest a minute later)
    ts[11:] += MIN
    half = Bars.from_arrays("MTF", ts, s.open, s.high, s.low, s.close, s.volume)
    with pytest.raises(StrategyError, match="mtf_fast.py: strategy 'mtf_fast' declares timeframe = '1m', but bar "
                                            "row 10 .* opens less than 1m after row 9"):
        fast().decisions(None, half)


# -- every driver ------------------------------------------------------------------------------------

def _minutes(n: int, seed: int) -> Bars:
    """n 1-minute bars with ~3% missing, starting mid-quarter (a first bin cut short), ts at :20 s."""
    rng = np.random.default_rng(seed)
    return bars_at(7 + np.cumsum(1 + (rng.random(n) < 0.03)), seed, 20 * 1_000_000_000)


def test_every_driver_agrees_on_a_multi_timeframe_strategy(tmp_path):
    from lq_engine.live.feeds import ReplayFeed
    from lq_engine.live.run import run_paper
    from lq_engine.replay.streaming import visible_bars

    spec, s = fast(), _minutes(360, 4)
    cfg = ExecutionConfig(liquidity_cap=0.5)
    for p in ({"slow": 5, "fast": 6, "side": "long"}, {"slow": 3, "fast": 3, "side": "both"}):
        d = spec.decisions(p, s)
        assert np.count_nonzero(d.targets) > 30 and np.count_nonzero(np.diff(d.targets)) > 5
        r = replay(spec, p, s, cfg)
        e = run_event_engine(spec, p, s, cfg)
        assert e.targets == r.target.tolist() == d.targets.tolist()
        assert np.array_equal(np.array(e.equity), r.equity) and len(e.fills) == len(r.fills) > 5
        simple = replay(spec, p, s, cfg.simplified(fee=0.001, slippage_bps=1.0))
        for backend in ("numba-api",):
            g = evaluate_grid(s, spec, [p], Costs(fee=0.001, slippage=1e-4), backend=backend)
            for k, v in g.metrics.items():
                assert np.isclose(simple.metrics[k], v[0], rtol=1e-9, atol=1e-12), (k, simple.metrics[k], v[0])
    # the paper trader's decider (only the bars so far), then the paper trader itself
    streaming = StreamingDecider(spec, p)
    got = [streaming.decide(i, BarEvent(int(s.ts[i]), i, "MTF", float(s.open[i]), float(s.high[i]),
                                        float(s.low[i]), float(s.close[i]), float(s.volume[i])))
           for i in range(s.n)]
    assert got == spec.decisions(p, visible_bars(s, s.n)).targets.tolist() == d.targets.tolist()
    n = 200
    res = run_paper(tmp_path / "paper", spec, p, feed=ReplayFeed(s), max_bars=n)
    ref = replay(spec, p, s.head(n))
    assert len(ref.fills) > 2 and res.fills == ref.fills.rows()
    assert res.replay_check is not None and not res.replay_check.diverged


# -- the lookahead gate -------------------------------------------------------------------------------

def test_the_gate_passes_the_rule_and_catches_a_resample_that_peeks(monkeypatch):
    spec, data = fast(), default_series(1_500, seed=11)
    sets = gate_sets(spec)
    honest = lookahead_scan(spec, sets, data)
    assert honest.ok and honest.runs > 16 * len(sets), honest.summary()

    def peeking(ts, base_ns, every_ns):  # a bar sees the bin it is in, before that bin has closed
        return np.floor_divide(np.asarray(ts, dtype=np.int64), every_ns)

    monkeypatch.setattr(rs, "seen_bins", peeking)
    scan = lookahead_scan(spec, sets, data)
    assert not scan.ok
    f = scan.failures[0]
    assert f.bar < f.cut, scan.summary()


# -- the shipped example ------------------------------------------------------------------------------

def test_shipped_mtf_trend_on_synthetic_minutes_decides_on_closed_4h_and_15m_bars():
    from lq_engine.data.samples import generate_synthetic

    df = generate_synthetic(1, days=6, seed=3)
    s = Bars.from_arrays("SYN000", df["ts"].to_numpy(), *(df[f].to_numpy() for f in
                                                           ("open", "high", "low", "close", "volume")))
    spec = resolve("mtf_trend")
    p = {"trend": 6, "entry": 8, "side": "both"}
    rows = spec.indicator_rows(spec.table([p]), s)
    trend = rows.bank[rows.idx[0, 0]]
    entry = rows.bank[rows.idx[0, 1]]
    close_ns = s.ts + MIN  # a minute's close
    changed = np.flatnonzero(np.diff(trend) != 0) + 1  # NaN != NaN: the warm-up counts as changing
    fin = changed[np.isfinite(trend[changed])]
    assert fin.size > 20 and (close_ns[fin] % (240 * MIN) == 0).all()  # only where a 4h bar closes
    ch = np.flatnonzero(np.diff(entry) != 0) + 1
    ch = ch[np.isfinite(entry[ch])]
    assert ch.size > 300 and (close_ns[ch] % (15 * MIN) == 0).all()
    r = replay(spec, p, s)
    assert r.metrics["trade_count"] > 5
    assert (np.asarray(r.target)[~np.isfinite(trend)] == 0).all()  # no trade before the first 4h close
