"""Metric workload (fused one-pass batched kernel vs the original's plain 3-pass) and the strategy
sweeps (MA cross 994 sets, RSI 1,000 sets), with 1- vs 2-thread scaling. BENCHMARKS.md 1-2 and 4:
strategies written with the public API, end to end (parameter sets in, metrics out), in the same
run as the built-in figure: MA cross from its own file (scripts/strategies/ma_cross_api.py) and the
stateful rsi_time_stop example, plus the cold and cached compile time of an API strategy (each in
a fresh process; the cold one with an empty numba cache).

    uv run python scripts/benchmark_optimization_kernel.py --bars 10000 --evals 1000 [--repeats 5] [--threads-sweep]
        [--wide-sets 10000] [--json]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=10_000)
    ap.add_argument("--evals", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backend", default="numba", choices=["numba", "c", "rust"])
    ap.add_argument("--wide-sets", type=int, default=10_000, help="sets of the wide random grid (API MA cross)")
    ap.add_argument("--big-sets", type=int, default=5_000, help="sets of the bounded-memory run (0: skip it)")
    ap.add_argument("--big-bars", type=int, default=1_000_000, help="bars of the bounded-memory run")
    ap.add_argument("--threads-sweep", action="store_true",
                    help="the API and stateful figures at 1, 2, 4, ... threads up to every core")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    from lq_engine.kernels.threads import available_cores, configure_threads

    cfg = configure_threads()
    import numba

    from lq_engine.kernels.backends import metric_batch, numba_backend, run_accumulators
    from lq_engine.prefilter.bench import (
        EXPECTED_10K, emit, ma_sweep, median_cpu_seconds, median_seconds, reference_curve, rsi_sweep,
    )
    from lq_engine.prefilter.evaluate import Costs, run_compiled

    numba_backend.warmup()
    e = reference_curve(a.bars)
    ref_vals = numba_backend.reference_three_pass(e, 252.0)
    fused = metric_batch(a.backend, e, a.evals)
    if a.bars == 10_000:
        exp = np.array(list(EXPECTED_10K.values()))
        assert ref_vals == tuple(exp), f"reference workload values {ref_vals} != expected {tuple(exp)}"
        np.testing.assert_allclose(fused, np.tile(exp, (a.evals, 1)), rtol=1e-12, atol=0)

    def reference():
        for _ in range(a.evals):
            numba_backend.reference_three_pass(e, 252.0)

    t_ref = median_seconds(reference, a.repeats)
    t_fused = median_seconds(lambda: metric_batch(a.backend, e, a.evals), a.repeats)
    fig: dict[str, object] = {
        "bars": a.bars,
        "evals": a.evals,
        "threads": cfg.threads,
        "backend": a.backend,
        "evals_per_sec": a.evals / t_fused,
        "reference_evals_per_sec": a.evals / t_ref,
        "speedup": t_ref / t_fused,
        "sharpe": float(fused[0, 0]),
        "cagr": float(fused[0, 1]),
        "max_drawdown": float(fused[0, 2]),
    }

    costs = Costs(fee=0.001)
    ma = ma_sweep(a.bars)
    rsi = rsi_sweep(a.bars)

    def kernel(sw):
        return lambda: run_compiled(sw, costs, a.backend)

    per_threads = {}
    for t in sorted({1, min(2, available_cores())}):
        numba.set_num_threads(t)
        per_threads[t] = ma.n_sets / median_seconds(
            lambda: run_accumulators(a.backend, ma.bank, ma.rets, ma.ip, ma.fp, costs.per_unit, n_threads=t),
            a.repeats)
    numba.set_num_threads(1)
    cpu_1 = ma.n_sets / median_cpu_seconds(
        lambda: run_accumulators(a.backend, ma.bank, ma.rets, ma.ip, ma.fp, costs.per_unit, n_threads=1), a.repeats)
    numba.set_num_threads(cfg.threads)
    fig["strategy_sets"] = ma.n_sets
    fig["strategy_evals_per_sec"] = ma.n_sets / median_seconds(kernel(ma), a.repeats)
    fig["strategy_evals_per_sec_incl_compile"] = ma.n_sets / median_seconds(
        lambda: run_compiled(ma_sweep(a.bars), costs, a.backend), a.repeats)
    fig["strategy_evals_per_sec_1thread"] = per_threads[1]
    fig["strategy_evals_per_cpu_sec_1thread"] = cpu_1
    if 2 in per_threads:
        fig["strategy_evals_per_sec_2threads"] = per_threads[2]
        fig["thread_scaling"] = per_threads[2] / per_threads[1]
    fig["rsi_strategy_sets"] = rsi.n_sets
    fig["rsi_strategy_evals_per_sec"] = rsi.n_sets / median_seconds(kernel(rsi), a.repeats)
    fig.update(api_figures(a, costs, fig["strategy_evals_per_sec_incl_compile"], fig["strategy_evals_per_sec"]))
    if a.big_sets:
        fig.update(big_grid(a))
    emit(fig, a.json)
    return 0


def api_figures(a: argparse.Namespace, costs, builtin_e2e: float, kernel: float) -> dict[str, object]:
    """BENCHMARKS.md section 4 and issue 23, end to end through the research entry point
    ``lq_engine.research.evaluate`` (validation, indicators, kernel, finalize, the table) like
    ``strategy_evals_per_sec_incl_compile``: the API MA cross (its narrow default grid, and a wide
    random grid over its declared ranges, fast 2-400 and slow 5-2000) and the stateful rsi_time_stop,
    with their 1- vs 2-thread scaling (``--threads-sweep``: 1, 2, 4, ... up to every core)."""
    from pathlib import Path

    import numba

    from lq_engine.kernels.threads import available_cores
    from lq_engine.prefilter.bench import median_seconds, sweep_bars
    from lq_engine.research import evaluate
    from lq_engine.strategies import resolve
    from lq_engine.optimize.checks import compile_times
    from lq_engine.strategies.registry import load_file

    bars = sweep_bars(a.bars)
    user = load_file(Path(__file__).resolve().parent / "strategies" / "ma_cross_api.py")
    stateful = resolve("rsi_time_stop", project_grids=False)
    wide = user.space.sample(user.schema, a.wide_sets, seed=1)  # a random search's draws over the ranges
    runs = {"api_strategy": (user, user.default_grid()), "stateful_strategy": (stateful, stateful.default_grid()),
            "wide_grid": (user, wide)}
    threads = sorted({1, min(2, available_cores())} | (set(_doubling(available_cores())) if a.threads_sweep else set()))
    top = numba.get_num_threads()

    def rate(spec, grid, t: int) -> float:
        numba.set_num_threads(t)
        try:
            return len(grid) / median_seconds(lambda: evaluate(spec, bars, grid, costs=costs, backend="numba"),
                                              a.repeats)
        finally:
            numba.set_num_threads(top)

    out: dict[str, object] = {}
    for label, (spec, grid) in runs.items():
        evaluate(spec, bars, grid[:2], costs=costs, backend="numba")  # compile or load from the cache
        out[f"{label}_sets"] = len(grid)
        out[f"{label}_evals_per_sec"] = rate(spec, grid, top)
        if label != "wide_grid":
            per = {t: rate(spec, grid, t) for t in threads}
            key = "api" if label == "api_strategy" else "stateful"
            if 2 in per:
                out[f"{key}_thread_scaling"] = per[2] / per[1]
            if a.threads_sweep:
                for t, v in per.items():
                    out[f"{label}_evals_per_sec_{t}threads"] = v
    out["api_vs_kernel"] = out["api_strategy_evals_per_sec"] / kernel  # the warm built-in kernel, same run
    out["api_vs_builtin_e2e"] = out["api_strategy_evals_per_sec"] / builtin_e2e
    out["wide_vs_narrow"] = out["wide_grid_evals_per_sec"] / out["api_strategy_evals_per_sec"]
    cold, cached = compile_times(user)
    out["api_compile_cold_s"] = cold
    out["api_compile_cached_s"] = cached
    return out


BIG_GRID = """
import json, resource, sys, time
from pathlib import Path
from lq_engine.kernels.threads import configure_threads
configure_threads()
from lq_engine.prefilter.bench import sweep_bars
from lq_engine.prefilter.chunks import memory_budget_mb
from lq_engine.research import evaluate
from lq_engine.strategies.registry import load_file
sets_n, bars_n, strategy = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
user = load_file(Path(strategy))
bars = sweep_bars(bars_n)
sets = user.space.sample(user.schema, sets_n, seed=2)
plan = user.indicator_plan(user.table(sets))
t = time.perf_counter()
out = evaluate(user, bars, sets, costs=0.001, backend="numba")
secs = time.perf_counter() - t
print(json.dumps({"big_grid_sets": len(sets), "big_grid_bars": bars_n, "big_grid_seconds": secs,
                  "big_grid_evals_per_sec": len(sets) / secs, "big_grid_budget_mb": memory_budget_mb(),
                  "big_grid_whole_bank_mb": plan.total * bars_n * 8 / 2**20,
                  "big_grid_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "big_grid_traded": int((out["trade_count"] > 0).sum())}))
"""


def big_grid(a: argparse.Namespace) -> dict[str, object]:
    """Issue 23 #4: a wide random grid of the API MA cross on long bars, in a fresh process (its peak
    RSS is the run's own): the whole indicator bank would not fit the budget, so it runs in chunks."""
    import json
    import subprocess
    from pathlib import Path

    strategy = Path(__file__).resolve().parent / "strategies" / "ma_cross_api.py"
    res = subprocess.run([sys.executable, "-c", BIG_GRID, str(a.big_sets), str(a.big_bars), str(strategy)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _doubling(cores: int) -> list[int]:
    """1, 2, 4, ... and every core."""
    out = [1]
    while out[-1] * 2 < cores:
        out.append(out[-1] * 2)
    return sorted(set(out) | {cores})


if __name__ == "__main__":
    sys.exit(main())
