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
        "write anything (COPY, ATTACH, INSTALL, SET, ... are refused).",
    )
    p.add_argument("query", nargs="?", help="SQL text (default: list tables and views)")
    p.add_argument("--limit", type=int, default=50, help="rows to print at most (default 50)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup

    paths = setup(args.verbose)
    import polars as pl

    from lq_engine.data.catalog import query_readonly

    query = args.query or "SELECT table_name AS name, table_type AS kind FROM information_schema.tables ORDER BY 1"
    df = query_readonly(paths, query)
    with pl.Config(tbl_rows=args.limit, tbl_cols=-1, tbl_width_chars=160, fmt_str_lengths=60):
        print(df.head(args.limit))
    return 0
