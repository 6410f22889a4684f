"""``lq optimize``: the optimization job (stage 1, stage 2, report) without the UI."""

from __future__ import annotations

import argparse

from lq_assets.cli.brackets import add_bracket_flags
from lq_assets.cli.inputs import (add_optimize_flags, check_dataset, check_optimize_settings, check_strategies,
                                  optimize_overrides)


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
    add_optimize_flags(p.add_argument_group(
        "settings", "override luminaquant.toml [optimize] for this run (declared once in OptimizeConfig)"))
    add_bracket_flags(p, "[optimize.brackets] (stage 2 replays with them; stage 1 ranks without)")
    p.set_defaults(func=run)


def settings_of(args: argparse.Namespace) -> dict:
    """The run config of both optimizer assets (OptimizeSettings fields) given by the flags."""
    return optimize_overrides(args)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import Stages, setup

    # the user's input first, before Dagster loads: one line for a mistake
    check_dataset(args.dataset)
    strategies = check_strategies(args.strategy)
    settings = settings_of(args)
    check_optimize_settings(settings)
    setup(args.verbose)
    stages = Stages()
    with stages("loading Dagster definitions"):
        import dagster as dg

        from lq_assets.cli.leaderboard import print_gates, print_leaderboard
        from lq_assets.launch import optimize_in_dagster
    with dg.DagsterInstance.get() as instance:
        with stages("optimizing", f"{', '.join(strategies)} on {args.dataset}"):
            results = optimize_in_dagster(instance, args.dataset, strategies, settings, progress=stages)
    print_gates(results[:-1])
    print_leaderboard(results[-1])
    print(stages.summary())
    return 0
