"""`lq sql` is read-only by construction: a corpus of abusive statements is refused (one line each)
and the lake and the catalog file stay byte-identical; a plain query still works. It reads nothing
of the working folder (DuckDB's default temp folder ``<cwd>/.tmp``), refuses object keys with
``..`` segments, stops at its time limit and on SIGINT / SIGTERM, and fetches only the rows shown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from landing_files import bar_lines, tree_digest, write_csv

from lq_engine.data.catalog import SqlRefused, SqlTimeout, ensure_catalog, query_readonly
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
    winners = query_readonly(paths, "SELECT winner_params, strategy FROM optimization_winners")
    assert winners.row(0) == ('{"fast": 5}', "s")
    glob = paths.lake / "bars" / "**" / "*.parquet"
    assert query_readonly(paths, f"SELECT count(*) AS n FROM read_parquet('{glob}')")["n"][0] == 30


def test_lq_sql_refusal_is_one_line(filled):
    env = {**os.environ, "LQ_DATA_DIR": str(filled.root)}
    r = subprocess.run([str(Path(sys.executable).parent / "lq"), "sql", "INSTALL httpfs"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["lq sql: error: refused: INSTALL statements are not allowed (the catalog "
                                             "is read-only; only SELECT queries run)"]


def test_working_folder_is_not_readable(filled, tmp_path, monkeypatch):
    """Issue 20 #17: DuckDB allowed its temp directory, ``<cwd>/.tmp/``, so files there were readable."""
    work = tmp_path / "work"
    (work / ".tmp").mkdir(parents=True)
    (work / ".tmp" / "secret.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(work)
    for where in (".tmp/secret.csv", str(work / ".tmp" / "secret.csv")):
        with pytest.raises(SqlRefused, match="refused"):
            query_readonly(filled, f"SELECT * FROM read_csv('{where}')")
    assert not list((work / ".tmp").glob("duckdb*"))  # nothing spilled into the working folder either


def test_object_key_with_dot_segments_is_refused(tmp_path):
    """Issue 20 #17: ``s3://bucket/lake/../x`` passed DuckDB's allowed-folder check (a string prefix)
    and was read outside the lake. The lake's s3 filesystem (here over a local pyarrow filesystem,
    as the store registers it) refuses keys with ``.``/``..`` segments; the plain wrapper did not."""
    import duckdb
    from fsspec.implementations.arrow import ArrowFSWrapper
    from pyarrow import fs as pafs

    from lq_engine.data.store import duckdb_filesystem

    bucket = tmp_path / "bucket"
    (bucket / "lake").mkdir(parents=True)
    (bucket / "secret.csv").write_text("s\n1\n")
    (bucket / "lake" / "ok.csv").write_text("a\n2\n")

    class _Plain(ArrowFSWrapper):  # the filesystem as it was registered before
        protocol = "s3"

    def read(fs, key: str):
        with duckdb.connect(":memory:") as con:
            con.register_filesystem(fs)
            con.execute(f"SET allowed_directories = ['s3://{bucket}/lake/']")
            con.execute("SET enable_external_access = false")
            return con.sql(f"SELECT * FROM read_csv('s3://{bucket}/{key}')").fetchall()

    escapes = ("lake/../secret.csv", "lake/./../secret.csv", "lake//../secret.csv")
    assert read(_Plain(pafs.LocalFileSystem()), escapes[0]) == [(1,)]  # the finding
    for key in escapes:
        with pytest.raises(duckdb.Error, match=r"'\.\.' segment refused"):
            read(duckdb_filesystem(pafs.LocalFileSystem()), key)
    assert read(duckdb_filesystem(pafs.LocalFileSystem()), "lake/ok.csv") == [(2,)]


def test_query_time_limit_and_row_limit(filled):
    """Issue 20 #8: a query ran without a limit and its result was built whole."""
    t = time.monotonic()
    with pytest.raises(SqlTimeout, match="stopped after 1 s"):
        query_readonly(filled, "SELECT count(*) FROM range(10000000000000)", timeout_s=1)
    assert time.monotonic() - t < 10
    t = time.monotonic()  # 10^13 rows: only the first 7 are fetched
    df = query_readonly(filled, "SELECT range AS x FROM range(10000000000000)", limit=7, timeout_s=30)
    assert df["x"].to_list() == list(range(7)) and time.monotonic() - t < 20
    assert query_readonly(filled, "SELECT count(*) AS n FROM bars", limit=7)["n"][0] == 30


def _lq(args: list[str], paths, **kw) -> subprocess.Popen:
    env = {**os.environ, "LQ_DATA_DIR": str(paths.root), "TMPDIR": str(paths.root)}
    # as from a terminal: SIGINT handled even where this test runs in a background job (SIG_IGN inherited)
    return subprocess.Popen([str(Path(sys.executable).parent / "lq"), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_lq_sql_stops_on_signal(filled, sig):
    """Issue 20 #8: ``lq sql`` over 10^13 rows ignored SIGINT and SIGTERM for minutes."""
    p = _lq(["sql", "SELECT count(*) FROM range(10000000000000)"], filled)
    deadline = time.monotonic() + 60
    while not list(filled.root.glob("lq-sql-*")):  # the query's private temp folder: it is running
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)
    sent = time.monotonic()
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"lq sql still running 10 s after signal {sig.name}")
    assert time.monotonic() - sent < 10
    assert p.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err[-2000:]


@pytest.mark.slow
def test_lq_sql_timeout_and_limit(filled):
    p = _lq(["sql", "--timeout", "2", "SELECT count(*) FROM range(10000000000000)"], filled)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1
    assert err.strip().splitlines() == ["lq sql: error: query stopped after 2 s (its time limit; lq sql --timeout)"]
    p = _lq(["sql", "--limit", "3", "SELECT range AS x FROM range(10000000000000)"], filled)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0 and "(first 3 rows shown; the query returns more" in out
