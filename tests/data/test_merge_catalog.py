"""Merge rule (newest wins, re-ingest changes nothing), batch ordering, backfills, the catalog."""

import os
import time

import polars as pl

from landing_files import HEADER, bar_lines, write_csv
from lq_engine.data.catalog import catalog_reader, ensure_catalog, symbol_row_counts
from lq_engine.data.ingest import ingest_file, ingest_files, reingest_landing
from lq_engine.data.ingest_log import ingest_log_dir
from lq_engine.data.lake import lake_fingerprint, list_partitions, partition_file, read_bars
from lq_engine.data.schema import PartitionKey


def _set_mtime(f, t):
    os.utime(f, ns=(t, t))


def test_newest_ingest_wins_and_other_keys_stay(paths):
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(10)), paths)
    fix = bar_lines(3, start_min=8, price=200.0)  # rows 8, 9 replace; 10 is new
    r = ingest_file(write_csv(paths.landing / "AAA_1m_fix.csv", fix), paths)
    assert (r.rows_new, r.rows_replaced, r.rows_unchanged) == (1, 2, 0)
    bars = read_bars(paths, symbols=["AAA"])
    assert bars.height == 11
    assert bars["open"][:8].to_list() == [100.0 + 0.01 * i for i in range(8)]
    assert bars["open"][8:].to_list() == [200.0, 200.01, 200.02]


def test_reingest_same_file_rewrites_nothing(paths):
    f = write_csv(paths.landing / "AAA_1m.csv", bar_lines(50))
    ingest_file(f, paths)
    pf = partition_file(paths, PartitionKey("1m", "AAA", "2024-01"))
    st = pf.stat()
    fp = lake_fingerprint(paths)
    time.sleep(0.01)
    r = ingest_file(f, paths)
    assert (r.rows_new, r.rows_replaced, r.rows_unchanged) == (0, 0, 50)
    assert r.partitions_written == 0
    assert lake_fingerprint(paths) == fp
    assert pf.stat().st_mtime_ns == st.st_mtime_ns and pf.stat().st_ino == st.st_ino


def test_ingest_files_orders_by_mtime_so_the_newest_wins(paths):
    newer = write_csv(paths.landing / "A_new.csv", bar_lines(2, price=300.0))
    older = write_csv(paths.landing / "B_old.csv", bar_lines(2, price=100.0))
    now = time.time_ns()
    _set_mtime(older, now - 10**9)
    _set_mtime(newer, now)
    ingest_files([newer, older], paths, symbol="SYM")
    assert read_bars(paths)["open"].to_list() == [300.0, 300.01]


def test_only_partitions_and_reingest_landing(paths):
    lines = bar_lines(2, start_min=-1)  # Dec 2023 and Jan 2024
    f = write_csv(paths.landing / "SPAN_1m.csv", lines)
    ingest_files([f], paths, only_partitions={("SPAN", "2024-01")})
    assert list_partitions(paths) == [PartitionKey("1m", "SPAN", "2024-01")]
    reports = reingest_landing(paths, symbols=["SPAN"], months=["2023-12"])
    assert [p.month for p in reports[0].partitions] == ["2023-12"]
    assert len(list_partitions(paths)) == 2
    fp = lake_fingerprint(paths)
    again = reingest_landing(paths)
    assert sum(r.rows_new + r.rows_replaced for r in again) == 0
    assert lake_fingerprint(paths) == fp


def test_catalog_view_and_log(paths):
    ensure_catalog(paths)
    with catalog_reader(paths) as con:  # an empty lake still answers
        assert con.execute("SELECT count(*) FROM bars").fetchone() == (0,)
    ingest_file(write_csv(paths.landing / "007_1m.csv", bar_lines(4)), paths)
    ingest_file(write_csv(paths.landing / "BBB_1d.csv", ["2024-02-01,1,2,0.5,1.5,3"]), paths)
    assert symbol_row_counts(paths) == {"007": 4, "BBB": 1}
    with catalog_reader(paths) as con:
        types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE bars)").fetchall())
        assert types["symbol"] == "VARCHAR" and types["month"] == "VARCHAR" and types["ts"] == "BIGINT"
        assert con.execute("SELECT DISTINCT month FROM bars ORDER BY 1").fetchall() == [("2024-01",), ("2024-02",)]
        log = con.execute("SELECT file, rows_read, rows_new, status FROM ingest_log ORDER BY ingested_at").fetchall()
    assert [(os.path.basename(f), n, new, s) for f, n, new, s in log] == [("007_1m.csv", 4, 4, "ok"),
                                                                          ("BBB_1d.csv", 1, 1, "ok")]
    ensure_catalog(paths)  # idempotent


def test_rejections_show_in_the_log_at_once_and_only_once(paths):
    bad = paths.landing / "bad.csv"
    bad.write_text(HEADER)
    ingest_files([bad], paths, raise_on_reject=False)
    with catalog_reader(paths) as con:
        rows = con.execute("SELECT file, status, reason FROM ingest_log WHERE status = 'rejected'").fetchall()
    assert len(rows) == 1 and rows[0][0] == "bad.csv" and "no data rows" in rows[0][2]
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(2)), paths)
    with catalog_reader(paths) as con:
        statuses = con.execute("SELECT status FROM ingest_log ORDER BY ingested_at").fetchall()
    assert statuses == [("rejected",), ("ok",)]


def test_ingest_never_opens_the_catalog_and_logs_to_parquet(paths):
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(3)), paths)
    ingest_files([write_csv(paths.landing / f"B{i}_1m.csv", bar_lines(2)) for i in range(2)], paths)
    assert not paths.catalog.exists()
    logs = sorted(ingest_log_dir(paths).glob("*.parquet"))
    # one log file per ingested file, published by that file's transaction, in order
    assert [pl.read_parquet(f)["file"].to_list() for f in logs] == [[str(paths.landing / n)] for n in
                                                                   ("AAA_1m.csv", "B0_1m.csv", "B1_1m.csv")]
    assert not list(ingest_log_dir(paths).glob(".tmp-*"))
    with catalog_reader(paths) as con:  # the first reader creates the catalog and its views
        got = con.execute("SELECT count(*), sum(rows_new) FROM ingest_log WHERE status = 'ok'").fetchone()
    assert got == (3, 7)


def test_ingest_log_view_keeps_the_old_table_columns(paths):
    ensure_catalog(paths)
    with catalog_reader(paths) as con:
        cols = con.execute("SELECT column_name, column_type FROM (DESCRIBE ingest_log)").fetchall()
        assert con.execute("SELECT count(*) FROM ingest_log").fetchone() == (0,)
    assert cols == [("file", "VARCHAR"), ("sha256", "VARCHAR"), ("rows_read", "BIGINT"), ("rows_new", "BIGINT"),
                    ("rows_replaced", "BIGINT"), ("rows_unchanged", "BIGINT"), ("partitions", "VARCHAR"),
                    ("status", "VARCHAR"), ("reason", "VARCHAR"), ("ingested_at", "TIMESTAMP WITH TIME ZONE")]


def test_an_older_catalog_is_migrated_on_open(paths):
    """A catalog of the previous layout (ingest_log table, bars view of an empty lake) is brought up
    to date by the first reader: the logged rows survive, the views see the lake."""
    import duckdb

    with duckdb.connect(str(paths.catalog)) as con:
        con.execute("CREATE TABLE ingest_log (file VARCHAR NOT NULL, sha256 VARCHAR, rows_read BIGINT, "
                    "rows_new BIGINT, rows_replaced BIGINT, rows_unchanged BIGINT, partitions VARCHAR, "
                    "status VARCHAR NOT NULL, reason VARCHAR, ingested_at TIMESTAMPTZ NOT NULL)")
        con.execute("INSERT INTO ingest_log VALUES ('old.csv', 'ab', 5, 5, 0, 0, '1m/OLD/2023-01', 'ok', NULL, "
                    "TIMESTAMPTZ '2023-02-01 00:00:00+00'), ('gone.csv', 'cd', NULL, NULL, NULL, NULL, NULL, "
                    "'rejected', 'x', TIMESTAMPTZ '2023-02-02 00:00:00+00')")
        con.execute("CREATE VIEW bars AS SELECT NULL::VARCHAR AS symbol WHERE false")
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(4)), paths)
    assert symbol_row_counts(paths) == {"AAA": 4}
    with catalog_reader(paths) as con:
        log = con.execute("SELECT file, rows_new, status FROM ingest_log ORDER BY ingested_at").fetchall()
    assert [(os.path.basename(f), n, s) for f, n, s in log] == [("old.csv", 5, "ok"), ("AAA_1m.csv", 4, "ok")]
    ensure_catalog(paths)  # a second migration finds nothing to do
    assert len(list(ingest_log_dir(paths).glob("*.parquet"))) == 2


def test_read_bars_filters(paths):
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(10)), paths)
    t3 = read_bars(paths)["ts"][3]
    got = read_bars(paths, symbols=["AAA"], timeframe="1m", start_ns=t3, end_ns=t3 + 2 * 60 * 10**9)
    assert got.height == 2 and got.columns == ["symbol", "timeframe", "ts", "open", "high", "low", "close", "volume"]
    assert read_bars(paths, symbols=["ZZZ"]).height == 0
    assert read_bars(paths, timeframe="1d").schema["ts"] == pl.Int64


def test_a_rejected_file_in_a_batch_does_not_block_the_others(paths):
    good = [write_csv(paths.landing / f"S{i}_1m.csv", bar_lines(5)) for i in range(3)]
    bad = paths.landing / "S9_1m.csv"
    bad.write_text(HEADER + "2024-01-01 00:00:00,1,0.5,1,1,1\n")
    import pytest

    from lq_engine.data.ingest import IngestError

    with pytest.raises(IngestError, match="row 1, field 'high'"):
        ingest_files([*good, bad], paths)
    assert symbol_row_counts(paths) == {"S0": 5, "S1": 5, "S2": 5}
    assert (paths.quarantine / "S9_1m.csv").exists()
    assert ingest_files([*good, *[]], paths, raise_on_reject=False)[0].rows_unchanged == 5


def _corrections(paths, n: int) -> list:
    """n files, each correcting an overlapping window of the same two partitions (Dec/Jan) plus a
    partition of its own; mtimes in file order."""
    files = []
    now = time.time_ns()
    for i in range(n):
        lines = bar_lines(40, start_min=-20 + 3 * i, price=100.0 + 10 * i)
        f = write_csv(paths.landing / f"SAME_1m_{i}.csv", lines)
        own = write_csv(paths.landing / f"OWN{i}_1m.csv", bar_lines(5, price=1.0 + i))
        for j, g in enumerate((f, own)):
            _set_mtime(g, now - (n - i) * 10**9 + j)
        files += [f, own]
    return files


def test_merges_apply_in_file_order_whatever_the_thread_counts(paths, tmp_path, monkeypatch):
    from lq_engine.data import ingest
    from lq_engine.data.paths import DataPaths

    ingest_files(_corrections(paths, 6), paths)
    bars = read_bars(paths, symbols=["SAME"])
    # every minute holds the price of the newest file that carries it
    t0 = bars["ts"][0]
    for ts, o in zip(bars["ts"], bars["open"]):
        k = (ts - t0) // (60 * 10**9)  # minutes since the first bar (which is file 0's first)
        newest = min(5, int(k) // 3)
        assert o == 100.0 + 10 * newest + 0.01 * (k - 3 * newest), (k, o)
    monkeypatch.setattr(ingest, "MERGE_THREADS", 1)
    monkeypatch.setattr(ingest, "READ_AHEAD", 1)
    serial = DataPaths(tmp_path / "serial").ensure()
    ingest_files(_corrections(serial, 6), serial)
    assert lake_fingerprint(serial) == lake_fingerprint(paths)


def test_abandoned_temporary_log_files_are_removed_live_ones_kept(paths):
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(2)), paths)
    old = ingest_log_dir(paths) / ".tmp-killed.partial"
    live = ingest_log_dir(paths) / ".tmp-live.partial"
    old.write_bytes(b"x")
    live.write_bytes(b"y")
    _set_mtime(old, time.time_ns() - 2 * 3600 * 10**9)
    ingest_file(write_csv(paths.landing / "BBB_1m.csv", bar_lines(2)), paths)
    assert not old.exists() and live.exists()


def _log_rows(paths):
    with catalog_reader(paths) as con:
        return con.execute("SELECT * FROM ingest_log ORDER BY ingested_at, file").fetchall()


def test_compaction_folds_the_log_files_and_a_crash_midway_shows_no_duplicate(paths, monkeypatch):
    import shutil

    from lq_engine.data import ingest_log

    for i in range(4):
        ingest_files([write_csv(paths.landing / f"C{i}_{j}_1m.csv", bar_lines(2)) for j in range(2)], paths)
    bad = paths.landing / "bad.csv"
    bad.write_text(HEADER)
    ingest_files([bad], paths, raise_on_reject=False)
    before = _log_rows(paths)
    assert len(before) == 9
    sources = sorted(ingest_log_dir(paths).glob("*.parquet"))
    kept = paths.root / "kept"
    kept.mkdir()
    for f in sources:
        shutil.copy2(f, kept / f.name)
    assert ingest_log.compact_ingest_log(paths) == 8  # one log file per ingested file
    assert len(list(ingest_log_dir(paths).glob("*.parquet"))) == 1
    assert _log_rows(paths) == before
    for f in kept.iterdir():  # as if killed after publishing, before deleting the sources
        shutil.copy2(f, ingest_log_dir(paths) / f.name)
    assert _log_rows(paths) == before
    ingest_file(write_csv(paths.landing / "LAST_1m.csv", bar_lines(2)), paths)
    assert ingest_log.compact_ingest_log(paths) == 10  # folds the compacted file again, still once each
    assert len(list(ingest_log_dir(paths).glob("*.parquet"))) == 1
    after = _log_rows(paths)
    assert len(after) == 10 and set(before) <= set(after)
    assert {r[0] for r in after} - {r[0] for r in before} == {str(paths.landing / "LAST_1m.csv")}
    monkeypatch.setattr(ingest_log, "COMPACT_AT", 3)  # an ingest compacts once there are enough files
    for i in range(2):
        ingest_file(write_csv(paths.landing / f"D{i}_1m.csv", bar_lines(2)), paths)
    assert len(list(ingest_log_dir(paths).glob("*.parquet"))) == 1
    assert len(_log_rows(paths)) == 12
