"""Bad input: a clear error naming file/row/field, the file quarantined with a reason, and the
lake and catalog unchanged byte for byte."""

import json
import os

import pytest

from landing_files import HEADER, bar_lines, lake_and_catalog, write_csv
from lq_engine.data.ingest import IngestError, ingest_file


@pytest.fixture
def seeded(paths):
    """A lake and catalog that already hold data, so 'unchanged' means something."""
    ingest_file(write_csv(paths.landing / "GOOD_1m.csv", bar_lines(5)), paths)
    return paths


def _reject(paths, name: str, content: bytes | str, *, row, field, reason_part):
    f = paths.landing / name
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = lake_and_catalog(paths)
    with pytest.raises(IngestError) as e:
        ingest_file(f, paths)
    err = e.value
    msg = str(err)
    assert msg.startswith(f"landing/{name}"), msg
    assert err.row == row and err.field == field, msg
    if row is not None:
        assert f"row {row}" in msg
    if field is not None:
        assert f"field '{field}'" in msg
    assert reason_part in msg, msg
    assert lake_and_catalog(paths) == before
    assert not f.exists()
    q = paths.quarantine / name
    assert q.exists() and q.read_bytes()[:64] == (content if isinstance(content, bytes) else content.encode())[:64]
    report = json.loads((paths.quarantine / f"{name}.reason.json").read_text())
    assert report["row"] == row and report["field"] == field and report["file"] == name
    assert report["message"] == msg and report["when"]
    return err


def test_missing_columns(seeded):
    _reject(seeded, "nocols.csv", "timestamp,open,close,volume\n2024-01-01,1,1,1\n",
            row=None, field="high", reason_part="missing column(s) 'high', 'low'")


def test_unparseable_timestamp(seeded):
    lines = bar_lines(20)
    lines[16] = "not-a-date" + lines[16][19:]
    _reject(seeded, "badts.csv", HEADER + "\n".join(lines) + "\n", row=17, field="ts", reason_part="'not-a-date'")


def test_duplicate_timestamp(seeded):
    lines = bar_lines(10)
    lines[5] = lines[4]
    err = _reject(seeded, "dup.csv", HEADER + "\n".join(lines) + "\n", row=6, field="ts",
                  reason_part="duplicate timestamp 2024-01-01T00:04:00Z")
    assert err.rows_affected == 1


def test_out_of_order_timestamp(seeded):
    lines = bar_lines(10)
    lines[3], lines[7] = lines[7], lines[3]
    err = _reject(seeded, "order.csv", HEADER + "\n".join(lines) + "\n", row=5, field="ts",
                  reason_part="is before the previous bar")
    assert err.rows_affected == 2


@pytest.mark.parametrize("cell,word", [("nan", "NaN"), ("inf", "inf"), ("0", "0.0 is not a positive"),
                                       ("-5", "-5.0 is not a positive")])
def test_bad_prices(seeded, cell, word):
    lines = bar_lines(30)
    parts = lines[12].split(",")
    parts[1] = cell  # open
    lines[12] = ",".join(parts)
    _reject(seeded, f"price_{cell}.csv", HEADER + "\n".join(lines) + "\n", row=13, field="open", reason_part=word)


def test_high_below_low(seeded):
    lines = bar_lines(20)
    lines[16] = "2024-01-01 00:16:00,10,9.5,10,10,5"
    _reject(seeded, "x.csv", HEADER + "\n".join(lines) + "\n", row=17, field="high",
            reason_part="high 9.5 is below low 10.0")


def test_text_in_a_number_column(seeded):
    lines = bar_lines(20)
    lines[2] = "2024-01-01 00:02:00,10,abc,9,10,5"
    _reject(seeded, "abc.csv", HEADER + "\n".join(lines) + "\n", row=3, field="high",
            reason_part="'abc' is not a number")


def test_empty_file(seeded):
    _reject(seeded, "empty.csv", b"", row=None, field=None, reason_part="file is empty")


def test_header_only(seeded):
    _reject(seeded, "hdr.csv", HEADER, row=None, field=None, reason_part="no data rows")


def test_binary_file(seeded):
    _reject(seeded, "blob.csv", os.urandom(4096), row=None, field=None, reason_part="binary file")


def test_corrupt_parquet(seeded):
    _reject(seeded, "broken.parquet", b"PAR1" + b"\x01" * 100, row=None, field=None, reason_part="Parquet")


def test_quarantine_never_overwrites(seeded):
    for _ in range(2):
        f = seeded.landing / "twice.csv"
        f.write_text("")
        with pytest.raises(IngestError):
            ingest_file(f, seeded)
    assert (seeded.quarantine / "twice.csv").exists() and (seeded.quarantine / "twice.1.csv").exists()
    assert (seeded.quarantine / "twice.1.csv.reason.json").exists()


def test_csv_cut_inside_its_last_field(seeded):
    # a copy cut short: '...,1000' became '...,10' (it still parses: the bar would be stored wrong)
    text = HEADER + "\n".join(bar_lines(12)) + "\n"
    cut = text[:-3]
    assert cut.endswith(",10")
    _reject(seeded, "cut.csv", cut, row=12, field="volume", reason_part="ends without a line break")


def test_csv_cut_inside_a_middle_field(seeded):
    text = HEADER + "\n".join(bar_lines(12)) + "\n"
    start = text.rindex("\n", 0, -1) + 1
    fourth = start + [i for i, ch in enumerate(text[start:]) if ch == ","][3]
    cut = text[: fourth + 3]  # the last row cut inside its close (its fifth column)
    _reject(seeded, "cut2.csv", cut, row=12, field="close", reason_part="ends without a line break")


@pytest.mark.parametrize("year", ["2600", "9999", "1500"])
def test_timestamp_outside_int64_nanoseconds(seeded, year):
    lines = bar_lines(10)
    lines[7] = year + lines[7][4:]
    _reject(seeded, f"y{year}.csv", HEADER + "\n".join(lines) + "\n", row=8, field="ts",
            reason_part="outside the range a bar time can hold")


def test_absurd_price_is_refused(seeded):
    lines = bar_lines(10)
    parts = lines[6].split(",")
    parts[2] = "1e308"  # high
    lines[6] = ",".join(parts)
    _reject(seeded, "huge.csv", HEADER + "\n".join(lines) + "\n", row=7, field="high",
            reason_part="not a sane price")


def test_thousandfold_jump_is_refused(seeded):
    lines = bar_lines(10)
    t, o, h, lo, c, v = lines[4].split(",")
    lines[4] = ",".join([t, "100000", "200000", "100000", "150000", v])
    _reject(seeded, "jump.csv", HEADER + "\n".join(lines) + "\n", row=5, field="close",
            reason_part="more than 1000 times away from the previous close")
