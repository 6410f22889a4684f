"""``lq``: the platform's jobs from the command line, without the UI.

Exit codes: 0 success; 1 the work ran and failed (a run, a check, a backfill, a fetch); 2 a problem with the
input (``LQError``: bad argument, unknown dataset or strategy, bad file, configuration), printed as
one line; 3 (``lq optimize``, ``lq demo``) some strategies failed, the others' results are written;
130 interrupted; a bug (any other exception) keeps its traceback and exits with 1.

Each verb lives in its own module with ``register(subparsers)``; heavy imports (dagster, numba,
polars) happen inside the verbs so that ``lq --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys

from lq_engine.errors import LQError

from lq_assets.cli import (
    backfill, check, demo, fetch, freeze, generate, ingest, init, lake, native, optimize, paper, report, sql, strategy,
    ui, worker,
)

VERBS = (init, demo, fetch, ingest, freeze, generate, ui, worker, backfill, optimize, report, strategy, sql, lake,
         paper, native, check)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lq",
        description="LuminaQuant: market data -> frozen datasets -> backend benchmark -> "
        "prefilter rankings -> replay results, orchestrated by Dagster.",
    )
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show debug logs and Dagster's / DuckDB's warnings on stderr (always written to the "
                   "log file <data>/logs/lq.log)")
    sub = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        verb.register(sub)
    return p


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    import signal

    from lq_assets.cli.environment import quiet_warnings

    args = build_parser().parse_args(argv)
    quiet_warnings()
    if args.verb not in ("ui", "worker"):  # those two stop their children themselves
        signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops a waiting command like Ctrl-C
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except LQError as e:  # the user's input, configuration or data: one line, no traceback
        print(f"lq {args.verb}: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    # anything else is a bug: Python prints its traceback (exit code 1)


if __name__ == "__main__":
    sys.exit(main())
