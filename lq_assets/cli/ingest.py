"""``lq ingest``: files into the lake through the same Dagster job the landing sensor runs."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="ingest CSV / Parquet files into the lake (a market_bars run per file)",
        description="Copy each file into the landing folder (unless it is already there) and run the "
        "market_bars job over the partitions it touches, in this process, against the Dagster "
        "instance. A rejected file is quarantined with a report and the lake does not change.",
    )
    p.add_argument("paths", nargs="+", type=Path, help="CSV or Parquet files")
    p.add_argument("--no-freeze", action="store_true", help="do not rebuild the frozen datasets afterwards")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step

    paths = setup(args.verbose)
    import dagster as dg

    from lq_assets.launch import freeze_in_dagster, ingest_in_dagster
    from lq_assets.partitions import UNIVERSES

    landed = []
    for src in args.paths:
        if not src.is_file():
            raise FileNotFoundError(f"{src}: no such file")
        dst = paths.landing / src.name
        if src.resolve() != dst.resolve():
            shutil.copy2(src, dst)
        landed.append(dst)
    with dg.DagsterInstance.get() as instance:
        for f in landed:
            step(f"ingesting {f.name}")
            ingest_in_dagster(instance, [f])
        if not args.no_freeze:
            step("rebuilding frozen datasets")
            freeze_in_dagster(instance, UNIVERSES.get_partition_keys())
    step("done")
    return 0
