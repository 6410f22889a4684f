"""``lq strategy new|list|check``: write, list and check the strategies of the project."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("strategy", help="write, list and check strategies",
                       description="Strategies live in the project's strategies/ folder (one class per file, "
                       "written with `import lq_engine.api as lq`), in installed packages (entry point group "
                       "luminaquant.strategies) and in the shipped library.")
    verbs = p.add_subparsers(dest="strategy_verb", metavar="VERB", required=True)
    new = verbs.add_parser("new", help="write a commented template strategy and a test for it")
    new.add_argument("name", help="strategy name: lower case, digits, underscores (the file name)")
    new.add_argument("--force", action="store_true", help="overwrite existing files")
    new.add_argument("--portfolio", action="store_true",
                     help="a portfolio strategy (weights over a universe) instead of a single-symbol one")
    new.set_defaults(func=run_new)
    ls = verbs.add_parser("list", help="every strategy the project sees, and where it comes from")
    ls.set_defaults(func=run_list)
    chk = verbs.add_parser("check", help="compile, validate, lookahead and parity checks, and a timed sweep")
    chk.add_argument("name", help="strategy name")
    chk.add_argument("--no-timing", action="store_true",
                     help="skip the cold/cached compile timings (two fresh processes)")
    chk.set_defaults(func=run_check)


def run_new(args: argparse.Namespace) -> int:
    from lq_engine.project import find_project
    from lq_engine.optimize.config import load_checked_config
    from lq_engine.authoring.scaffold import write_strategy

    project = find_project()
    cfg = load_checked_config(project.config_path)
    path, test = write_strategy(project.root, cfg.strategies_dir, args.name, args.force, args.portfolio)
    print(f"wrote {path}")
    print(f"wrote {test}")
    print(f"next: lq strategy check {args.name}   (then lq optimize --strategy {args.name})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from lq_engine.authoring.declare import StrategyError
    from lq_engine.strategies.registry import _load_origin, origins

    rows = []
    for name, o in sorted(origins().items()):
        try:
            spec = _load_origin(o)
            n = len(spec.grid())
            desc = (spec.description.splitlines() or [""])[0]
            rows.append((name, o.label, ", ".join(spec.param_names), f"{n:,}", desc))
        except (StrategyError, ValueError) as e:
            rows.append((name, o.label, "-", "-", f"ERROR: {str(e).splitlines()[0]}"))
    head = ("strategy", "from", "parameters", "grid", "description")
    widths = [max(len(str(r[i])) for r in (*rows, head)) for i in range(4)]
    print("  ".join(h.ljust(w) for h, w in zip(head[:4], widths)) + "  " + head[4])
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    return 0


def run_check(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup
    from lq_engine.optimize.checks import check_strategy

    from lq_assets.cli.inputs import check_strategies

    check_strategies([args.name], "strategy")
    setup(args.verbose)
    report = check_strategy(args.name, timing=not args.no_timing)
    print(report.summary())
    return 0 if report.ok else 1
