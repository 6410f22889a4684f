"""Ingest is atomic per file (issue 20, findings 1 and 7): a SIGKILL at any point, or a full disk,
leaves the file's partitions all old or all new, its archive entry and log row present exactly
when its data is, and no temporary file that the next run would have to clean."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import data_workers
from landing_files import bar_lines, write_csv
from lq_engine.data.ingest import ingest_file
from lq_engine.data.lake import lake_fingerprint, list_partitions, read_bars
from lq_engine.data.store import SLEEP_ENV
from lq_engine.data.paths import DataPaths

WORKER = Path(data_workers.__file__)
REPO = Path(__file__).resolve().parents[2]


def _daily(path: Path, price: float) -> Path:
    """3 symbols x 6 months of daily bars: 18 partitions, as in the report."""
    from datetime import datetime, timedelta

    lines = []
    for k, sym in enumerate(("AAA", "BBB", "CCC")):
        for d in range(182):
            t = datetime(2024, 1, 1) + timedelta(days=d)
            o = price + k + 0.01 * d
            lines.append(f"{sym},{t:%Y-%m-%d},{o},{o + 1},{o - 1},{o + 0.5},{1000 + d}")
    return write_csv(path, lines, header="symbol,timestamp,open,high,low,close,volume\n")


def _temporaries(paths: DataPaths) -> list[Path]:
    return [p for root in (paths.lake, paths.root / "archive", paths.landing) if root.exists()
            for p in root.rglob(".tmp-*")]


def _logged(paths: DataPaths) -> list[str]:
    """Names of the files in the ingest log (its Parquet files read directly)."""
    logs = sorted((paths.lake / "_ingest_log").glob("*.parquet"))
    return [Path(f).name for log in logs for f in pl.read_parquet(log)["file"].to_list()]


def _archived(paths: DataPaths) -> set[str]:
    archive = paths.root / "archive"  # data/archive/<sha256>/<name>
    return {p.name for p in archive.rglob("*") if p.is_file() and not p.name.startswith(".")}


def _spawn(paths: DataPaths, f: Path, **env) -> subprocess.Popen:
    e = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **env}
    return subprocess.Popen([sys.executable, str(WORKER), "ingest", str(paths.root), str(f)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, text=True)


# kill points: the transaction's crash points (lq_engine.data.journal.CRASH_POINTS) and seeded
# random moments after the first partition file is being written (each partition's write is slowed)
KILLS = [("staged:1", None), ("journal:1", None), ("renamed:1", None), ("renamed:9", None), ("committed:1", None),
         (None, 1), (None, 2), (None, 3)]


@pytest.mark.slow
def test_sigkill_at_any_point_leaves_the_file_whole_or_absent(tmp_path):
    ref = DataPaths(tmp_path / "ref").ensure()
    v2, v3 = _daily(tmp_path / "src" / "v2.csv", 100.0), _daily(tmp_path / "src" / "v3.csv", 200.0)
    ingest_file(v2, ref)
    lake_v2 = lake_fingerprint(ref)
    v2_bars = read_bars(ref, ["AAA", "BBB", "CCC"])
    ingest_file(v3, ref)
    lake_v3 = lake_fingerprint(ref)
    assert lake_v2 != lake_v3 and len(list_partitions(ref)) == 18
    outcomes = []
    for i, (crash, seed) in enumerate(KILLS):
        paths = DataPaths(tmp_path / f"run{i}").ensure()
        ingest_file(v2, paths)
        assert lake_fingerprint(paths) == lake_v2
        if crash:
            p = _spawn(paths, v3, LQ_INGEST_CRASH=crash)
        else:
            p = _spawn(paths, v3, **{SLEEP_ENV: "0.15"})
            deadline = time.monotonic() + 120
            while not list((paths.lake / "bars").rglob(".tmp-*")):
                assert p.poll() is None, p.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(random.Random(seed).uniform(0.0, 0.5))  # within its ~0.8 s of staging
            p.send_signal(signal.SIGKILL)
        p.wait(timeout=120)
        assert p.returncode == -signal.SIGKILL or (seed and p.returncode == 0), (crash, seed, p.stderr.read())
        # the next ingest (of an unrelated file) finishes or discards what the killed one left
        ingest_file(write_csv(tmp_path / f"other{i}" / "ZZZ_1d.csv", ["2024-01-01,1,2,0.5,1.5,3"]), paths)
        bars = read_bars(paths, ["AAA", "BBB", "CCC"])
        versions = set((bars["open"] // 100).unique().to_list())
        assert versions in ({1.0}, {2.0}), f"kill at {crash or seed}: v2 and v3 mixed in the lake"
        applied = versions == {2.0}
        assert ("v3.csv" in _logged(paths)) == applied  # logged exactly when applied
        assert ("v3.csv" in _archived(paths)) == applied  # archived exactly when applied
        assert not _temporaries(paths), _temporaries(paths)
        outcomes.append(applied)
        ingest_file(v2, paths)  # the user's next ingest of v2 gives v2's lake exactly
        assert read_bars(paths, ["AAA", "BBB", "CCC"]).equals(v2_bars)
    assert outcomes[:5] == [False, True, True, True, True]  # before the journal: absent; after it: whole


# ---------------------------------------------------------------------------------------------
# a full disk: a real tmpfs of a few MB (mounting needs root; skipped otherwise)


@pytest.fixture
def small_disk(tmp_path):
    d = tmp_path / "small"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """A filler file leaving ``leave`` bytes free on ``disk``."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_a_full_disk_during_the_lake_write_leaves_the_lake_as_it_was_and_names_the_file(tmp_path, small_disk):
    """86,400 one-minute rows: January's partition fits, February's does not. It used to be half
    applied (44,640 rows, no log row) with a bare '[Errno 28]'."""
    from lq_engine.data.store import WriteFailedError  # noqa: F401 (the old code had none: fails there)

    scratch = DataPaths(tmp_path / "scratch").ensure()
    big = write_csv(tmp_path / "src" / "BIG_1m.csv", bar_lines(86_400))
    ingest_file(big, scratch)
    sizes = sorted(f.stat().st_size for f in (scratch.lake / "bars").rglob("data.parquet"))
    paths = DataPaths(tmp_path / "data", str(small_disk / "lake")).ensure()
    ingest_file(write_csv(tmp_path / "src" / "SMALL_1m.csv", bar_lines(10)), paths)
    before = lake_fingerprint(paths)
    log_before = _logged(paths)
    filler = _fill(small_disk, sizes[-1] + sizes[0] // 2)  # room for one partition and a half
    with pytest.raises(OSError) as e:
        ingest_file(big, paths)
    assert read_bars(paths, ["BIG"]).height == 0  # nothing of the file applied (was 44,640 of 86,400 rows)
    assert lake_fingerprint(paths) == before
    assert _logged(paths) == log_before and "BIG_1m.csv" not in _archived(paths)
    msg = str(e.value)
    assert isinstance(e.value, WriteFailedError), repr(e.value)
    assert str(small_disk / "lake" / "bars" / "timeframe=1m" / "symbol=BIG") in msg and "No space left" in msg, msg
    assert not list(small_disk.rglob(".tmp-*"))
    filler.unlink()  # space again: the same command simply works, nothing to clean first
    (rep,) = [ingest_file(big, paths)]
    assert rep.rows_new == 86_400 and read_bars(paths, ["BIG"]).height == 86_400


def test_a_full_disk_while_archiving_changes_nothing(tmp_path, small_disk):
    """The data root (archive) on the full disk: the archive copy fails, the lake (elsewhere) is
    untouched, the error names the archive file."""
    from lq_engine.data.store import WriteFailedError

    paths = DataPaths(small_disk / "data", str(tmp_path / "lake")).ensure()
    ingest_file(write_csv(tmp_path / "src" / "SMALL_1m.csv", bar_lines(10)), paths)
    before = lake_fingerprint(paths)
    big = write_csv(tmp_path / "src" / "BIG_1m.csv", bar_lines(60_000))
    filler = _fill(small_disk, big.stat().st_size // 2)
    with pytest.raises(OSError) as e:
        ingest_file(big, paths)
    assert lake_fingerprint(paths) == before and "BIG_1m.csv" not in _archived(paths)
    assert isinstance(e.value, WriteFailedError), repr(e.value)
    assert str(paths.archive) in str(e.value) and "BIG_1m.csv" in str(e.value), str(e.value)
    assert not list(small_disk.rglob(".tmp-*")) and not list((tmp_path / "lake").rglob(".tmp-*"))
    filler.unlink()
    assert ingest_file(big, paths).rows_new == 60_000
