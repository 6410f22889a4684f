"""The edges of the strategy API (issue 19, item 6): ``decide``'s and ``exits``' argument names are
checked, not only their count; a ``Choice`` of strings is read by name in ``decide``
(``p.MODE_FAST``) with the same decisions as the index form in every driver; the shipped examples
hold only public-API code."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import numpy as np
import pytest

import lq_engine.api as lq
from lq_engine.data.bars import Bars
from lq_engine.prefilter.evaluate import evaluate_grid
from lq_engine.replay.engine import replay
from lq_engine.replay.lookahead import default_series
from lq_engine.strategies import StrategyError, resolve
from lq_engine.strategies.registry import LIBRARY_PACKAGE, load_file, shipped


def _declare(source: str) -> type:
    ns: dict = {"lq": lq, "__name__": "api_edges_case"}
    exec(textwrap.dedent(source), ns)
    return next(v for v in ns.values()
                if isinstance(v, type) and issubclass(v, lq.Strategy) and v.__module__ == "api_edges_case")


SINGLE = """
class Case(lq.Strategy):
    window = lq.Int(2, 10)

    @lq.decide
    def decide({decide}):
        return 0.0
"""
WITH_EXITS = """
class Case(lq.Strategy):
    window = lq.Int(2, 10)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        return 0.0

    @lq.exits
    def exits({exits}):
        return 0.05, 0.1, 0.08
"""
PORTFOLIO = """
class Case(lq.PortfolioStrategy):
    window = lq.Int(2, 10)

    @lq.decide
    def decide({decide}):
        return False
"""


@pytest.mark.parametrize("template, args, message", [
    (SINGLE, "i, bars, p, ind, pos, st", r"@lq\.decide function decide\(i, bars, p, ind, pos, st\): argument 3 is "
                                         r"named 'p', expected 'ind' \('p' goes at argument 4\); decide takes "
                                         r"\(i, bars, ind, p, pos, st\) in this order"),
    (SINGLE, "i, bars, ind, p, st, pos", r"argument 5 is named 'st', expected 'pos'"),
    (SINGLE, "i, bar, ind, p, pos, st", r"argument 2 is named 'bar', expected 'bars'; decide takes"),
    (SINGLE, "i, bars, ind, p, pos", r"takes 5 arguments; decide takes \(i, bars, ind, p, pos, st\)"),
    (SINGLE, "i, bars, ind, p, pos, *, st", r"argument 'st' must be a plain positional argument"),
    (SINGLE, "i, bars, ind, p, pos, st=None", r"argument 'st' must be a plain positional argument"),
    (WITH_EXITS, "i, bars, ind, pos, p, st", r"@lq\.exits function exits\(i, bars, ind, pos, p, st\): argument 4 is "
                                             r"named 'pos', expected 'p'.*exits takes \(i, bars, ind, p, pos, st\)"),
    (PORTFOLIO, "i, bars, ind, p, pos, st", r"takes 6 arguments; decide takes \(i, bars, ind, p, pos, st, w\)"),
    (PORTFOLIO, "i, bars, ind, p, pos, w, st", r"argument 6 is named 'w', expected 'st'"),
])
def test_decide_and_exits_arguments_are_checked_by_name_and_order(template, args, message):
    """Before: only the count was checked, so swapped arguments passed (decide read the parameters
    as the indicators). The error names the file, the function and the expected order."""
    key = "exits" if template is WITH_EXITS else "decide"
    with pytest.raises(StrategyError, match=message) as e:
        _declare(template.format(**{key: args}))
    assert "strategy Case" in str(e.value) and "in this order" in str(e.value)


def test_a_leading_underscore_marks_an_unused_argument():
    cls = _declare(SINGLE.format(decide="i, _bars, _ind, _p, _pos, _st"))
    assert cls.declaration.decide.__name__ == "decide"
    _declare(WITH_EXITS.format(exits="_i, _bars, ind, p, _pos, _st"))
    _declare(PORTFOLIO.format(decide="i, bars, ind, p, _pos, _st, w"))
    with pytest.raises(StrategyError, match=r"argument 5 is named '_st', expected 'pos'"):
        _declare(SINGLE.format(decide="i, bars, ind, p, _st, _pos"))


# -- a Choice of strings, read by name ------------------------------------------------------------

CHOICE = '''
import lq_engine.api as lq


class {cls}(lq.Strategy):
    """Trend or reversion around one average, or flat."""

    window = lq.Int(2, 100, grid=(5, 12))
    mode = lq.Choice("trend", "mean-revert", "flat")
    side = lq.Side(grid=("long", "both"))

    @lq.indicator
    def ma(bars, window):
        return lq.ta.sma(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        above = bars.close[i] > ind.ma[i]
        if not ind.ma[i] > 0.0:
            return 0.0
        if p.mode == {trend}:
            return lq.sided(1.0 if above else -1.0, p.side)
        if p.mode == {revert}:
            return lq.sided(-1.0 if above else 1.0, p.side)
        return 0.0
'''


def test_a_string_choice_is_read_by_name_with_the_index_forms_decisions_in_sweep_and_replay(tmp_path):
    by_name = tmp_path / "by_name.py"
    by_name.write_text(CHOICE.format(cls="ByName", trend="p.MODE_TREND", revert="p.MODE_MEAN_REVERT"))
    by_index = tmp_path / "by_index.py"
    by_index.write_text(CHOICE.format(cls="ByIndex", trend="0", revert="1"))
    named, indexed = load_file(by_name), load_file(by_index)

    assert named.kernels.module.P._fields == ("window", "mode", "side", "MODE_TREND", "MODE_MEAN_REVERT", "MODE_FLAT",
                                              "SIDE_LONG", "SIDE_SHORT", "SIDE_BOTH")
    p0 = named.kernels.module._params.py_func(np.zeros(3))
    assert (p0.MODE_TREND, p0.MODE_MEAN_REVERT, p0.MODE_FLAT) == (0, 1, 2)
    assert (p0.SIDE_LONG, p0.SIDE_SHORT, p0.SIDE_BOTH) == (lq.LONG, lq.SHORT, lq.BOTH)
    series = default_series(800, seed=3)
    sets = named.grid().rows()
    assert {s["mode"] for s in sets} == {"trend", "mean-revert", "flat"} and len(sets) == 12

    # the prefilter sweep (the generated parallel kernel): the same metrics for every set
    bars = Bars(series.open, series.high, series.low, series.close, series.volume, series.ts)
    a = evaluate_grid(bars, named, sets, backend="numba-api")
    b = evaluate_grid(bars, indexed, sets, backend="numba-api")
    assert a.metrics.keys() == b.metrics.keys()
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k], err_msg=k)

    # the replay (the decision loop and the full execution model): the same targets and equity
    targets = {}
    for p in sets:
        ra, rb = replay(named, p, series), replay(indexed, p, series)
        np.testing.assert_array_equal(ra.target, rb.target)
        np.testing.assert_array_equal(ra.equity, rb.equity)
        targets[(p["window"], p["mode"], p["side"])] = ra.target
    # the modes really decide differently: trend is long above the average, reversion below it
    close, ma = series.close, lq.ta.sma(series.close, 5)
    warm = ma > 0.0
    np.testing.assert_array_equal(targets[(5, "trend", "long")][warm], (close > ma)[warm].astype(float))
    np.testing.assert_array_equal(targets[(5, "mean-revert", "long")][warm], (close < ma)[warm].astype(float))
    assert not targets[(5, "flat", "both")].any()
    assert (targets[(5, "trend", "both")] == -1.0).any()


def test_choice_constants_that_would_share_a_name_are_refused():
    with pytest.raises(StrategyError,
                       match=r"parameter 'mode': choices 'a-b' and 'a_b' would both be read as p\.MODE_A_B"):
        _declare("""
            class Case(lq.Strategy):
                mode = lq.Choice("a-b", "a_b")

                @lq.decide
                def decide(i, bars, ind, p, pos, st):
                    return 0.0
            """)
    with pytest.raises(StrategyError,
                       match=r"choice 'fast' is read as p\.MODE_FAST in decide, the name of parameter 'MODE_FAST'"):
        _declare("""
            class Case(lq.Strategy):
                MODE_FAST = lq.Int(1, 3)
                mode = lq.Choice("fast", "slow")

                @lq.decide
                def decide(i, bars, ind, p, pos, st):
                    return 0.0
            """)
    numbers = _declare("""
        class Case(lq.Strategy):
            k = lq.Choice(1, 2, 3)
            fast = lq.Choice("fast", "+")

            @lq.decide
            def decide(i, bars, ind, p, pos, st):
                return 0.0
        """)
    k, fast = numbers.declaration.params
    assert k.choice_constants == {} and fast.choice_constants == {"FAST_FAST": 0}  # '+' has no letter: no name


def test_a_misspelt_choice_constant_is_a_compile_error_naming_the_line(tmp_path):
    """Before, numba's 'Unknown attribute' error named the function only, not the line."""
    path = tmp_path / "typo.py"
    path.write_text(CHOICE.format(cls="Typo", trend="p.MODE_TRND", revert="p.MODE_MEAN_REVERT"))
    spec = load_file(path)
    with pytest.raises(StrategyError, match=r"typo\.py, line 21: strategy 'typo', function decide: numba cannot "
                                            r"compile it: Unknown attribute 'MODE_TRND'.*\n    if p\.mode == "
                                            r"p\.MODE_TRND:"):
        spec.decisions({"window": 5, "mode": "trend"}, default_series(50))


# -- the shipped examples show only the public API -------------------------------------------------

def test_shipped_examples_import_only_the_public_api_and_the_four_keep_their_rule_programs():
    """Before, ma_cross, rsi, bollinger and donchian_atr imported lq_engine.authoring.declare.rules and
    lq_engine.kernels.rules to carry a second, internal form; their rule programs now live in
    lq_engine.strategies.rule_programs, found where the spec is resolved."""
    from lq_engine.strategies.rule_programs import PROGRAMS

    folder = Path(__import__(LIBRARY_PACKAGE, fromlist=["_"]).__file__).parent
    for name in shipped():
        tree = ast.parse((folder / f"{name}.py").read_text())
        engine = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
                  if a.name.startswith("lq_engine")]
        engine += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert engine == ["lq_engine.api"], (name, engine)
        assert not any(isinstance(n, ast.FunctionDef) and n.name == "rules" for n in ast.walk(tree)), name
    with_rules = sorted(n for n in shipped() if resolve(n, project_grids=False).rules is not None)
    assert with_rules == ["bollinger", "donchian_atr", "ma_cross", "rsi"]
    for module, cls_name in PROGRAMS:  # each program names a class that exists
        assert getattr(__import__(module, fromlist=[cls_name]), cls_name).declaration.cls_name == cls_name


def test_a_project_strategy_named_like_a_shipped_one_has_no_rule_program(tmp_path):
    source = Path(__import__(f"{LIBRARY_PACKAGE}.ma_cross", fromlist=["_"]).__file__).read_text()
    path = tmp_path / "ma_cross.py"
    path.write_text(source)
    assert load_file(path).rules is None  # a copy may be edited: it runs on its generated kernel
    assert resolve("ma_cross", project_grids=False).rules is not None
