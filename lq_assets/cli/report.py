"""``lq report``: print where the optimization report is and open it in the browser."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="open the optimization report (index.html) in the browser",
        description="Print the path of the optimization report's index, <data>/results/report/index.html "
        "(the leaderboard with verdicts, clean winners first, each row linking to the page of its "
        "dataset and strategy), and open it in the default browser. The report is written by the asset "
        "optimization_report, at the end of every `lq optimize` and `lq demo`; it works offline and "
        "from wherever its folder is copied. Exit code 0; 2 when there is no report yet.",
    )
    p.add_argument("--no-open", action="store_true", help="only print the path (no browser)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup
    from lq_engine.data.paths import REPORT_INDEX
    from lq_engine.errors import NotFoundError

    paths = setup(args.verbose)
    index = paths.report / REPORT_INDEX
    if not index.is_file():
        raise NotFoundError(f"no report yet at {index}: run `lq optimize` (or `lq demo`) first: "
                            "the asset optimization_report writes it")
    print(index)
    if not args.no_open:
        import webbrowser

        if not webbrowser.open(index.as_uri()):
            print(f"no browser found: open {index.as_uri()} yourself")
    return 0
