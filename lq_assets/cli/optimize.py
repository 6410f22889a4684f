"""``lq optimize``: the optimization job (stage 1, stage 2, report) without the UI."""

from __future__ import annotations

import argparse

from lq_assets.cli.brackets import add_bracket_flags, bracket_legs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "optimize",
        help="run the two-stage optimizer for a dataset and strategies, then the report",
        description="Materialize prefilter_rankings and replay_results for each (dataset, strategy) "
        "partition, in this process, against the Dagster instance, then optimization_report. "
        "Settings come from luminaquant.toml [optimize]; the flags override them for this run.",
    )
    p.add_argument("--dataset", default="us_stocks_daily", help="universe of luminaquant.toml (must be frozen)")
    p.add_argument("--strategy", nargs="+", default=["all"], help="strategy names, or 'all' (default)")
    p.add_argument("--folds", type=int, dest="n_folds", help="walk-forward folds")
    p.add_argument("--fold-mode", choices=("rolling", "anchored"))
    p.add_argument("--holdout", type=float, dest="holdout_fraction", help="final share kept out of sample")
    p.add_argument("--top-k-max", type=int, help="most candidates replayed in stage 2")
    p.add_argument("--sample", type=int, dest="sample_size", help="score a seeded sample of the grid")
    p.add_argument("--search", help="stage-1 search: auto, grid, random, tpe, cmaes or qmc (a seeded sampler over the "
                   "strategy's declared space; auto: the grid when it has at most 100,000 sets, else TPE)")
    p.add_argument("--trials", type=int, help="parameter sets a sampler evaluates (each counts in the DSR's N)")
    p.add_argument("--timeout", type=float, help="seconds a sampler may search (checked between batches)")
    p.add_argument("--batch-size", type=int, help="sets a sampler proposes per batch")
    p.add_argument("--prune", type=float, dest="prune_quantile",
                   help="early stopping: after each fold but the last, drop sets below this quantile")
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="worker processes (results are identical for any count)")
    add_bracket_flags(p, "[optimize.brackets] (stage 2 replays with them; stage 1 ranks without)")
    p.set_defaults(func=run)


def settings_of(args: argparse.Namespace) -> dict:
    """The run config of both optimizer assets (OptimizeSettings fields) given by the flags."""
    keys = ("n_folds", "fold_mode", "holdout_fraction", "top_k_max", "sample_size", "search", "trials", "timeout",
            "batch_size", "prune_quantile", "seed", "workers")
    settings: dict = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    legs = bracket_legs(args)
    if legs is not None:
        settings["brackets"] = legs
    return settings


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step

    setup(args.verbose)
    import dagster as dg

    from lq_assets.cli.leaderboard import print_leaderboard
    from lq_assets.launch import optimize_in_dagster
    from lq_engine.strategies.registry import list_strategies

    strategies = list_strategies() if args.strategy == ["all"] else args.strategy
    unknown = sorted(set(strategies) - set(list_strategies()))
    if unknown:
        raise ValueError(f"unknown strategy {unknown}; registered: {list_strategies()}")
    settings = settings_of(args)
    with dg.DagsterInstance.get() as instance:
        step(f"optimizing {', '.join(strategies)} on {args.dataset}")
        results = optimize_in_dagster(instance, args.dataset, strategies, settings)
    print_leaderboard(results[-1])
    return 0
