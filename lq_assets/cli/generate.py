"""``lq generate``: deterministic SYNTHETIC 1-minute bars into the landing folder."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="write deterministic synthetic 1-minute 24/7 bars into the landing folder",
        description="Write deterministic SYNTHETIC 1-minute 24/7 bars (volatility clustering, jumps) "
        "into the landing folder. Same symbols, days, seed and start: the same bytes. With the UI "
        "running, the landing sensor ingests them on its next tick; otherwise run `lq ingest`.",
    )
    p.add_argument("--symbols", type=int, default=10, help="number of synthetic symbols SYN000.. (default 10)")
    p.add_argument("--days", type=int, default=30, help="days of 1-minute bars per symbol (default 30)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--start", default="2024-01-01", help="first UTC day (default 2024-01-01)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step
    from lq_engine.data.samples import write_synthetic_to_landing

    from lq_engine.errors import UsageError

    if args.symbols < 1 or args.days < 1:
        raise UsageError(f"--symbols and --days must be >= 1, got {args.symbols} and {args.days}")
    paths = setup(args.verbose)
    step(f"generating SYNTHETIC bars: {args.symbols} symbols x {args.days} days, seed {args.seed}")
    files = write_synthetic_to_landing(paths, args.symbols, args.days, args.seed, args.start)
    for f in files:
        step(f"wrote {f}")
    return 0
