"""``lq optimize``: the optimization job (stage 1, stage 2, report) without the UI."""

from __future__ import annotations

import argparse
import sys

from lq_assets.cli.brackets import add_bracket_flags
from lq_assets.cli.inputs import (add_optimize_flags, check_dataset, check_optimize_settings, check_strategies,
                                  optimize_overrides)


PARTIAL_FAILURE = 3  # exit code: some strategies failed, the others' results are written

EXIT_CODES = f"""exit codes:
  0  every strategy optimized (a lookahead verdict is a result, not a failure)
  {PARTIAL_FAILURE}  some strategies failed (each named with its reason); the others' results are written
  1  every strategy failed, or the report did
  2  a problem with the input (unknown dataset or strategy, bad setting), before anything runs
  130  interrupted (Ctrl-C, SIGTERM): everything stops"""


def wrap(text: str) -> str:
    """A description filled to 79 columns (the parser keeps its text as is, for the epilog's table)."""
    import textwrap

    return textwrap.fill(text, 79)


class Failures:
    """The strategies that failed in this command (issue 20 #18): each is printed as one line on
    stderr as it fails (``launch.optimize_in_dagster``'s ``on_failure``), then marked FAILED in the
    leaderboard and counted in the exit code (``exit_code``)."""

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.reasons: dict[str, str] = {}  # strategy -> the error's message

    def __call__(self, strategy: str, error: Exception) -> None:
        self.reasons[strategy] = str(error).strip() or type(error).__name__
        print(f"lq {self.verb}: error: strategy {strategy} failed: {self.reasons[strategy]}", file=sys.stderr,
              flush=True)

    def exit_code(self, n_strategies: int) -> int:
        """0 none failed, ``PARTIAL_FAILURE`` some, 1 all; says so in one line when more than one ran."""
        k = len(self.reasons)
        if k and n_strategies > 1:
            what = "every strategy failed" if k == n_strategies else \
                f"{k} of {n_strategies} strategies failed, the others' results are written"
            print(f"lq {self.verb}: {what} (failed: {', '.join(self.reasons)})", file=sys.stderr, flush=True)
        return 0 if k == 0 else 1 if k >= n_strategies else PARTIAL_FAILURE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "optimize",
        help="run the two-stage optimizer for a dataset and strategies, then the report",
        description=wrap("Materialize prefilter_rankings and replay_results for each (dataset, strategy) "
        "partition, in this process, against the Dagster instance, then optimization_report. "
        "Settings come from luminaquant.toml [optimize]; the flags override them for this run. "
        "A strategy that fails (its code raises, its stage contract, the hard limit of --timeout) is "
        "named with its reason in one line and marked FAILED in the leaderboard; the other strategies "
        "still run and their results are written. A lookahead verdict is a result, not a failure."),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    failures = Failures("optimize")
    with dg.DagsterInstance.get() as instance:
        with stages("optimizing", f"{', '.join(strategies)} on {args.dataset}"):
            results = optimize_in_dagster(instance, args.dataset, strategies, settings, progress=stages,
                                          on_failure=failures)
    if results:  # [] when every strategy failed: no report
        print_gates(results[:-1])
        print_leaderboard(results[-1], failures.reasons, args.dataset)
    print(stages.summary())
    return failures.exit_code(len(strategies))
