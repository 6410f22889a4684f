"""``lq sql``: a read-only query against the DuckDB catalog (views over the lake, result tables)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sql",
        help="run one read-only SQL query against the catalog",
        description="Print the result of QUERY over the catalog's views of the lake, e.g. "
        "lq sql \"SELECT symbol, count(*) FROM bars GROUP BY symbol\". Without QUERY, list the "
        "views. One SELECT per call; it can read the lake and nothing else, and cannot "
        "write anything (COPY, ATTACH, INSTALL, SET, ... are refused). A query stops after --timeout "
        "seconds, or on Ctrl-C / SIGTERM, within seconds; only the rows printed are fetched.",
    )
    p.add_argument("query", nargs="?", help="SQL text (default: list tables and views)")
    p.add_argument("--limit", type=int, default=50, help="rows to print at most (default 50)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop the query after this many seconds (default 60)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup

    paths = setup(args.verbose)
    import polars as pl

    from lq_engine.data.catalog import SQL_TIMEOUT_S, query_readonly
    from lq_engine.errors import UsageError

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    timeout = SQL_TIMEOUT_S if args.timeout is None else args.timeout
    if not timeout > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout:g}")
    query = args.query or "SELECT table_name AS name, table_type AS kind FROM information_schema.tables ORDER BY 1"
    # one row more than shown: says whether there are more, without building the whole result
    df = query_readonly(paths, query, limit=args.limit + 1, timeout_s=timeout)
    with pl.Config(tbl_rows=args.limit, tbl_cols=-1, tbl_width_chars=160, fmt_str_lengths=60):
        print(df.head(args.limit))
    if df.height > args.limit:
        print(f"(first {args.limit} rows shown; the query returns more: --limit N shows more)")
    return 0
