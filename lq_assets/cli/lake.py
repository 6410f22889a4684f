"""``lq lake verify`` / ``lq lake repair``: name damaged lake partitions, rebuild them from the landing archive."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lake",
        help="check the lake's partitions (verify) or rebuild damaged ones from the landing files (repair)",
        description="verify: read every bar partition back whole (page CRCs, schema, timestamp order) and "
        "name each damaged file; exit code 1 if any. repair: move each damaged file to quarantine/lake/ "
        "and rebuild it by re-ingesting the landing files that carry its rows; say which cannot be rebuilt.",
    )
    p.add_argument("action", choices=("verify", "repair"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step
    from lq_engine.data.lake import bar_objects
    from lq_engine.data.integrity import verify_lake
    from lq_engine.data.repair import repair_lake

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
