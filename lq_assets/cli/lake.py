"""``lq lake verify`` / ``lq lake repair``: name damaged lake partitions, rebuild them from the landing
archive; ``lq lake rm SYMBOL``: take a symbol out of the lake (into the quarantine)."""

from __future__ import annotations

import argparse

from lq_engine.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lake",
        help="check the lake's partitions (verify), rebuild damaged ones (repair), remove a symbol (rm)",
        description="verify: read every bar partition back whole (page CRCs, schema, timestamp order) and "
        "name each damaged file; exit code 1 if any. repair: move each damaged file to quarantine/lake/ "
        "and rebuild it by re-ingesting the landing files that carry its rows; say which cannot be rebuilt. "
        "rm SYMBOL [--timeframe TF]: move the symbol's partitions (of every timeframe, or of TF) to "
        "quarantine/lake/ and say what moved; the catalog (`lq sql`) no longer shows them, and ingesting "
        "its files again brings them back. Frozen datasets keep it until they are re-frozen (`lq freeze`).",
    )
    p.add_argument("action", choices=("verify", "repair", "rm"))
    p.add_argument("symbol", nargs="?", metavar="SYMBOL", help="rm: the symbol to remove from the lake")
    p.add_argument("--timeframe", metavar="TF", help="rm: only the bars of this timeframe (e.g. 1m, 1d)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step
    from lq_engine.data.lake import bar_objects
    from lq_engine.data.integrity import verify_lake
    from lq_engine.data.repair import repair_lake

    if args.action == "rm":
        return _rm(args)
    if args.symbol is not None or args.timeframe is not None:
        raise UsageError(f"lq lake {args.action} takes no SYMBOL or --timeframe (those are for `lq lake rm`)")
    paths = setup(args.verbose)
    corrupt = verify_lake(paths)
    n = len(bar_objects(paths))
    if args.action == "verify" or not corrupt:
        for c in corrupt:
            print(f"CORRUPT {c.location}: {c.problem}")
        step(f"{n} partition(s) checked in {paths.store.describe()}: {len(corrupt)} damaged"
             + (" (run `lq lake repair`)" if corrupt else ""))
        return 1 if corrupt and args.action == "verify" else 0
    report = repair_lake(paths, corrupt)
    for key in report.repaired:
        print(f"REPAIRED {key}")
    for old, kept in report.moved_to.items():
        print(f"  damaged file kept as {kept}")
    for key, why in report.unrepairable:
        print(f"CANNOT REPAIR {key}: {why}")
    step(f"{len(report.repaired)} repaired, {len(report.unrepairable)} not repairable")
    return 1 if report.unrepairable else 0


def _rm(args: argparse.Namespace) -> int:
    """The symbol's partitions to quarantine/lake/ (``remove_symbol``); a symbol not in the lake, or
    without bars of the timeframe, is its NotFoundError (exit code 2) naming it and the closest symbol."""
    from lq_assets.cli.environment import setup, step
    from lq_engine.data.catalog import ensure_catalog
    from lq_engine.data.repair import remove_symbol
    from lq_engine.data.schema import canonical_timeframe
    from lq_engine.optimize.config import load_checked_config

    if not args.symbol:
        raise UsageError("lq lake rm needs a SYMBOL (e.g. `lq lake rm BTCUSDT --timeframe 1m`)")
    tf = None
    if args.timeframe is not None:
        try:
            tf = canonical_timeframe(args.timeframe)
        except ValueError as e:
            raise UsageError(f"--timeframe: {e}") from None
    paths = setup(args.verbose)
    moved = remove_symbol(paths, args.symbol, tf)  # NotFoundError (exit code 2): not in the lake, or not of TF
    ensure_catalog(paths)  # catalog.duckdb for other tools (its views re-glob the lake: the symbol is gone)
    by_tf: dict[str, list] = {}
    for key, _ in moved:
        by_tf.setdefault(key.timeframe, []).append(key.month)
    for t, months in sorted(by_tf.items()):
        print(f"moved {args.symbol} {t}: {len(months)} month partition(s) {months[0]} .. {months[-1]} to "
              f"{paths.quarantine / 'lake'}")
    holding = [u.name for u in load_checked_config().universes.values()
               if u.timeframe in by_tf and u.resolve_symbols([args.symbol])]
    if holding:
        print(f"  universes with {args.symbol}: {', '.join(holding)}; their frozen datasets keep it until "
              "re-frozen (`lq freeze`)")
    step(f"{args.symbol} removed from the lake {paths.store.describe()}: {len(moved)} partition(s) in quarantine")
    return 0
