"""``check_strategy``: everything ``lq strategy check NAME`` (and the test it writes) verifies.

1. declaration: the file loads, the schema is valid, the default grid has sets;
2. compile: the kernels compile (the cold compile and the cached load are timed in fresh processes);
3. decisions: on generated bars, every decision of a sample of sets is a number in [-1, 1] (a
   portfolio strategy: finite weights within its gross cap, on a generated universe with gaps and
   late starts);
4. lookahead: ``replay.lookahead.lookahead_scan`` of the gate's sets (``gate_sets``: every Choice and
   Bool value, the grid's extremes, the longest warm-up, a seeded sample) on generated data long
   enough for long warm-ups (``LOOKAHEAD_BARS``), or on the data given;
5. parity: the event engine equals the replay bit for bit (with brackets and a liquidity cap), and
   the prefilter kernel equals the replay under simplified fills within ``metrics.STREAMING_RTOL``;
6. speed: a small sweep, end to end, in parameter sets per second.

Each check records pass or fail with a one-line detail; a failing check does not stop the others
unless what it failed is needed by them (nothing runs when the file does not load).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from lq_engine.authoring.declare import StrategyError
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.sizing import BracketSpec
from lq_engine.prefilter.bench import sweep_bars as bench_bars, synthetic_panel
from lq_engine.prefilter.evaluate import Costs, evaluate_grid, evaluate_panel
from lq_engine.replay.engine import replay
from lq_engine.replay.event_engine import run_event_engine
from lq_engine.replay.lookahead import default_series, gate_sets, generated_panel, lookahead_scan, universe_size
from lq_engine.replay.portfolio import replay_portfolio
from lq_engine.replay.portfolio_engine import run_portfolio_engine
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.spec import StrategySpec

SAMPLE_SETS = 8  # parameter sets drawn from the grid for the decision and parity checks
LOOKAHEAD_BARS = 3_000  # generated bars of the lookahead check: room for warm-ups of hundreds of bars
PARITY_RTOL = 1e-9


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0


@dataclass
class CheckReport:
    strategy: str
    source: str
    results: list[CheckResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    def summary(self) -> str:
        lines = [f"strategy {self.strategy} ({self.source})"]
        for r in self.results:
            lines.append(f"  {'PASS' if r.ok else 'FAIL'}  {r.name:<12} {r.detail}")
        lines.append("all checks passed" if self.ok else "some checks FAILED")
        return "\n".join(lines)


def _run(report: CheckReport, name: str, fn: Callable[[], str]) -> bool:
    t0 = time.perf_counter()
    try:
        detail = fn()
        ok = True
    except (StrategyError, ValueError, AssertionError, RuntimeError, TypeError) as e:
        detail, ok = f"{type(e).__name__}: {e}" if not isinstance(e, (StrategyError, AssertionError)) else str(e), False
    report.results.append(CheckResult(name, ok, detail, time.perf_counter() - t0))
    return ok


def generated_series(n: int = 600, seed: int = 7):
    """SYNTHETIC bars for the checks (the lookahead check's series: gaps, volatility, volume)."""
    return default_series(n, seed)


def generated_data(spec: StrategySpec, n: int = 600, seed: int = 7):
    """SYNTHETIC data the strategy runs on: a series, or for a portfolio strategy a universe of
    ``max(min_symbols, 5)`` symbols (``max_symbols`` at most; five, as the bundled universe: the
    compiled loops are specialized per universe size) with gaps, a late start and an early end."""
    if not spec.is_portfolio:
        return generated_series(n, seed)

    return generated_panel(n, universe_size(spec), seed)


def sample_sets(spec: StrategySpec, k: int = SAMPLE_SETS, seed: int = 0) -> list[dict]:
    rows = spec.grid().rows()
    if len(rows) <= k:
        return rows
    pick = np.random.default_rng(seed).choice(len(rows), size=k, replace=False)
    return [rows[i] for i in sorted(pick)]


def compile_times(spec: StrategySpec) -> tuple[float, float]:
    """(cold compile seconds with an empty numba cache, cached load seconds), each measured in a
    fresh process (what a worker pays on its first use of the strategy)."""
    code = (
        "import json, sys, time\n"
        "from lq_engine.strategies.registry import resolve, load_file\n"
        "from lq_engine.optimize.checks import generated_data, sweep_sets\n"
        "ref = json.loads(sys.argv[1])\n"
        "spec = load_file(ref['file'], ref['name']) if ref['file'] else resolve(ref['name'])\n"
        "s = generated_data(spec, 300)\n"
        "t0 = time.perf_counter()\n"
        "k = spec.kernels\n"
        "spec.decisions(None, s)\n"
        "sweep_sets(spec, s, spec.grid().rows()[:2])\n"
        "print(json.dumps({'seconds': time.perf_counter() - t0}))\n"
    )
    ref = json.dumps({"name": spec.name, "file": spec.source.location if spec.source.kind == "file" else None})
    out = []
    with tempfile.TemporaryDirectory(prefix="lq-compile-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for _ in range(2):
            res = subprocess.run([sys.executable, "-c", code, ref], env=env, capture_output=True, text=True,
                                 timeout=600)
            if res.returncode != 0:
                raise StrategyError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "compile failed")
            out.append(float(json.loads(res.stdout.strip().splitlines()[-1])["seconds"]))
    return out[0], out[1]


def sweep_sets(spec: StrategySpec, data: Any, sets: list[dict], costs: Any = None):
    """The prefilter sweep of ``sets`` over ``data`` (a series' bars, or a portfolio's panel)."""
    costs = Costs() if costs is None else costs
    if spec.is_portfolio:
        return evaluate_panel(data, spec, sets, costs)
    return evaluate_grid(getattr(data, "bars", data), spec, sets, costs, backend="numba-api")


def check_strategy(strategy: StrategySpec | str, timing: bool = True, sweep_bars: int = 10_000,
                   data: Any = None) -> CheckReport:
    """Run every check on ``strategy`` (a name, a StrategySpec or a Strategy class). ``data``: what
    the lookahead check runs on (Bars, a list of them, or a Panel for a portfolio strategy);
    default: ``LOOKAHEAD_BARS`` generated bars."""
    label = getattr(strategy, "name", strategy if isinstance(strategy, str) else getattr(strategy, "__name__", "?"))
    report = CheckReport(str(label), "")
    holder: dict[str, Any] = {}

    def declaration() -> str:
        spec = holder["spec"] = resolve(strategy)
        report.strategy, report.source = spec.name, f"{spec.source.describe()}, source {spec.source_hash[:12]}"
        d = spec.declaration
        n = len(spec.grid())
        if n == 0:
            raise StrategyError(f"{spec.file}: the default grid has no set satisfying the constraints")
        return (f"{len(d.params)} parameters, {len(d.indicators)} indicators, {len(d.state.fields)} state fields"
                f"{', exits' if d.exits else ''}; default grid {n} sets")

    if not _run(report, "declaration", declaration):
        return report
    spec = holder["spec"]
    series = generated_data(spec)
    portfolio = spec.is_portfolio

    def compile_() -> str:
        t0 = time.perf_counter()
        spec.decisions(None, series)
        here = time.perf_counter() - t0
        if not timing:
            return f"compiled ({here:.2f} s in this process)"
        cold, cached = compile_times(spec)
        report.timings.update(compile_cold_s=cold, compile_cached_s=cached)
        return f"cold {cold:.2f} s, cached {cached:.2f} s (fresh processes)"

    if not _run(report, "compile", compile_):
        return report
    sets = sample_sets(spec)

    def decisions() -> str:
        worst = 0
        for p in sets:
            d = spec.decisions(p, series)  # the compiled loop refuses a NaN, out-of-range or over-gross decision
            t = d.targets
            if not (np.all(np.isfinite(t)) and np.all(np.abs(t) <= 1.0)):
                raise AssertionError(f"decisions of {p}: a target outside [-1, 1]")
            worst = max(worst, int(np.count_nonzero(t.any(axis=1) if t.ndim == 2 else t)))
        if portfolio:
            return (f"{len(sets)} parameter sets x {series.n} generated bars x {series.n_symbols} symbols "
                    f"(gaps, a late start): finite weights within gross {spec.declaration.gross:g} "
                    f"(up to {worst} bars invested)")
        return (f"{len(sets)} parameter sets x {series.n} generated bars: targets in [-1, 1] "
                f"(up to {worst} bars invested)")

    _run(report, "decisions", decisions)

    def lookahead() -> str:
        given = data if data is not None else generated_data(spec, LOOKAHEAD_BARS)
        scan = lookahead_scan(spec, gate_sets(spec), given)
        report.timings["lookahead_s"] = scan.seconds
        if not scan.ok:
            raise AssertionError(scan.message())
        where = "the data given" if data is not None else f"{LOOKAHEAD_BARS} generated bars"
        return (f"{scan.n_sets} sets (every Choice/Bool value, grid extremes, longest warm-up, a sample) on {where}, "
                f"{scan.runs} decision runs (truncated; each field scaled and shuffled): no decision changed")

    _run(report, "lookahead", lookahead)

    def parity() -> str:
        if portfolio:
            return _portfolio_parity(spec, series, sets)

        full = ExecutionConfig(liquidity_cap=0.05)
        brackets = BracketSpec(0.02, 0.04, 0.03)
        for p in sets[:4]:
            for cfg, br in ((full, brackets), (full, BracketSpec())):
                r = replay(spec, p, series, cfg, br)
                e = run_event_engine(spec, p, series, cfg, br)
                if not (np.array_equal(np.asarray(e.equity), r.equity) and len(e.fills) == len(r.fills)):
                    raise AssertionError(f"event engine and replay differ for {p}")
        simple = ExecutionConfig().simplified(fee=0.001, slippage_bps=1.0)
        g = sweep_sets(spec, series, sets, Costs(fee=0.001, slippage=1e-4))
        for k, p in enumerate(sets):
            r = replay(spec, p, series, simple)
            _same_metrics(r.metrics, g.metrics, k, p)
        return (f"event engine == replay bit for bit ({min(4, len(sets))} sets, cap and brackets); "
                f"prefilter == simplified replay within {PARITY_RTOL:g} ({len(sets)} sets)")

    _run(report, "parity", parity)

    def speed() -> str:
        if portfolio:
            k = universe_size(spec)
            bars, what = synthetic_panel(k, sweep_bars, 0), f"{sweep_bars} bars x {k} symbols"
        else:
            bars, what = bench_bars(sweep_bars), f"{sweep_bars} bars"
        grid = spec.grid().rows()[:500]
        sweep_sets(spec, bars, grid[:2])
        t0 = time.perf_counter()
        sweep_sets(spec, bars, grid)
        dt = time.perf_counter() - t0
        report.timings["evals_per_sec"] = len(grid) / dt
        return f"{len(grid)} sets x {what} end to end: {len(grid) / dt:,.0f} evals/s"

    _run(report, "speed", speed)
    return report


def _same_metrics(replayed: dict, swept: dict, k: int, p: dict) -> None:
    for m, v in swept.items():
        a, b = replayed[m], float(v[k])
        if not (a == b or np.isclose(a, b, rtol=PARITY_RTOL, atol=1e-12)):
            raise AssertionError(f"prefilter {m} {b!r} vs replay {a!r} for {p}")


def _portfolio_parity(spec: StrategySpec, panel: Any, sets: list[dict]) -> str:
    """The portfolio event engine equals the portfolio replay bit for bit (with a liquidity cap), and
    the prefilter equals the replay under simplified fills."""
    full = ExecutionConfig(liquidity_cap=0.05)
    for p in sets[:4]:
        r = replay_portfolio(spec, p, panel, full)
        e = run_portfolio_engine(spec, p, panel, full)
        if not (np.array_equal(np.asarray(e.equity), r.equity) and len(e.fills) == len(r.fills)):
            raise AssertionError(f"portfolio event engine and replay differ for {p}")
    simple = ExecutionConfig().simplified(fee=0.001, slippage_bps=1.0)
    g = sweep_sets(spec, panel, sets, Costs(fee=0.001, slippage=1e-4))
    for k, p in enumerate(sets):
        _same_metrics(replay_portfolio(spec, p, panel, simple).metrics, g.metrics, k, p)
    return (f"portfolio event engine == replay bit for bit ({min(4, len(sets))} sets, liquidity cap); "
            f"prefilter == simplified replay within {PARITY_RTOL:g} ({len(sets)} sets)")
