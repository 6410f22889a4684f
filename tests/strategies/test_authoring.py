"""The strategy authoring API: the README's template, errors that name the file, function, parameter
or bar, the lookahead check on decide, the no-JIT debugging mode, discovery and pickling."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from lq_engine.strategies import StrategyError, resolve
from lq_engine.optimize.checks import check_strategy, generated_series
from lq_engine.authoring.params import ParamError
from lq_engine.strategies.registry import load_file, origins
from lq_engine.authoring.scaffold import render, write_strategy

HEADER = "import math\n\nimport lq_engine.api as lq\n\n\n"


def _file(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / f"{name}.py"
    p.write_text(HEADER + textwrap.dedent(body))
    return p


SIMPLE = """
class {cls}(lq.Strategy):
    window = lq.Int(2, 100, grid=(5, 10))

    @lq.indicator
    def ma(bars, window):
        return lq.ta.sma(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
{decide}
"""


def _strategy(tmp_path: Path, name: str, decide: str) -> Path:
    body = SIMPLE.format(cls="S" + name.title().replace("_", ""),
                         decide=textwrap.indent(textwrap.dedent(decide), " " * 8))
    return _file(tmp_path, name, body)


def test_docs_example_is_the_template():
    """The first example of the docs page "Your own strategy" is what `lq strategy new` writes."""
    page = (REPO_ROOT / "docs" / "how-to" / "own-strategy.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    assert code == render("trend_pullback")


def test_the_template_and_its_test_pass_the_checks(tmp_path):
    path, test = write_strategy(tmp_path, tmp_path / "strategies", "trend_pullback")
    assert "check_strategy(\"trend_pullback\"" in test.read_text()
    spec = load_file(path)
    report = check_strategy(spec, timing=False, sweep_bars=2_000)
    assert report.ok, report.summary()
    assert [r.name for r in report.results] == ["declaration", "compile", "decisions", "lookahead", "parity", "speed"]
    with pytest.raises(StrategyError, match="exists"):
        write_strategy(tmp_path, tmp_path / "strategies", "trend_pullback")


def test_a_schema_error_names_the_parameter_and_file(tmp_path):
    p = _file(tmp_path, "bad_param", """
        class BadParam(lq.Strategy):
            window = lq.Int(50, 10)

            @lq.decide
            def decide(i, bars, ind, p, pos, st):
                return 0.0
        """)
    with pytest.raises(StrategyError,
                       match=r"bad_param\.py: strategy BadParam: parameter 'window': low 50 is above high 10"):
        load_file(p)
    q = _file(tmp_path, "bad_indicator", """
        class BadIndicator(lq.Strategy):
            window = lq.Int(2, 10)

            @lq.indicator
            def ma(bars, windw):
                return bars.close

            @lq.decide
            def decide(i, bars, ind, p, pos, st):
                return 0.0
        """)
    with pytest.raises(StrategyError,
                       match=r"indicator 'ma' takes 'windw', which is neither a parameter nor an indicator"):
        load_file(q)
    spec = load_file(_strategy(tmp_path, "fine", "return 0.0"))
    with pytest.raises(ParamError, match=r"strategy 'fine', parameter set 1: parameter 'window' = 500 is above"):
        spec.table([{"window": 5}, {"window": 500}])


def test_a_numba_error_names_the_file_line_and_function(tmp_path):
    p = _strategy(tmp_path, "not_numba", """
        return float(sorted_keys(p))  # a helper that does not exist
        """)
    spec = load_file(p)
    with pytest.raises(StrategyError) as e:
        spec.decisions(None, generated_series(50))
    msg = str(e.value)
    assert str(p) in msg and "function decide" in msg and "numba cannot compile it" in msg
    assert "sorted_keys" in msg and len(msg.splitlines()) <= 4, msg  # readable: no numba internals
    assert re.search(r"line \d+", msg) and "NUMBA_DISABLE_JIT=1" in msg
    q = _strategy(tmp_path, "raises", """
        d = {"a": 1.0}
        return d[str(i)]
        """)
    with pytest.raises(StrategyError,
                       match=r"raises\.py, line \d+: strategy 'raises': decide raised KeyError: '0' at bar 0 "):
        load_file(q).decisions(None, generated_series(50))


@pytest.mark.parametrize("decide, value", [("return math.nan", "nan"), ("return 1.5 if i == 37 else 0.0", "1.5")])
def test_a_bad_target_names_the_bar(tmp_path, decide, value):
    spec = load_file(_strategy(tmp_path, "bad_target", decide))
    bar = "0" if value == "nan" else "37"
    with pytest.raises(StrategyError, match=rf"decide returned {value} at bar {bar} with parameters"):
        spec.decisions({"window": 5}, generated_series(100))
    from lq_engine.prefilter.evaluate import evaluate_grid

    with pytest.raises(StrategyError, match=rf"at bar {bar}"):  # the sweep names it too
        evaluate_grid(generated_series(100), spec, spec.default_grid(), backend="numba")


def test_a_decide_reading_the_next_bar_is_caught_with_the_bar_named(tmp_path):
    from lq_engine.replay.lookahead import check_lookahead

    spec = load_file(_strategy(tmp_path, "peeking", """
        if i + 1 < bars.close.shape[0] and bars.close[i + 1] > bars.close[i]:
            return 1.0
        return 0.0
        """))
    report = check_lookahead(spec, {"window": 5}, generated_series(300), cuts=[100, 200])
    assert not report.ok
    assert report.first_bad_bar == 99
    assert "the decision at bar 99 changed" in report.summary()
    checked = check_strategy(spec, timing=False, sweep_bars=1_000)
    bad = [r for r in checked.results if not r.ok]
    assert [r.name for r in bad] == ["lookahead"] and "changed" in bad[0].detail


def test_no_jit_mode_gives_the_same_results(tmp_path):
    """NUMBA_DISABLE_JIT=1 (the documented debugging mode) runs the strategy as plain Python."""
    code = ("import json\n"
            "from lq_engine.strategies import resolve\n"
            "from lq_engine.optimize.checks import generated_series\n"
            "from lq_engine.prefilter.evaluate import evaluate_grid, Costs\n"
            "s = generated_series(250)\n"
            "out = {}\n"
            "for name in ('rsi_time_stop', 'trend_vol_target', 'breakout_atr'):\n"
            "    spec = resolve(name)\n"
            "    g = spec.default_grid()[:3]\n"
            "    out[name] = [spec.decisions(p, s).targets.tolist() for p in g]\n"
            "    out[name + '_sharpe'] = evaluate_grid(s, spec, g, Costs(), backend='numba-api')"
            ".metrics['sharpe'].tolist()\n"
            "print(json.dumps(out))\n")
    runs = []
    for jit in ("0", "1"):
        env = {**os.environ, "NUMBA_DISABLE_JIT": jit}
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]


def test_a_spec_pickles_as_a_reference_and_refuses_a_changed_file(tmp_path):
    p = _strategy(tmp_path, "picklable", "return 1.0 if ind.ma[i] < bars.close[i] else 0.0")
    spec = load_file(p).with_grid({"window": (5, 7)})
    blob = pickle.dumps(spec)
    assert len(blob) < 1_000  # a reference, not the code
    back = pickle.loads(blob)
    assert back == spec and back.schema.default_grid["window"] == (5, 7)
    p.write_text(p.read_text().replace("ind.ma[i] < bars.close[i]", "ind.ma[i] > bars.close[i]"))
    with pytest.raises(StrategyError, match="changed while a run was using it"):
        pickle.loads(blob)


def test_project_strategies_are_discovered_and_replace_shipped_ones(tmp_path):
    folder = tmp_path / "strategies"
    folder.mkdir()
    _strategy(folder, "mine", "return 0.0")
    _strategy(folder, "ma_cross", "return 0.0")
    (folder / "_helpers.py").write_text("X = 1\n")
    found = origins(folder)
    assert found["mine"].kind == "project" and found["ma_cross"].kind == "project"
    assert found["rsi"].kind == "library" and "_helpers" not in found
    two = _file(folder, "two_classes", SIMPLE.format(cls="A", decide="        return 0.0")
                + SIMPLE.format(cls="B", decide="        return 0.0"))
    with pytest.raises(StrategyError, match="defines 2 strategy classes"):
        load_file(two)


def test_fractional_and_stateful_examples_really_use_their_features():
    s = generated_series(2_000, seed=3)
    vt = resolve("trend_vol_target")
    targets = np.concatenate([vt.decisions(p, s).targets for p in vt.default_grid()[:6]])
    assert np.any((targets > 0) & (targets < 1))  # fractional sizing
    ts = resolve("rsi_time_stop")
    p = dict(ts.default_params(), max_bars=5, trail=0.2, exit_level=90.0)
    d = ts.decisions(p, s).targets
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0.0, d, 0.0]) != 0))[::2]
    assert runs.size and runs.max() <= 5  # the time stop ends every trade within max_bars bars
    bo = resolve("breakout_atr")
    d = bo.decisions(bo.default_params(), s)
    entries = np.flatnonzero(np.diff(np.r_[0.0, d.targets]) > 0)
    assert entries.size and np.all((d.exits[entries, 0] > 0) & (d.exits[entries, 0] < 1))


def test_installed_packages_provide_strategies_through_the_entry_point_group(tmp_path, monkeypatch):
    pkg = tmp_path / "acme_strategies"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "momentum.py").write_text(HEADER + SIMPLE.format(cls="AcmeMomentum", decide="        return 1.0"))
    dist = tmp_path / "acme_strategies-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-strategies\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[luminaquant.strategies]\nacme_momentum = acme_strategies.momentum:AcmeMomentum\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = origins()
    assert found["acme_momentum"].kind == "entry_point"
    spec = resolve("acme_momentum")
    assert spec.name == "acme_momentum" and spec.source.kind == "module"
    assert spec.decisions({"window": 5}, generated_series(30)).targets.sum() == 30
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_an_indicator_takes_another_by_name_and_each_link_runs_once_per_distinct_tuple(tmp_path):
    q = _file(tmp_path, "chain", """
        CALLS = []


        class Chain(lq.Strategy):
            fast = lq.Int(2, 50, grid=(3, 5))
            slow = lq.Int(5, 100, grid=(10, 20, 40))
            band = lq.Float(0.0, 1.0, grid=(0.0, 0.1))

            @lq.indicator
            def gap(bars, fast, slow):
                CALLS.append(("gap", fast, slow))
                return lq.ta.sma(bars.close, fast) - lq.ta.sma(bars.close, slow)

            @lq.indicator
            def gap_z(bars, gap, window=30):  # takes the indicator above
                CALLS.append(("gap_z",))
                return lq.ta.zscore(gap, window)

            @lq.decide
            def decide(i, bars, ind, p, pos, st):
                z = ind.gap_z[i]
                return 1.0 if z > p.band else 0.0
        """)
    spec = load_file(q)
    assert [d.name for d in spec.indicators] == ["gap", "gap_z"]
    assert spec.indicator("gap_z").params == ("fast", "slow") and spec.indicator("gap_z").inputs == ("gap",)
    mod = sys.modules[spec.declaration.decide.__module__]
    bars = generated_series(400, seed=3)
    table = spec.table(spec.grid().rows())
    rows = spec.indicator_rows(table, bars)
    assert sorted(mod.CALLS) == sorted([("gap", f, s) for f in (3, 5) for s in (10, 20, 40)] + [("gap_z",)] * 6)
    close = np.asarray(bars.close, dtype=np.float64)
    for k, p in enumerate(table.rows()):
        want = lq_ta_zscore(close, p["fast"], p["slow"])
        np.testing.assert_array_equal(rows.bank[rows.idx[k, 1]], want)

    cyc = _file(tmp_path, "circle", """
        class Circle(lq.Strategy):
            w = lq.Int(2, 9, grid=(3,))

            @lq.indicator
            def a(bars, b):
                return b

            @lq.indicator
            def b(bars, a, w):
                return a

            @lq.decide
            def decide(i, bars, ind, p, pos, st):
                return 0.0
        """)
    with pytest.raises(StrategyError, match=r"circle\.py.*indicators depend on each other in a circle: a -> b -> a"):
        load_file(cyc)


def lq_ta_zscore(close, fast, slow):
    import lq_engine.api as lq

    return lq.ta.zscore(lq.ta.sma(close, fast) - lq.ta.sma(close, slow), 30)


def test_indicators_on_two_threads_keep_their_order_and_raise_the_first_error_in_order(monkeypatch):
    import numba

    from lq_engine.strategies import spec as spec_module

    numba.set_num_threads(2)
    items = list(range(10))  # each call of 10**6 values: on the pool's threads
    assert spec_module._map(lambda x: x * x, items, 10**6) == [x * x for x in items]

    def failing(bad):
        def f(x):
            if x in bad:
                raise ValueError(f"call {x}")
            return x
        return f

    with pytest.raises(ValueError, match="^call 3$"):
        spec_module._map(failing({3, 7}), items, 10**6)
    with pytest.raises(ValueError, match="^call 7$"):
        spec_module._map(failing({7, 9}), items, 10**6)

    s = resolve("pairs", project_grids=False)
    from lq_engine.prefilter.bench import synthetic_panel

    panel = synthetic_panel(6, 40_000, 5, cointegrated=True)  # 240k values per call: on the pool
    table = s.table(s.default_grid())
    threaded = s.indicator_rows(table, panel)
    monkeypatch.setattr(spec_module, "POOL_MIN_VALUES", 10**15)
    alone = s.indicator_rows(table, panel)
    assert threaded.keys == alone.keys and np.array_equal(threaded.idx, alone.idx)
    assert threaded.bank.tobytes() == alone.bank.tobytes()


def test_a_wide_grids_many_short_indicator_calls_run_in_chunks_on_the_threads_with_the_same_bank(monkeypatch):
    """A wide random grid needs ~2,000 moving averages of a few thousand bars each: too short for a
    thread each, so the calls run as one contiguous chunk per thread (issue 23). The bank is the
    same bytes as on one thread, and the chunks really ran on the pool's threads."""
    import threading

    import numba

    from lq_engine.prefilter.bench import sweep_bars
    from lq_engine.strategies import spec as spec_module

    s = resolve("ma_cross", project_grids=False)
    sets = s.space.sample(s.schema, 3000, seed=3)
    table = s.table(sets)
    bars = sweep_bars(5_000)
    callers = set()
    real = spec_module.StrategySpec._indicator

    def noting(self, *a, **k):
        callers.add(threading.current_thread().name)
        return real(self, *a, **k)

    monkeypatch.setattr(spec_module.StrategySpec, "_indicator", noting)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(2)
        threaded = s.indicator_rows(table, bars)
        assert threaded.bank.shape[0] > 1000 and any(n.startswith("lq-indicators") for n in callers)
        numba.set_num_threads(1)
        callers.clear()
        alone = s.indicator_rows(table, bars)
    finally:
        numba.set_num_threads(before)
    assert callers == {threading.current_thread().name}
    assert threaded.keys == alone.keys and threaded.bank.tobytes() == alone.bank.tobytes()
