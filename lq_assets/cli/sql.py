"""``lq sql``: a read-only query against the DuckDB catalog (views over the lake, result tables).

Output: a table when it fits the terminal, else one ``column: value`` block per row (``--wide``: the
whole table however wide); ``--csv`` and ``--json`` for programs. Timestamps are ISO 8601 UTC text
in every form (``catalog.with_iso_times``).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

_SHORT_STR = 60  # characters of a string shown in a table cell (the vertical form, --wide, csv and json: all)
_LIST_TABLES = "SELECT table_name AS name, table_type AS kind FROM information_schema.tables ORDER BY 1"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sql",
        help="run one read-only SQL query against the catalog",
        description="Print the result of QUERY over the catalog's views of the lake, e.g. "
        "lq sql \"SELECT symbol, count(*) FROM bars GROUP BY symbol\". Without QUERY, list the "
        "views. One SELECT per call; it can read the lake and nothing else, and cannot "
        "write anything (COPY, ATTACH, INSTALL, SET, ... are refused). A query stops after --timeout "
        "seconds, or on Ctrl-C / SIGTERM, within seconds; only the rows printed are fetched. "
        "Timestamps print as ISO 8601 UTC (2013-11-04T00:00:00Z): timestamp columns, and integer "
        "columns named ts or *_ts, which hold nanoseconds since the epoch in the lake (rename one, "
        "e.g. ts AS ts_ns, to see the integer). A result wider than the terminal prints one "
        "'column: value' block per row, unless --wide. A reserved word as a column name goes in "
        "double quotes: SELECT \"window\" FROM replay_windows.",
    )
    p.add_argument("query", nargs="?", help="SQL text (default: list tables and views)")
    p.add_argument("--limit", type=int, default=50, help="rows to print at most, in every format (default 50)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop the query after this many seconds (default 60)")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--wide", action="store_true",
                      help="always print a table, with every column and whole strings, however wide "
                      "(default: a table if it fits the terminal, else one 'column: value' block per row)")
    form.add_argument("--csv", action="store_true",
                      help="print CSV with a header row: every column, whole values, empty for null")
    form.add_argument("--json", action="store_true",
                      help="print a JSON array with one object per row: every column, whole values, "
                      "null for null and for NaN or infinity")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup

    paths = setup(args.verbose)
    import shutil

    from lq_engine.data.catalog import SQL_TIMEOUT_S, query_readonly, with_iso_times
    from lq_engine.errors import UsageError

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    timeout = SQL_TIMEOUT_S if args.timeout is None else args.timeout
    if not timeout > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout:g}")
    # one row more than shown: says whether there are more, without building the whole result
    df = query_readonly(paths, args.query or _LIST_TABLES, limit=args.limit + 1, timeout_s=timeout)
    more = df.height > args.limit
    df = with_iso_times(df.head(args.limit))
    if args.csv:
        sys.stdout.write(csv_text(df))
    elif args.json:
        sys.stdout.write(json_text(df))
    else:
        sys.stdout.write(table_or_vertical(df, shutil.get_terminal_size().columns, wide=args.wide))
    if more:  # on stderr for csv and json: their output stays a clean file
        print(f"(first {args.limit} rows shown; the query returns more: --limit N shows more)",
              file=sys.stderr if args.csv or args.json else sys.stdout)
    return 0


def table_text(df: pl.DataFrame, *, whole: bool) -> str:
    """Polars' table of every row and column, not wrapped; string cells cut at 60 characters unless ``whole``."""
    import polars as pl

    long = 1_000_000
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=-1, tbl_hide_column_data_types=True,
                   fmt_str_lengths=long if whole else _SHORT_STR, fmt_table_cell_list_len=-1 if whole else 6):
        return str(df) + "\n"


def table_or_vertical(df: pl.DataFrame, columns: int, *, wide: bool = False) -> str:
    """The table if no line of it is wider than ``columns`` (or ``wide``: the whole table), else
    the vertical form (``vertical_text``): a wide table wraps in a terminal and reads as noise."""
    if wide:
        return table_text(df, whole=True)
    table = table_text(df, whole=False)
    if max(len(line) for line in table.splitlines()) <= columns:
        return table
    return vertical_text(df)


def vertical_text(df: pl.DataFrame) -> str:
    """One block per row, one ``column: value`` line per column (psql's ``\\x``), whole values;
    the lines of a multi-line value are indented under the first."""
    if not df.height:
        return "(no rows: " + ", ".join(df.columns) + ")\n"
    width = max(len(c) for c in df.columns) + 1
    out = []
    for i, row in enumerate(df.iter_rows(), 1):
        out.append(f"-[ row {i} ]" + "-" * max(0, width - 8))
        for name, value in zip(df.columns, row):
            text = _cell(value).replace("\n", "\n" + " " * (width + 1))
            out.append(f"{name + ':':<{width}} {text}")
    return "\n".join(out) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(_plain(value), ensure_ascii=False)
    return str(value)


def csv_text(df: pl.DataFrame) -> str:
    """CSV with a header row; list and struct values as JSON text, null as an empty field."""
    import polars as pl

    nested = [c for c, t in df.schema.items() if t.is_nested() or t == pl.Object or t == pl.Binary]
    if nested:
        df = df.with_columns(pl.Series(c, [None if v is None else _cell(v) for v in df[c].to_list()],
                                       dtype=pl.String) for c in nested)
    return df.write_csv()


def json_text(df: pl.DataFrame) -> str:
    """A JSON array, one object per row on its own line; NaN and infinities (not JSON) as null."""
    import json

    rows = [json.dumps(_plain(r), ensure_ascii=False, allow_nan=False) for r in df.iter_rows(named=True)]
    return "[\n" + ",\n".join(rows) + "\n]\n" if rows else "[]\n"


def _plain(value: Any) -> Any:
    """A JSON-able copy: numbers stay numbers (an integral decimal as an int), NaN and infinities
    null, dates and times ISO text, bytes hex, anything else its text."""
    import datetime as dt
    from decimal import Decimal

    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.time)):  # datetime too: only inside a list or struct (columns are text by then)
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)
