"""Fixed, seeded inputs cut the way the product cuts them, and what every driver makes of them.

``test_jit_differential`` computes ``results()`` in a subprocess under ``NUMBA_DISABLE_JIT=1`` (numba
reads that setting once, at import) and again compiled in the test process, and compares them.

Cuts (as the optimizer, the search and the paper trader make them): a span starting inside the
series (``Span.cut`` / ``PanelSpan``) and windows of it at offsets, the first fold (the span's
start), the holdout (up to the end), a one-bar window, a window of raw strided views; panels have
symbols with gaps and late starts (``Panel.from_series`` over missing bars).
Drivers: the decision loop (targets, exits, rebalance), the prefilter sweep (``evaluate_grid`` on the
generated kernel and, for a rule strategy, the numba rule kernel; ``evaluate_panel``), the replay,
the event engine, and the paper trader's path (decisions over the visible prefix only); for a
single-symbol strategy also the generated kernel, the replay and the event engine of a perpetual
(funding booked).

    python -m strategies.jit_cases OUT.pkl      (run from tests/)
"""

from __future__ import annotations

import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

N = 240  # bars of every series / panel clock
SPAN_START = 30  # the span the windows are cut from starts here (like a prefilter unit's span)
WINDOWS = {  # kind -> (a, b), absolute rows
    "offset": (50, 200),
    "first_fold": (SPAN_START, 130),
    "holdout": (180, N),
    "one_bar": (101, 102),
    "strided": (40, 220),  # raw strided views of these rows, bypassing Panel.window / Span
}
PAPER_PREFIXES = (1, 37, 90)  # the paper trader decides bar k-1 from the first k bars of a window
# strategies of the tests beside the shipped ones: higher-timeframe indicators on bins that close
# within N minutes (the shipped mtf_trend's 4-hour filter closes no bar in N minutes)
EXTRA = {"mtf_fast": Path(__file__).parent / "mtf" / "mtf_fast.py"}


@dataclass(frozen=True)
class Case:
    strategy: str
    kind: str  # a key of WINDOWS

    @property
    def key(self) -> str:
        return f"{self.strategy}/{self.kind}"


def cases() -> list[Case]:
    from lq_engine.strategies.registry import list_strategies

    return [Case(name, kind) for name in [*list_strategies(), *EXTRA] for kind in WINDOWS]


def spec_of(name: str) -> Any:
    """A shipped strategy, or one of ``EXTRA``."""
    from lq_engine.strategies import resolve
    from lq_engine.strategies.registry import load_file

    return load_file(EXTRA[name]) if name in EXTRA else resolve(name)


def param_sets(name: str) -> list[dict[str, Any]]:
    """Two sets of ``name``: its defaults and a seeded pick of its default grid (pairs: one that trades
    on these panels)."""
    spec = spec_of(name)
    g = spec.default_grid()
    other = g[(len(name) * 7919) % len(g)]
    if name == "pairs":
        return [{"pair": 0, "hedge_window": 20, "z_window": 10, "entry_z": 1.0, "exit_z": 0.0},
                {"pair": 2, "hedge_window": 20, "z_window": 10, "entry_z": 1.5, "exit_z": 0.5}]
    return [spec.default_params(), other]


def _series():
    from replay.bars import series

    return series(N, 11, vol=0.015, volume_scale=1e4)


def _panel():
    from strategies.test_portfolio import random_panel

    return random_panel(7, 4, N, 0.02)  # late starts, ends and gaps (few: a pair needs common dates in a row)


def _strided(x: np.ndarray, a: int, b: int) -> np.ndarray:
    """Rows [a, b) (last axis) of ``x`` as a strided view into a buffer twice as wide."""
    x = np.asarray(x)[..., a:b]
    wide = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), dtype=x.dtype)
    wide[..., ::2] = x
    out = wide[..., ::2]
    out.setflags(write=False)
    return out


def cut(case: Case) -> Any:
    """The case's input: ``Bars`` (a window, or strided) for a single-symbol strategy, a ``Panel``
    for a portfolio strategy."""
    from lq_engine.optimize.tasks import PanelSpan, Span
    from lq_engine.data.bars import Bars
    from lq_engine.strategies.panel import Panel

    a, b = WINDOWS[case.kind]
    if spec_of(case.strategy).is_portfolio:
        p = _panel()
        if case.kind == "strided":
            return Panel(p.symbols, *(_strided(getattr(p, f), a, b)
                                      for f in ("ts", "open", "high", "low", "close", "volume", "mask")))
        return PanelSpan(SPAN_START, p.window(SPAN_START, p.n)).window(a, b)
    s = _series()
    if case.kind == "strided":
        return Bars(*(_strided(getattr(s, f), a, b) for f in ("open", "high", "low", "close", "volume", "ts")))
    return Span.cut(s, SPAN_START, N).series(a, b)


def _prefix(data: Any, k: int) -> Any:
    """The first ``k`` bars of ``data`` as new arrays (what the paper trader has seen at bar k-1)."""
    from lq_engine.data.bars import Bars
    from lq_engine.strategies.panel import Panel

    def first(x: np.ndarray) -> np.ndarray:
        out = np.array(np.asarray(x)[..., :k])
        out.setflags(write=False)  # read-only like every other input (one compiled signature)
        return out

    if isinstance(data, Panel):
        return Panel(data.symbols, *(first(getattr(data, f)) for f in
                                     ("ts", "open", "high", "low", "close", "volume", "mask")))
    return Bars(*(first(getattr(data, f)) for f in ("open", "high", "low", "close", "volume", "ts")))


def compute(case: Case) -> dict[str, Any]:
    """Every driver's output on the case (arrays and floats; an error as its message)."""
    from lq_engine.execution.config import ExecutionConfig
    from lq_engine.prefilter.evaluate import Costs, evaluate_grid, evaluate_panel
    from lq_engine.replay.engine import replay
    from lq_engine.replay.event_engine import run_event_engine
    from lq_engine.replay.portfolio import replay_portfolio
    from lq_engine.replay.portfolio_engine import run_portfolio_engine
    from lq_engine.execution.sizing import BracketSpec
    from lq_engine.strategies import StrategyError

    spec = spec_of(case.strategy)
    data = cut(case)
    sets = param_sets(case.strategy)
    out: dict[str, Any] = {}
    costs = Costs(fee=0.001, slippage=0.0002)
    cfg = ExecutionConfig(liquidity_cap=0.5)

    def step(key: str, fn: Any) -> None:
        """One driver's output under ``key``; a refusal (e.g. a pair with no date in common in the
        window) is kept as its message, and must be the same too."""
        try:
            out[key] = fn()
        except StrategyError as err:
            out[key] = "error: " + str(err)

    for j, p in enumerate(sets):
        step(f"decisions{j}", lambda: _decided(spec.decisions(p, data)))
        for k in PAPER_PREFIXES:
            if k <= data.n:
                step(f"paper{j}_{k}", lambda: spec.decisions(p, _prefix(data, k)).targets[-1])
    if spec.is_portfolio:
        step("prefilter", lambda: evaluate_panel(data, spec, sets, costs).metrics)
        for j, p in enumerate(sets):
            step(f"replay{j}", lambda: _portfolio_replay(replay_portfolio(spec, p, data, cfg)))
            step(f"event{j}", lambda: _portfolio_event(run_portfolio_engine(spec, p, data, cfg)))
    elif case.kind != "strided":  # the strided cases check the decisions only
        step("prefilter_api", lambda: evaluate_grid(data, spec, sets, costs, "numba-api").metrics)
        if spec.rules is not None:
            step("prefilter_rules", lambda: evaluate_grid(data, spec, sets, costs, "numba").metrics)
        br = BracketSpec(0.02, 0.04, None)
        for j, p in enumerate(sets):
            step(f"replay{j}", lambda: _replay(replay(spec, p, data, cfg, br)))
            step(f"event{j}", lambda: _event(run_event_engine(spec, p, data, cfg, br)))
        if case.kind != "one_bar":  # a perpetual: the same drivers booking funding (first set)
            f = _funding()
            step("prefilter_perp", lambda: evaluate_grid(data, spec, sets[:1], costs, "numba-api", funding=f).metrics)
            step("replay_perp", lambda: _replay_perp(replay(spec, sets[0], data, cfg, br, funding=f)))
            step("event_perp", lambda: _event_perp(run_event_engine(spec, sets[0], data, cfg, br, funding=f)))
    return out


def _funding() -> Any:
    """Funding events over the series: every 7 bars, a third of them between two bar opens."""
    from lq_engine.execution.funding import FundingRates

    ts = _series().ts
    t = ts[7::7].copy()
    t[::3] -= 20_000_000_000
    return FundingRates(t, np.random.default_rng(7).normal(1e-4, 1e-3, t.size))


def _decided(d: Any) -> tuple:
    return d.targets, d.exits, d.rebalance


def _portfolio_replay(r: Any) -> tuple:
    return r.equity, r.exposure, r.metrics


def _portfolio_event(e: Any) -> tuple:
    return np.asarray(e.equity), np.asarray(e.exposure)


def _replay(r: Any) -> tuple:
    return r.equity, r.fills.price, r.fills.quantity, r.metrics


def _event(e: Any) -> tuple:
    return np.asarray(e.equity), [f.price for f in e.fills]


def _replay_perp(r: Any) -> tuple:
    return (*_replay(r), r.funding)


def _event_perp(e: Any) -> tuple:
    return (*_event(e), np.asarray(e.funding_paid))


def results() -> dict[str, dict[str, Any]]:
    return {c.key: compute(c) for c in cases()}


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        pickle.dump(results(), f)
