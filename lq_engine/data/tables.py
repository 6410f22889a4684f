"""Result tables in the catalog: replace one slice (e.g. a dataset x strategy) of a table at a time."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl


def replace_slice(con: duckdb.DuckDBPyConnection, table: str, df: pl.DataFrame, where: Mapping[str, str]) -> int:
    """Delete the rows of ``table`` matching ``where`` and insert ``df`` (with ``where`` as columns).

    The table is created from the first frame written and widened with new columns when a later
    frame brings some (strategies have different parameter columns); rows are matched by name.
    """
    df = df.with_columns([pl.lit(v).alias(k) for k, v in where.items()])
    con = con.cursor()  # a clean cursor: another result left open on ``con`` must not block us
    con.register("_slice", df.to_arrow())
    try:
        con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" AS SELECT * FROM _slice LIMIT 0')
        have = {r[0] for r in con.execute(f"DESCRIBE \"{table}\"").fetchall()}
        for name, dtype, *_ in con.execute("DESCRIBE _slice").fetchall():
            if name not in have:
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {dtype}')
        cond = " AND ".join(f'"{k}" = ?' for k in where)
        con.execute(f'DELETE FROM "{table}" WHERE {cond}', list(where.values()))
        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _slice')
    finally:
        con.unregister("_slice")
    return df.height
