"""``lq sql``: a read-only query against the DuckDB catalog (views over the lake, result tables)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sql",
        help="run a read-only SQL query against the catalog",
        description="Open data/catalog.duckdb read-only and print the result of QUERY, e.g. "
        "lq sql \"SELECT symbol, count(*) FROM bars GROUP BY symbol\". Without QUERY, list the "
        "catalog's tables and views.",
    )
    p.add_argument("query", nargs="?", help="SQL text (default: list tables and views)")
    p.add_argument("--limit", type=int, default=50, help="rows to print at most (default 50)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup

    paths = setup(args.verbose)
    import duckdb
    import polars as pl

    from lq_engine.data.catalog import catalog_reader

    query = args.query or "SELECT table_name AS name, table_type AS kind FROM information_schema.tables ORDER BY 1"
    with catalog_reader(paths) as con:
        try:
            df = pl.from_arrow(con.execute(query).to_arrow_table())
        except duckdb.Error as e:
            raise ValueError(f"query failed: {e}") from None
    with pl.Config(tbl_rows=args.limit, tbl_cols=-1, tbl_width_chars=160, fmt_str_lengths=60):
        print(df.head(args.limit))
    return 0
