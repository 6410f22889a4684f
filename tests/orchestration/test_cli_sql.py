"""`lq sql` output (issue 21, finding 6), in this process on a temp lake: timestamps as ISO 8601 UTC
(they printed as int64 nanoseconds), a hint to quote a reserved word used as a column name (a bare
parser error), a result wider than the terminal printed one block per row (a table cut to '…'),
and --csv / --json that parse back with the right values."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import polars as pl
import pytest

from lq_engine.data.catalog import timestamp_columns, with_iso_times
from lq_engine.data.ingest import ingest_file
from lq_engine.data.results import write_table
from lq_engine.data.schema import format_ns
from tests.orchestration.bars import write_daily_csv
from tests.orchestration.live import lq_in_process

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{9})?Z$")
DAY0_NS = 1383523200 * 10**9  # 2013-11-04T00:00:00Z
WIDE_COLUMNS = 27  # as many as optimization_winners had


@pytest.fixture
def lake(data_paths, monkeypatch):
    """A lake with 5 daily bars of AAA from 2013-11-04, a replay_windows table (a column named
    window, start_ts / end_ts) and a 27-column table; `lq sql` reads it (setup() stubbed: no
    logging handlers or Dagster home in this process)."""
    from lq_assets.cli import environment

    ingest_file(write_daily_csv(data_paths.landing / "d.csv", ["AAA"], "2013-11-04", 5), data_paths)
    write_table(data_paths, "replay_windows", pl.DataFrame({
        "window": ["selection", "holdout"], "start_ts": [DAY0_NS, DAY0_NS + 2 * 86400 * 10**9],
        "end_ts": [DAY0_NS + 86400 * 10**9, DAY0_NS + 4 * 86400 * 10**9], "n_bars": [2, 3]}),
        {"dataset": "d", "strategy": "s"})
    write_table(data_paths, "wide", pl.DataFrame(
        {f"metric_number_{i:02d}": [i * 1.5, math.nan, -i] for i in range(WIDE_COLUMNS - 2)}
        | {"winner_params": ['{"fast": 5, "slow": 40, "side": "long", "stop": 0.05}'] * 3,
           "tags": [["a", "b"], [], None]}))
    monkeypatch.setattr(environment, "setup", lambda verbose=False: data_paths)
    monkeypatch.setenv("COLUMNS", "100")
    return data_paths


def lq_sql(capsys, *argv: str) -> tuple[int, str, str]:
    """`lq sql ARGV` through the CLI's main (its errors: one line, exit code); (rc, stdout, stderr)."""
    return lq_in_process(capsys, "sql", *argv)


def test_timestamps_print_as_iso_utc(lake, capsys):
    """bars.ts (int64 ns) printed 1383523200000000000; now 2013-11-04T00:00:00Z, as are the *_ts
    columns of result tables and DuckDB's own TIMESTAMPTZ. A column renamed off the convention
    (ts AS ts_ns) and other integers stay numbers."""
    rc, out, err = lq_sql(capsys, "SELECT symbol, ts, close FROM bars ORDER BY ts")
    assert rc == 0, err
    assert "2013-11-04T00:00:00Z" in out and "2013-11-08T00:00:00Z" in out, out
    assert str(DAY0_NS) not in out, out
    rc, out, _ = lq_sql(capsys, "--csv",
                        'SELECT "window", start_ts, end_ts, n_bars FROM replay_windows ORDER BY start_ts')
    assert rc == 0 and list(csv.reader(io.StringIO(out)))[1:] == [
        ["selection", "2013-11-04T00:00:00Z", "2013-11-05T00:00:00Z", "2"],
        ["holdout", "2013-11-06T00:00:00Z", "2013-11-08T00:00:00Z", "3"]], out
    rc, out, _ = lq_sql(capsys, "--json", "SELECT ingested_at, ts AS ts_ns, count(*) AS n, "
                        "TIMESTAMP '2013-11-04 09:30:00.5' AS t FROM ingest_log, bars "
                        "GROUP BY ALL ORDER BY ts_ns LIMIT 1")
    row = json.loads(out)[0]
    assert ISO.match(row["ingested_at"]) and row["ts_ns"] == DAY0_NS and row["n"] == 1, row
    assert row["t"] == "2013-11-04T09:30:00.500000000Z", row


def test_iso_times_agree_with_format_ns():
    """One text for an instant: the vectorised form is schema.format_ns's, fractions, nulls, dates
    before 1970 and zoned timestamps included; the columns are chosen by name and type only."""
    ns = [DAY0_NS, DAY0_NS + 1, DAY0_NS + 500_000_000, -86400 * 10**9 - 1, None]
    df = pl.DataFrame({"ts": ns, "entry_ts": ns, "n": [1, 2, 3, 4, 5], "stamp": ["x"] * 5,
                       "zoned": pl.Series(ns, dtype=pl.Int64).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
                       .dt.convert_time_zone("America/New_York"),
                       "naive_us": pl.Series(ns, dtype=pl.Int64).cast(pl.Datetime("ns")).cast(pl.Datetime("us"))})
    assert timestamp_columns(df.schema) == ["ts", "entry_ts", "zoned", "naive_us"]
    out = with_iso_times(df)
    want = [None if v is None else format_ns(v) for v in ns]
    assert out["ts"].to_list() == want and out["entry_ts"].to_list() == want and out["zoned"].to_list() == want
    assert out["naive_us"].to_list()[:3] == ["2013-11-04T00:00:00Z", "2013-11-04T00:00:00Z",
                                             "2013-11-04T00:00:00.500000000Z"]
    assert out["n"].to_list() == [1, 2, 3, 4, 5] and out["stamp"].to_list() == ["x"] * 5
    assert with_iso_times(pl.DataFrame({"ts": ["not an int"], "status": [7]})).row(0) == ("not an int", 7)


def test_reserved_word_as_a_column_says_to_quote_it(lake, capsys):
    """SELECT window ... was DuckDB's bare 'syntax error at or near "window"'; now one line with the
    hint, exit 2; quoted it runs. A syntax error at a plain word gets no hint."""
    rc, out, err = lq_sql(capsys, "SELECT window, n_bars FROM replay_windows")
    assert rc == 2 and out == "", (out, err)
    assert err.count("\n") == 1 and err.startswith("lq sql: error: query failed:"), err
    assert '"window" is a reserved word in DuckDB' in err and 'write "window"' in err, err
    rc, out, err = lq_sql(capsys, 'SELECT "window", n_bars FROM replay_windows ORDER BY n_bars')
    assert rc == 0 and "selection" in out and "holdout" in out, err
    for wrong in ("SELEC nonsense", "SELECT * FROM bars WHERE"):  # quoted, WHERE would parse, as an alias
        rc, _, err = lq_sql(capsys, wrong)
        assert rc == 2 and "query failed" in err and "reserved word" not in err, err


def test_wide_result_prints_one_block_per_row(lake, capsys):
    """SELECT * of 27 columns was a table cut to 160 characters with columns elided ('…'); wider
    than the terminal (COLUMNS=100), it now prints one 'column: value' block per row, every column
    and whole values. A narrow result stays a table; --wide prints the whole table."""
    rc, out, err = lq_sql(capsys, "SELECT * FROM wide")
    assert rc == 0, err
    lines = out.splitlines()
    assert sum(ln.startswith("-[ row ") for ln in lines) == 3, out
    for i in range(WIDE_COLUMNS - 2):
        assert re.search(rf"^metric_number_{i:02d}: +{re.escape(str(i * 1.5))}$", out, re.M), (i, out)
    assert '{"fast": 5, "slow": 40, "side": "long", "stop": 0.05}' in out  # whole, not cut to 60 characters
    assert re.search(r'^tags: +\["a", "b"\]$', out, re.M) and re.search(r"^tags: +null$", out, re.M), out
    assert "…" not in out and max(len(ln) for ln in lines) <= 100, out

    rc, out, _ = lq_sql(capsys, "SELECT symbol, close FROM bars ORDER BY ts LIMIT 2")
    assert rc == 0 and "-[ row" not in out and "│ symbol" in out and "AAA" in out, out

    rc, out, _ = lq_sql(capsys, "--wide", "SELECT * FROM wide")
    header = next(ln for ln in out.splitlines() if "metric_number_00" in ln)
    assert rc == 0 and "-[ row" not in out and len(header) > 100 and "…" not in out, out
    assert all(f"metric_number_{i:02d}" in header for i in range(WIDE_COLUMNS - 2)) and "winner_params" in header


def test_csv_and_json_parse_back_with_limit(lake, capsys):
    """--csv and --json: every column, whole values, timestamps ISO UTC, at most --limit rows (the
    note that there are more goes to stderr, so stdout parses); NaN and null are null in JSON."""
    want_ts = ["2013-11-04T00:00:00Z", "2013-11-05T00:00:00Z"]
    closes = pl.read_parquet(next(lake.lake.glob("bars/**/*.parquet"))).sort("ts")["close"].to_list()[:2]
    rc, out, err = lq_sql(capsys, "--csv", "--limit", "2", "SELECT symbol, ts, close FROM bars ORDER BY ts")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and "first 2 rows shown" in err, (out, err)
    assert [r["ts"] for r in rows] == want_ts and [float(r["close"]) for r in rows] == closes
    assert {r["symbol"] for r in rows} == {"AAA"}
    rc, out, err = lq_sql(capsys, "--json", "--limit", "2", "SELECT symbol, ts, close FROM bars ORDER BY ts")
    data = json.loads(out)
    assert rc == 0 and "first 2 rows shown" in err
    assert data == [{"symbol": "AAA", "ts": t, "close": c} for t, c in zip(want_ts, closes)]

    rc, out, _ = lq_sql(capsys, "--json", "SELECT * FROM wide ORDER BY metric_number_02")
    data = json.loads(out)
    assert rc == 0 and len(data) == 3 and len(data[0]) == WIDE_COLUMNS, data
    assert [r["metric_number_02"] for r in data] == [-2, 3.0, None]  # NaN: null
    assert [r["tags"] for r in data] == [None, ["a", "b"], []] and data[0]["winner_params"].endswith("0.05}")
    rc, out, _ = lq_sql(capsys, "--csv", "SELECT tags, winner_params FROM wide ORDER BY metric_number_01")
    assert rc == 0 and list(csv.reader(io.StringIO(out)))[1:] == [
        ["", '{"fast": 5, "slow": 40, "side": "long", "stop": 0.05}'],
        ['["a", "b"]', '{"fast": 5, "slow": 40, "side": "long", "stop": 0.05}'],
        ["[]", '{"fast": 5, "slow": 40, "side": "long", "stop": 0.05}']], out
    with pytest.raises(SystemExit):
        lq_sql(capsys, "--csv", "--json", "SELECT 1")
