"""An exception raised in ``decide`` names the file, the line, the bar (and its time), the symbol
and the parameter set, with the original exception chained (issue 20, finding 19: it was reported
without file or bar: "decide or exits raised ZeroDivisionError: division by zero (run with
NUMBA_DISABLE_JIT=1 to see the line ...)").

Every driver goes through ``codegen.Kernels``: the replay, the event engine (precomputed and
streaming, as the paper trader runs it), the prefilter sweep and ``lq strategy check``; compiled,
and without the JIT in a subprocess.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lq_engine.core.events import BarEvent
from lq_engine.errors import LQError
from lq_engine.prefilter.evaluate import evaluate_grid
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from lq_engine.data.bars import Bars
from lq_engine.replay.engine import replay
from lq_engine.replay.event_engine import PrecomputedDecider, StreamingDecider
from lq_engine.optimize.checks import check_strategy
from lq_engine.strategies.decide_errors import DecideError, IndicatorError
from lq_engine.strategies.registry import load_file

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00Z; bar 37 opens at 00:37
BAR37 = "2024-01-01T00:37:00Z"
N = 120

# ``kind``: how it fails at bar 37 when slow == 20. "divide": a division by zero (raises under
# Python and numba's Python error model: replay, event engine, paper; the parallel sweep uses numpy's
# model, where it gives inf, refused as a target); "raise": an explicit raise (raises everywhere).
STRATEGY = '''
"""Fails at bar 37 (slow == 20)."""
import lq_engine.api as lq


class {cls}(lq.Strategy):
    fast = lq.Int(2, 50, grid=(3, 5))
    slow = lq.Int(5, 100, grid=(10, 20))
    constraints = [lq.less("fast", "slow")]

    @lq.indicator
    def fast_ma(bars, fast):
        return lq.ta.sma(bars.close, fast)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if i == 37 and p.slow == 20:
            gap = i - 37
            {fail}
        return 0.0
'''
FAIL = {
    "divide": "return 1 / gap  # the raising line",
    "raise": 'raise ZeroDivisionError("no gap")  # the raising line',
}


def write_strategy(folder: Path, kind: str) -> tuple[Path, int]:
    """The strategy file and the line number of its raising statement."""
    f = folder / f"fail_{kind}.py"
    f.write_text(textwrap.dedent(STRATEGY).format(cls=f"Fail{kind.title()}", fail=FAIL[kind]))
    line = next(k for k, ln in enumerate(f.read_text().splitlines(), 1) if "the raising line" in ln)
    return f, line


def series(symbol: str = "ZDIV") -> Bars:
    rng = np.random.default_rng(3)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
    return Bars.from_arrays(symbol, T0 + np.arange(N, dtype=np.int64) * 60_000_000_000, c, c * 1.01, c * 0.99, c,
                              np.full(N, 1e4))


def assert_located(e: BaseException, file: Path, line: int, params: dict, symbol: str | None = "ZDIV") -> None:
    msg = str(e)
    assert isinstance(e, DecideError) and isinstance(e, LQError), f"{type(e).__name__}: {msg}"
    assert msg.startswith(f"{file}, line {line}: strategy "), msg
    assert "decide raised ZeroDivisionError" in msg and f"at bar 37 ({BAR37})" in msg, msg
    assert f"with parameters {params}" in msg, msg
    if symbol:
        assert f" of {symbol} " in msg, msg
    assert "the raising line" in msg  # the statement itself, quoted
    assert isinstance(e.__cause__, ZeroDivisionError)  # the original, chained
    f = e.failure
    assert (f.bar, f.ts, f.line, f.function, f.params) == (37, T0 + 37 * 60_000_000_000, line, "decide", params)


@pytest.mark.parametrize("kind", ["divide", "raise"])
def test_replay_and_event_engine_name_file_line_bar_symbol_params(tmp_path, kind):
    f, line = write_strategy(tmp_path, kind)
    spec = load_file(f)
    s = series()
    want = {"fast": 3, "slow": 20}
    with pytest.raises(DecideError) as e:
        replay(spec, want, s)
    assert_located(e.value, f, line, want)
    with pytest.raises(DecideError) as e:
        PrecomputedDecider(spec, want, s)
    assert_located(e.value, f, line, want)
    replay(spec, {"fast": 3, "slow": 10}, s)  # the other sets run
    # streaming, as the paper trader decides: bar by bar, the error at bar 37's close
    d = StreamingDecider(spec, want)
    with pytest.raises(DecideError) as e:
        for i in range(N):
            d.decide(i, BarEvent(int(s.ts[i]), i, s.symbol, s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i]))
    assert d.n == 38
    assert_located(e.value, f, line, want)
    back = pickle.loads(pickle.dumps(e.value))  # crosses worker processes whole
    assert str(back) == str(e.value) and back.failure == e.value.failure


def test_prefilter_sweep_names_the_first_failing_set(tmp_path):
    """Sets (3, 10), (3, 20), (5, 10), (5, 20): two fail; the first in order is named, whichever
    thread of the parallel sweep raised first."""
    f, line = write_strategy(tmp_path, "raise")
    spec = load_file(f)
    sets = spec.grid().rows()
    assert [p["slow"] for p in sets].count(20) == 2
    with pytest.raises(DecideError) as e:
        evaluate_grid(series(), spec, sets, backend="numba")
    assert_located(e.value, f, line, {"fast": 3, "slow": 20}, symbol=None)
    # a division by zero in the parallel sweep (numpy's error model) gives inf: refused, bar and set named
    f2, _ = write_strategy(tmp_path, "divide")
    with pytest.raises(LQError, match=r"decide returned inf at bar 37 with parameters \{'fast': 3, 'slow': 20\}"):
        evaluate_grid(series(), load_file(f2), sets, backend="numba")


PORTFOLIO = '''
"""A portfolio strategy failing at bar 37 (lookback == 10)."""
import numpy as np

import lq_engine.api as lq


class FailPortfolio(lq.PortfolioStrategy):
    min_symbols = 2
    lookback = lq.Int(2, 100, grid=(5, 10))

    @lq.indicator
    def momentum(bars, lookback):
        return np.vstack([lq.ta.roc(c, lookback) for c in bars.close])

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        if i == 37 and p.lookback == 10:
            raise ZeroDivisionError("no gap")  # the raising line
        w[0] = 0.5
        return True
'''


def test_portfolio_replay_and_parallel_sweep(tmp_path):
    """numba's parallel portfolio sweep dropped the exception: the failing set came back with
    made-up metrics (total return -1) and no error at all. Now it is named like the others."""
    from lq_engine.prefilter.evaluate import evaluate_panel
    from lq_engine.replay.portfolio import replay_portfolio
    from lq_engine.strategies.panel import Panel

    f = tmp_path / "fail_portfolio.py"
    f.write_text(PORTFOLIO)
    line = next(k for k, ln in enumerate(PORTFOLIO.splitlines(), 1) if "the raising line" in ln)
    spec = load_file(f)
    panel = Panel.from_series([series("PA"), series("PB")])
    with pytest.raises(DecideError) as e:
        replay_portfolio(spec, {"lookback": 10}, panel)
    assert_located(e.value, f, line, {"lookback": 10}, symbol=None)
    with pytest.raises(DecideError) as e:
        evaluate_panel(panel, spec, spec.grid().rows())
    assert_located(e.value, f, line, {"lookback": 10}, symbol=None)
    assert evaluate_panel(panel, spec, [{"lookback": 5}]).metrics["total_return"][0] > -1.0  # the other set runs


def test_strategy_check_names_the_line_and_bar(tmp_path):
    f, line = write_strategy(tmp_path, "divide")
    f.write_text(f.read_text().replace("p.slow == 20", "True"))  # the defaults fail too
    report = check_strategy(load_file(f), timing=False)
    assert not report.ok
    failed = next(r for r in report.results if not r.ok)
    assert f"{f}, line {line}:" in failed.detail and "at bar 37 (" in failed.detail, failed.detail
    assert "ZeroDivisionError" in failed.detail and "with parameters {" in failed.detail


PROBE = """
import json, sys
sys.path.insert(0, {tests!r})
from test_decide_errors import series, write_strategy
from pathlib import Path
from lq_engine.prefilter.evaluate import evaluate_grid
from lq_engine.replay.engine import replay
from lq_engine.strategies.registry import load_file

out = {{}}
for kind in ("divide", "raise"):
    f, line = write_strategy(Path({folder!r}), kind)
    spec = load_file(f)
    for what, run in (("replay", lambda: replay(spec, {{"fast": 3, "slow": 20}}, series())),
                      ("sweep", lambda: evaluate_grid(series(), spec, spec.grid().rows(), backend="numba"))):
        try:
            run()
            out[kind + " " + what] = None
        except Exception as e:
            out[kind + " " + what] = [type(e).__name__, str(e), line, type(e.__cause__).__name__]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_without_the_jit_the_same_message(tmp_path):
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    code = PROBE.format(tests=str(Path(__file__).parent), folder=str(tmp_path))
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for key in ("divide replay", "raise replay", "divide sweep", "raise sweep"):  # (i is a Python int here)
        kind, msg, line, cause = out[key]
        assert kind == "DecideError" and cause == "ZeroDivisionError", (key, msg)
        assert f"fail_{key.split()[0]}.py, line {line}: strategy" in msg and f"at bar 37 ({BAR37})" in msg, (key, msg)
        assert "with parameters {'fast': 3, 'slow': 20}" in msg, (key, msg)
    assert " of ZDIV " in out["divide replay"][1]


def test_a_raising_indicator_names_its_line_and_arguments(tmp_path):
    f, _ = write_strategy(tmp_path, "divide")
    text = f.read_text().replace("        return lq.ta.sma(bars.close, fast)",
                                 "        if fast == 5:\n            raise ValueError('no window')  # indicator line\n"
                                 "        return lq.ta.sma(bars.close, fast)")
    f.write_text(text)
    line = next(k for k, ln in enumerate(text.splitlines(), 1) if "indicator line" in ln)
    with pytest.raises(IndicatorError) as e:
        replay(load_file(f), {"fast": 5, "slow": 10}, series())
    msg = str(e.value)  # as a decide's error: file and line, the bars it ran over (no bar of its own), symbol, set
    assert msg.startswith(f"{f}, line {line}: strategy 'fail_divide': indicator fast_ma(fast=5) raised ValueError: "
                          f"no window on its input of {N} bars (2024-01-01T00:00:00Z to 2024-01-01T01:59:00Z) of "
                          "ZDIV with parameters {'fast': 5, 'slow': 10}"), msg
    assert msg.endswith("\n    raise ValueError('no window')  # indicator line") and isinstance(e.value, LQError)
    assert isinstance(e.value.__cause__, ValueError)
