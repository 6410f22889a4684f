"""`lq sql` is read-only by construction: a corpus of abusive statements is refused (one line each)
and the lake and the catalog file stay byte-identical; a plain query still works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from landing_files import bar_lines, tree_digest, write_csv

from lq_engine.data.catalog import SqlRefused, ensure_catalog, query_readonly
from lq_engine.data.ingest import ingest_file
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from lq_engine.data.results import write_table


@pytest.fixture
def filled(paths):
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(30)), paths)
    write_table(paths, "optimization_winners", pl.DataFrame({"winner_params": ['{"fast": 5}']}),
                {"dataset": "d", "strategy": "s"})
    ensure_catalog(paths)
    return paths


def _corpus(paths, tmp: Path) -> list[str]:
    part = paths.lake / "bars" / "timeframe=1m" / "symbol=AAA" / "month=2024-01" / "data.parquet"
    lake, cat = paths.lake, paths.catalog
    return [
        # the findings
        f"COPY (SELECT * FROM bars LIMIT 9) TO '{part}' (FORMAT parquet)",
        f"COPY (SELECT 1 AS x) TO '{cat}'",
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        f"ATTACH '{tmp / 'other.duckdb'}' AS other (READ_WRITE)",
        f"ATTACH '{cat}' AS cat",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT 1; SELECT 2",
        "SELECT count(*) FROM bars; COPY bars TO '/tmp/x.csv'",
        # and more
        f"EXPLAIN ANALYZE COPY (SELECT 42 AS a) TO '{lake / 'x.parquet'}'",
        f"EXPORT DATABASE '{tmp / 'dump'}'",
        "CREATE TABLE t AS SELECT 1",
        "CREATE OR REPLACE VIEW bars AS SELECT 1",
        "DROP VIEW bars",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "PRAGMA enable_profiling",
        f"SELECT * FROM read_parquet('{lake}/../catalog.duckdb')",
        f"SELECT * FROM read_text('{lake}/../../../../etc/passwd')",
        f"SELECT * FROM read_json_auto('{REPO_ROOT / 'pyproject.toml'}')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT getenv('AWS_SECRET_ACCESS_KEY')",
        "CALL pragma_version()",
        "USE memory; CREATE TABLE x (a INT)",
        "",
    ]


def test_abuse_corpus_is_refused_and_nothing_changes(filled, tmp_path):
    paths = filled
    before = tree_digest(paths.lake, paths.catalog)
    for stmt in _corpus(paths, tmp_path):
        with pytest.raises(SqlRefused) as e:
            query_readonly(paths, stmt)
        assert "\n" not in str(e.value) and str(e.value), stmt
    assert tree_digest(paths.lake, paths.catalog) == before
    assert not (tmp_path / "other.duckdb").exists() and not (tmp_path / "dump").exists()
    assert not (paths.lake / "x.parquet").exists()
    # reading the lake still works, through the views and by file under the lake
    assert query_readonly(paths, "SELECT count(*) AS n FROM bars")["n"][0] == 30
    assert query_readonly(paths, "SELECT winner_params, strategy FROM optimization_winners").row(0) == ('{"fast": 5}', "s")
    glob = paths.lake / "bars" / "**" / "*.parquet"
    assert query_readonly(paths, f"SELECT count(*) AS n FROM read_parquet('{glob}')")["n"][0] == 30


def test_lq_sql_refusal_is_one_line(filled):
    env = {**os.environ, "LQ_DATA_DIR": str(filled.root)}
    r = subprocess.run([str(Path(sys.executable).parent / "lq"), "sql", "INSTALL httpfs"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["lq sql: error: refused: INSTALL statements are not allowed (the catalog "
                                             "is read-only; only SELECT queries run)"]
