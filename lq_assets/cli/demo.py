"""``lq demo``: the whole asset graph on the bundled data, in this process, into the real instance."""

from __future__ import annotations

import argparse
import time

from lq_assets.cli.optimize import EXIT_CODES, Failures, wrap


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="materialize the whole asset graph on the bundled data and print a summary",
        description=wrap("Land the bundled daily US-stock bars (real data, 2000-2013), ingest them into "
        "the lake through the market_bars job, freeze the us_stocks_daily universe, benchmark the "
        "backends, optimize every strategy (stage 1, stage 2, report), all recorded in the Dagster "
        "instance; then print a summary, the leaderboard and where to look next. A strategy whose "
        "optimization fails is named with its reason and marked FAILED in the leaderboard; the others "
        "still run."),
        epilog=EXIT_CODES.replace("every strategy optimized", "done, every strategy optimized"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import Stages, setup

    t0 = time.perf_counter()
    paths = setup(args.verbose)
    from lq_engine.kernels.backends.native import build_in_background

    build_in_background()  # gcc and cargo on the core the ingest leaves idle; backend_benchmark loads them
    stages = Stages()
    with stages("loading Dagster definitions"):
        import dagster as dg

        from lq_assets.cli.leaderboard import print_gates, print_leaderboard
        from lq_assets.launch import (
            RunWorker, benchmark_in_dagster, freeze_in_dagster, ingest_in_dagster, optimize_in_dagster,
        )
        from lq_engine.data.catalog import symbol_row_counts
        from lq_engine.data.samples import copy_bundled_to_landing
        from lq_engine.strategies.registry import list_strategies

    landed = copy_bundled_to_landing(paths)
    worker, ahead = RunWorker(), RunWorker()
    for w in (worker, ahead):  # spawned and importing while the ingest runs here
        w.start()
    with dg.DagsterInstance.get() as instance:
        try:
            with stages("market_bars", f"ingesting {landed.name} into the Parquet lake"):
                ingest_in_dagster(instance, [landed])
            with stages("frozen_dataset", "freezing universe us_stocks_daily"):
                frozen = freeze_in_dagster(instance, ["us_stocks_daily"])[0]
            strategies = list_strategies()
            if strategies:  # the optimize worker compiles numba's shared kernels on the other core meanwhile
                content_hash = next(str(m.metadata["content_hash"].value)
                                    for m in frozen.asset_materializations_for_node("frozen_dataset"))
                worker.prewarm("us_stocks_daily", content_hash, strategies[0])
            with stages("backend_benchmark", "parity-checking and timing python, numba, C and Rust kernels"):
                bench = benchmark_in_dagster(instance)
            failures = Failures("demo")
            with stages("optimization", f"{len(strategies)} strategies: prefilter_rankings -> replay_results, "
                        "then optimization_report"):
                optimized = optimize_in_dagster(instance, "us_stocks_daily", strategies, progress=stages,
                                                on_failure=failures, worker=worker, ahead=ahead)
        except BaseException:  # Ctrl-C or an error before the optimization closed the workers
            for w in (worker, ahead):
                w.kill(instance, "interrupted (Ctrl-C or SIGTERM of lq)")
            raise
    chosen = ""
    for m in bench.asset_materializations_for_node("backend_benchmark"):
        chosen = m.metadata["chosen_backend"].value
    meta = {}
    for m in frozen.asset_materializations_for_node("frozen_dataset"):
        meta = {k: v.value for k, v in m.metadata.items()}
    counts = symbol_row_counts(paths)
    print()
    print("LuminaQuant demo: done in %.1fs" % (time.perf_counter() - t0))
    print("  bars in the lake (catalog view `bars`):")
    for sym, n in sorted(counts.items()):
        print(f"    {sym:8s} {n:>8d} rows")
    print(f"  frozen dataset us_stocks_daily: hash {meta.get('content_hash')}, {meta.get('rows')} rows")
    print(f"    at {meta.get('folder')}")
    print(f"  evaluation backend chosen by backend_benchmark: {chosen} (table `backend_benchmark` in the catalog)")
    if optimized:  # [] when every strategy failed: no report
        print_gates(optimized[:-1])
        print_leaderboard(optimized[-1], failures.reasons, "us_stocks_daily")
    print()
    print(stages.summary())
    print()
    print("Where to look next:")
    lq = _lq_command()
    print(f"  {lq} ui            # Dagster UI at http://127.0.0.1:3000 (assets, runs, metadata)")
    print(f'  {lq} sql "SELECT symbol, count(*) AS bars FROM bars GROUP BY symbol"   # the DuckDB catalog')
    print(f"  {lq} generate && {lq} ingest {paths.landing}/synthetic_*.parquet   # SYNTHETIC minute bars")
    return failures.exit_code(len(strategies))


def _lq_command() -> str:
    """How to call ``lq`` here: ``uv run lq`` in the source checkout (its uv project), else ``lq``."""
    from lq_engine.project import CHECKOUT_ROOT, find_project

    return "uv run lq" if find_project().root == CHECKOUT_ROOT and (CHECKOUT_ROOT / "uv.lock").is_file() else "lq"
