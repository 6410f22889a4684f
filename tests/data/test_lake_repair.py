"""Lake corruption is detected, named and repaired: a truncated partition is named by `lq lake verify`
and every read, restored byte-identical by `lq lake repair` from the landing archive; an ingest that
would merge into it writes nothing, an unrelated ingest completes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from landing_files import bar_lines, write_csv

from lq_engine.data.ingest import ingest_file, ingest_files
from lq_engine.data.lake import partition_file, read_bars
from lq_engine.data.integrity import LakeCorruptError, verify_lake
from lq_engine.data.repair import repair_lake
from lq_engine.data.schema import PartitionKey
from lq_engine.data.store import StoreError

JAN = PartitionKey("1m", "AAA", "2024-01")


def file_sha256_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _lq(paths, *args):
    env = {**os.environ, "LQ_DATA_DIR": str(paths.root)}
    return subprocess.run([str(Path(sys.executable).parent / "lq"), *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_truncated_partition_is_named_refused_and_repaired_byte_identical(paths, tmp_path):
    jan_feb = 44_640 - 30  # minutes to 30 minutes before February
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(60, start_min=jan_feb)), paths)
    ingest_file(write_csv(paths.landing / "BBB_1m.csv", bar_lines(20)), paths)
    f = partition_file(paths, JAN)
    original = f.read_bytes()
    f.write_bytes(original[: len(original) // 2])  # truncated
    assert verify_lake(paths)[0].location == str(f)

    r = _lq(paths, "lake", "verify")
    assert r.returncode == 1 and f"CORRUPT {f}:" in r.stdout, r.stdout + r.stderr
    with pytest.raises(StoreError, match=str(f)):  # every read names the file
        read_bars(paths, ["AAA"])

    # an ingest that would merge into the damaged partition writes nothing at all ...
    feb = partition_file(paths, PartitionKey("1m", "AAA", "2024-02"))
    feb_before = feb.read_bytes()
    other = write_csv(tmp_path / "more" / "AAA_1m.csv", bar_lines(40, start_min=jan_feb + 20, price=90.0))
    with pytest.raises(LakeCorruptError, match=str(f)):
        ingest_file(other, paths)
    assert feb.read_bytes() == feb_before and not list(paths.quarantine.glob("*.csv"))
    # ... an unrelated one completes
    (rep,) = ingest_files([write_csv(tmp_path / "CCC_1m.csv", bar_lines(10))], paths)
    assert rep.rows_new == 10 and read_bars(paths, ["CCC"]).height == 10

    r = _lq(paths, "lake", "repair")
    assert r.returncode == 0 and f"REPAIRED {JAN}" in r.stdout, r.stdout + r.stderr
    assert f.read_bytes() == original
    assert verify_lake(paths) == []
    assert len(list((paths.quarantine / "lake").glob("*.corrupt"))) == 1  # the damaged file is kept


def test_a_partition_with_no_landing_file_is_reported_not_repaired(paths):
    src = write_csv(paths.landing / "AAA_1m.csv", bar_lines(30))
    src_bytes = src.read_bytes()
    ingest_file(src, paths)
    src.unlink()
    import shutil

    shutil.rmtree(paths.archive)  # the raw archive is gone
    import pyarrow.parquet as pq

    f = partition_file(paths, JAN)
    data = bytearray(f.read_bytes())
    close = pq.ParquetFile(f).metadata.row_group(0).column(4)  # the close column's chunk
    data[close.data_page_offset + close.total_compressed_size - 10] ^= 0xFF  # a byte of its values: the page CRC
    f.write_bytes(bytes(data))
    (bad,) = verify_lake(paths)
    assert "CRC" in bad.problem or "checksum" in bad.problem.lower(), bad.problem
    report = repair_lake(paths)
    assert report.repaired == [] and report.unrepairable == [
        (JAN, "the archive lacks 1 file(s) ingested into it: AAA_1m.csv (" + file_sha256_of(src_bytes)[:12] + ")")]
    assert f.read_bytes() == bytes(data)  # left as it was, still named by verify
