"""Issue 21, finding 4: an exception in a strategy's code (an indicator or decide; single-symbol or
portfolio; compiled or under NUMBA_DISABLE_JIT=1) names the strategy's file and line, the bar (and
its time) and the parameter set, in every path users hit: the replay, the prefilter sweep, the
lookahead scan (``lq check lookahead``, the optimizer's lookahead gate, ``lq strategy check``),
and ``lq strategy check`` itself.

Reproduced before the fix: a portfolio ``decide`` doing ``if ind.momentum[:, i] > 0:`` (an array's
truth value) came out of the parallel sweep as "decide or exits raised SystemError: CPUDispatcher(...)
returned a result with an exception set" and out of the lookahead scan as "decide or exits raised
ValueError: The truth value of an array ..." (no line, bar or set); an indicator's error named
neither the bars nor the parameter set; numba's compile error for a portfolio ``decide`` named no
line ("found for signature:" and nothing after). ``lq optimize`` printed the bare innermost
"ValueError: ..." (``test_optimize_isolation``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lq_engine.authoring.declare import StrategyError
from lq_engine.data.bars import Bars
from lq_engine.errors import LQError
from lq_engine.prefilter.evaluate import evaluate_grid, evaluate_panel
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from lq_engine.replay.engine import replay
from lq_engine.replay.lookahead import lookahead_scan
from lq_engine.replay.portfolio import replay_portfolio
from lq_engine.strategies.decide_errors import DecideError, IndicatorError
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.registry import load_file

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00Z, one bar a minute: bar 37 is 00:37
N = 120
BAR37 = "at bar 37 (2024-01-01T00:37:00Z)"
SPAN = f"on its input of {N} bars (2024-01-01T00:00:00Z to 2024-01-01T01:59:00Z)"
TRUTH = "ValueError: The truth value of an array with more than one element is ambiguous"

# One file per kind, its failure chosen by the `mode` parameter (one compile serves every case):
# "decide" fails at bar 37 on an array's truth value, "indicator" fails in the indicator the same way.
SINGLE = '''
"""Breaks on purpose (mode)."""
import lq_engine.api as lq


class Broken(lq.Strategy):
    window = lq.Int(2, 20, grid=(3, 5))
    mode = lq.Choice("ok", "decide", "indicator")

    @lq.indicator
    def ma(bars, window, mode):
        if mode == "indicator" and bars.close > 0:  # the indicator line
            return bars.close
        return lq.ta.sma(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if i == 37 and p.mode == p.MODE_DECIDE:
            if ind.ma[i - 2:i] > 0:  # the decide line
                return 1.0
        return 0.0
'''

PORTFOLIO = '''
"""Breaks on purpose (mode): a (symbols x bars) indicator used as if it were one series."""
import numpy as np

import lq_engine.api as lq


class BrokenPortfolio(lq.PortfolioStrategy):
    min_symbols = 2
    lookback = lq.Int(2, 20, grid=(3, 5))
    mode = lq.Choice("ok", "decide", "indicator")

    @lq.indicator
    def momentum(bars, lookback, mode):
        if mode == "indicator" and bars.close[:, -1] > 0:  # the indicator line
            return bars.close
        return np.vstack([lq.ta.roc(c, lookback) for c in bars.close])

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        if i == 37 and p.mode == p.MODE_DECIDE:
            if ind.momentum[:, i] > 0.0:  # the decide line
                w[0] = 0.5
        return True
'''


def write(folder: Path, name: str, source: str) -> tuple[Path, dict[str, int]]:
    """The file and the line numbers of its 'indicator' and 'decide' lines."""
    f = folder / f"{name}.py"
    f.write_text(textwrap.dedent(source))
    lines = {what: next(k for k, ln in enumerate(f.read_text().splitlines(), 1) if f"# the {what} line" in ln)
             for what in ("indicator", "decide")}
    return f, lines


def series(symbol: str, seed: int = 3) -> Bars:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
    return Bars.from_arrays(symbol, T0 + np.arange(N, dtype=np.int64) * 60_000_000_000, c, c * 1.01, c * 0.99, c,
                            np.full(N, 1e4))


def panel() -> Panel:
    return Panel.from_series([series("PA", 3), series("PB", 4)])


def cases(folder: Path) -> dict[str, tuple[Path, dict[str, int], str]]:
    """name -> (file, lines, parameter name of the window) of both strategies."""
    (f1, l1), (f2, l2) = write(folder, "broken", SINGLE), write(folder, "broken_portfolio", PORTFOLIO)
    return {"single": (f1, l1, "window"), "portfolio": (f2, l2, "lookback")}


def runs(kind: str, f: Path) -> dict:
    """path -> a call raising the strategy's error along it (``mode`` and the sets say which)."""
    spec = load_file(f)
    w = "window" if kind == "single" else "lookback"
    data = series("ZS") if kind == "single" else panel()
    rows = spec.grid().rows()

    def sets(*modes: str) -> list[dict]:
        return [p for p in rows if p["mode"] in modes]

    if kind == "single":
        return {
            "replay decide": lambda: replay(spec, {w: 3, "mode": "decide"}, data),
            "replay indicator": lambda: replay(spec, {w: 5, "mode": "indicator"}, data),
            "sweep decide": lambda: evaluate_grid(data, spec, sets("ok", "decide"), backend="numba"),
            "sweep indicator": lambda: evaluate_grid(data, spec, rows, backend="numba"),
            "lookahead decide": lambda: lookahead_scan(spec, sets("ok", "decide"), data),
            "lookahead indicator": lambda: lookahead_scan(spec, rows, data),
        }
    return {
        "replay decide": lambda: replay_portfolio(spec, {w: 3, "mode": "decide"}, data),
        "replay indicator": lambda: replay_portfolio(spec, {w: 5, "mode": "indicator"}, data),
        "sweep decide": lambda: evaluate_panel(data, spec, sets("ok", "decide")),
        "sweep indicator": lambda: evaluate_panel(data, spec, rows),
        "lookahead decide": lambda: lookahead_scan(spec, sets("ok", "decide"), data),
        "lookahead indicator": lambda: lookahead_scan(spec, rows, data),
    }


def caught(run) -> tuple[str, str, str, dict | None]:
    """(error type, message, type of the chained cause, failure's parameters) of ``run()``."""
    try:
        run()
    except Exception as e:  # noqa: BLE001 - what the user would see, whatever it is
        return type(e).__name__, str(e), type(e.__cause__).__name__, getattr(getattr(e, "failure", None), "params",
                                                                             None)
    return "none", "", "", None


def check(key: str, got: tuple, f: Path, lines: dict[str, int], w: str) -> None:
    """What every message must say: file and line, what raised and why, the bar (or the bars an
    indicator ran over), the parameter set; the original exception chained."""
    kind, msg, cause, params = got
    path, what = key.split()[1:]
    assert kind == ("IndicatorError" if what == "indicator" else "DecideError"), (key, kind, msg)
    assert msg.startswith(f"{f}, line {lines[what]}: strategy "), (key, msg)
    assert TRUTH in msg and cause == "ValueError", (key, msg, cause)
    assert f"# the {what} line" in msg, (key, msg)  # the statement, quoted
    assert params is not None and params["mode"] == what, (key, params)
    assert f"with parameters {params}" in msg, (key, msg)
    if what == "decide":
        assert f"decide raised {TRUTH}" in msg and BAR37 in msg, (key, msg)
        if path != "lookahead":
            assert params[w] == 3, (key, params)  # the first failing set in order
    else:
        assert f"indicator {'ma' if w == 'window' else 'momentum'}({w}={params[w]}, mode='indicator') raised" in msg
        if path != "lookahead":  # (the scan's runs see truncated and perturbed copies)
            assert SPAN in msg, (key, msg)
    assert "NUMBA_DISABLE_JIT" not in msg, (key, msg)  # the line is there: no advice to find it


@pytest.mark.parametrize("kind", ["single", "portfolio"])
def test_compiled_every_path_names_file_line_bar_and_set(tmp_path, kind):
    f, lines, w = cases(tmp_path)[kind]
    for key, run in runs(kind, f).items():
        check(f"{kind} {key}", caught(run), f, lines, w)


PROBE = """
import json, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_user_code_errors import cases, caught, runs

out = {{}}
for kind, (f, lines, w) in cases(Path({folder!r})).items():
    for key, run in runs(kind, f).items():
        out[kind + " " + key] = [str(f), lines, w, caught(run)]
print(json.dumps(out))
"""


def test_without_the_jit_the_same_messages(tmp_path):
    """NUMBA_DISABLE_JIT=1 (read by numba at import: a subprocess): the same paths, the same messages."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    code = PROBE.format(tests=str(Path(__file__).parent), folder=str(tmp_path))
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(out) == 12
    for key, (f, lines, w, got) in out.items():
        check(key, tuple(got), Path(f), lines, w)


TYPING = '''
"""numba cannot type this decide: a vector into one weight."""
import numpy as np

import lq_engine.api as lq


class Untyped(lq.PortfolioStrategy):
    min_symbols = 2
    lookback = lq.Int(2, 20, grid=(3, 5))

    @lq.indicator
    def momentum(bars, lookback):
        return np.vstack([lq.ta.roc(c, lookback) for c in bars.close])

    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        w[0] = ind.momentum[:, i]  # the typing line
        return True
'''


def test_a_portfolio_decide_numba_cannot_compile_names_its_line(tmp_path, monkeypatch):
    """Before: "numba cannot compile it: No implementation of function ... found for signature:" with
    neither line nor signature (numba names the file relative to the working directory)."""
    f = tmp_path / "untyped.py"
    f.write_text(TYPING)
    line = next(k for k, ln in enumerate(TYPING.splitlines(), 1) if "# the typing line" in ln)
    monkeypatch.chdir(REPO_ROOT)  # (numba then writes the file as ../../tmp/...)
    spec = load_file(f)
    for run in (lambda: replay_portfolio(spec, {"lookback": 3}, panel()),
                lambda: evaluate_panel(panel(), spec, spec.grid().rows())):
        with pytest.raises(StrategyError) as e:
            run()
        msg = str(e.value)
        assert isinstance(e.value, LQError) and not isinstance(e.value, DecideError)
        assert msg.startswith(f"{f}, line {line}: strategy 'untyped', function decide: numba cannot compile it: "
                              "No implementation of function"), msg
        assert msg.endswith("\n(found while compiling, before any bar ran: no bar or parameter set to name; run "
                            "with NUMBA_DISABLE_JIT=1 to debug the strategy as plain Python)"), msg
        assert "found for signature: setitem(array(float64, 1d, C), " in msg, msg  # what numba could not match
        assert "w[0] = ind.momentum[:, i]" in msg and len(msg.splitlines()) <= 3, msg  # no 60-line dump


def test_an_indicator_error_pickles_and_names_the_symbol(tmp_path):
    """An ``IndicatorError`` crosses worker processes whole and is a ``DecideError``: the drivers that
    know the series' symbol name it (the replay does)."""
    import pickle

    f, _, _ = cases(tmp_path)["single"]
    with pytest.raises(IndicatorError) as e:
        replay(load_file(f), {"window": 5, "mode": "indicator"}, series("ZS"))
    assert " of ZS with parameters {'window': 5, 'mode': 'indicator'}" in str(e.value)
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is IndicatorError and str(back) == str(e.value) and back.failure == e.value.failure
