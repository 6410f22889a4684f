"""``lq check``: research-hygiene checks (lookahead)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check strategies for lookahead bias",
                       description="Run a strategy on full and truncated data and report any decision "
                       "or fill before the cut that changes (a decision at bar i may only see bars <= i).")
    verbs = p.add_subparsers(dest="check_verb", metavar="CHECK", required=True)
    la = verbs.add_parser("lookahead", help="full vs truncated runs of one strategy (or 'all')")
    la.add_argument("strategy", help="registered strategy name, or 'all'")
    la.add_argument("--cuts", type=int, default=8, help="number of truncation points (default 8)")
    la.set_defaults(func=lookahead)


def lookahead(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup
    from lq_engine.replay.lookahead import check_lookahead

    from lq_assets.cli.inputs import check_strategies

    names = check_strategies([args.strategy], "strategy")
    setup(args.verbose)
    bad = 0
    for name in names:
        report = check_lookahead(name, cuts=args.cuts)
        print(report.summary())
        bad += not report.ok
    return 1 if bad else 0
