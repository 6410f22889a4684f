"""Portfolio strategies (BENCHMARKS.md section 5), end to end: parameter sets in, metrics out
(validation, indicators, the strategy's generated sweep, finalize), both cores.

- pairs: the shipped ``pairs`` strategy over 2 cointegrated synthetic symbols, a 1,080-set grid
  (hedge_window 40..360, z_window 10..80, entry_z 1..3, exit_z 0..0.75).
- xs_momentum: the shipped cross-sectional momentum over 50 synthetic symbols, its default grid.

Also each kernel's single-thread CPU time per bar and set (``*_kernel_ns_per_bar_set``: the figure
a shared machine's load distorts least) and the full portfolio replay of one xs_momentum set
(``portfolio_replay_bars_per_sec``: clock bars x symbols per second, full execution model).

    uv run python scripts/benchmark_portfolio.py [--bars 10000] [--symbols 50] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=10_000)
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    from lq_engine.kernels.threads import configure_threads

    cfg = configure_threads()
    import numba

    from lq_engine.execution.config import ExecutionConfig
    from lq_engine.prefilter.bench import emit, median_cpu_seconds, median_seconds, synthetic_panel
    from lq_engine.prefilter.evaluate import Costs, evaluate_panel
    from lq_engine.replay.portfolio import replay_portfolio
    from lq_engine.strategies import resolve

    costs = Costs(fee=0.001)
    pairs = resolve("pairs").with_grid({
        "pair": (0,), "hedge_window": tuple(range(40, 361, 40)), "z_window": (10, 20, 30, 40, 60, 80),
        "entry_z": (1.0, 1.5, 2.0, 2.5, 3.0), "exit_z": (0.0, 0.25, 0.5, 0.75)})
    xs = resolve("xs_momentum")
    work = {"pairs": (pairs, synthetic_panel(2, a.bars, 1, cointegrated=True)),
            "xs_momentum": (xs, synthetic_panel(a.symbols, a.bars, 2))}
    fig: dict[str, object] = {"bars": a.bars, "threads": cfg.threads}
    for name, (spec, panel) in work.items():
        sets = spec.grid().rows()
        evaluate_panel(panel, spec, sets[:2], costs)  # compile (or load the cache)
        t = median_seconds(lambda: evaluate_panel(panel, spec, sets, costs), a.repeats)
        fig[f"{name}_symbols"] = panel.n_symbols
        fig[f"{name}_sets"] = len(sets)
        fig[f"{name}_evals_per_sec"] = len(sets) / t
        table = spec.table(sets)
        rows = spec.indicator_rows(table, panel)
        numba.set_num_threads(1)
        tk = median_cpu_seconds(lambda: spec.kernels.sweep(spec, panel, rows, table, costs.fee, 0.0), a.repeats)
        numba.set_num_threads(cfg.threads)
        fig[f"{name}_kernel_ns_per_bar_set"] = tk / len(sets) / panel.n * 1e9

    panel = work["xs_momentum"][1]
    params = xs.grid().rows()[0]
    replay_portfolio(xs, params, panel, ExecutionConfig())
    t = median_seconds(lambda: replay_portfolio(xs, params, panel, ExecutionConfig()), a.repeats)
    fig["portfolio_replay_bars_per_sec"] = panel.n * panel.n_symbols / t
    emit(fig, a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
