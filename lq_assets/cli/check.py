"""``lq check``: research-hygiene checks (lookahead)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check strategies for lookahead bias",
                       description="Compare a strategy's decisions on data with those on the same data truncated, "
                       "or with one bar field (open, high, low, close, volume) scaled or shuffled, after several "
                       "cut points: a decision at bar i may only see bars <= i.")
    verbs = p.add_subparsers(dest="check_verb", metavar="CHECK", required=True)
    la = verbs.add_parser(
        "lookahead", help="lookahead scan of one strategy (or 'all'), single-symbol or portfolio",
        description="Checks the gate's parameter sets (every Choice and Bool value, the extremes of each grid "
        "axis, the set with the longest warm-up, a seeded sample) on generated data (3,000 bars; a universe "
        "with gaps and late starts for a portfolio strategy) or on a frozen dataset (--dataset).")
    la.add_argument("strategy", help="registered strategy name, or 'all'")
    la.add_argument("--cuts", type=int, default=4,
                    help="cut points spread over the data per series (default 4; one more per parameter set "
                    "right after a decision change)")
    la.add_argument("--dataset", default=None,
                    help="a frozen universe of luminaquant.toml to check on (default: generated data)")
    la.add_argument("--seed", type=int, default=0, help="seed of the sample of sets, the cuts and the shuffles")
    la.add_argument("--all-failures", action="store_true",
                    help="check every set to the end and list every failing one (default: stop at the first)")
    la.set_defaults(func=lookahead)


def lookahead(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup
    from lq_assets.cli.inputs import check_dataset, check_strategies
    from lq_engine.errors import UsageError

    names = check_strategies([args.strategy], "strategy")
    if args.cuts < 1:
        raise UsageError(f"--cuts must be >= 1, got {args.cuts}")
    if args.dataset is not None:
        check_dataset(args.dataset)
    paths = setup(args.verbose)
    from lq_engine.replay.lookahead import gate_sets, lookahead_scan
    from lq_engine.optimize.checks import LOOKAHEAD_BARS, generated_data
    from lq_engine.strategies.registry import resolve

    frozen = _frozen(args.dataset, paths) if args.dataset is not None else None
    bad = 0
    for name in names:
        spec = resolve(name)
        if frozen is None:
            data, where = generated_data(spec, LOOKAHEAD_BARS), f"{LOOKAHEAD_BARS:,} generated bars (SYNTHETIC)"
        else:
            data, where = _dataset_data(spec, frozen), f"dataset {args.dataset} ({frozen.content_hash[:12]})"
        scan = lookahead_scan(spec, gate_sets(spec, args.seed), data, cuts=args.cuts, seed=args.seed,
                              stop_at_first=not args.all_failures)
        print(f"{scan.summary()}\n  on {where}")
        bad += not scan.ok
    return 1 if bad else 0


def _frozen(dataset: str, paths):
    import dagster as dg

    from lq_assets.datasets.lookup import current_frozen

    with dg.DagsterInstance.get() as instance:
        return current_frozen(instance, dataset, paths)


def _dataset_data(spec, ds):
    """A frozen dataset as the strategy runs on it: its symbols' series, or the universe's panel."""
    series = [ds.series(s) for s in ds.symbols]
    if not spec.is_portfolio:
        return series
    from lq_engine.optimize.folds import clock_of
    from lq_engine.strategies.panel import Panel

    return Panel.from_series(series, clock_of([s.ts for s in series]))
