"""Real processes: SIGKILL mid-write, two concurrent ingests, bounded memory on huge garbage."""

from __future__ import annotations

import json
import multiprocessing as mp
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
from landing_files import HEADER, bar_lines, write_csv
from lq_engine.data.catalog import catalog_reader, ensure_catalog, symbol_row_counts
from lq_engine.data.ingest import ingest_file
from lq_engine.data.lake import bars_root, visible_parquet_files
from lq_engine.data.store import SLEEP_ENV
from lq_engine.data.samples import generate_synthetic

WORKER = Path(data_workers.__file__)
REPO = Path(__file__).resolve().parents[2]


def _spawn(paths, f: Path, **env) -> subprocess.Popen:
    e = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **env}
    return subprocess.Popen([sys.executable, str(WORKER), "ingest", str(paths.root), str(f)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, text=True)


def _assert_lake_consistent(paths, expect_rows: int | None = None) -> int:
    total = 0
    for f in visible_parquet_files(paths):
        total += pl.read_parquet(f).height  # every visible file reads fully
    ensure_catalog(paths)
    with catalog_reader(paths) as con:
        n = con.execute("SELECT count(*) FROM bars").fetchone()[0]
    assert n == total
    if expect_rows is not None:
        assert total == expect_rows
    return total


@pytest.mark.slow
def test_sigkill_between_temp_write_and_rename(paths):
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(10)), paths)
    before = _assert_lake_consistent(paths, 10)
    fix = write_csv(paths.landing / "AAA_1m_b.csv", bar_lines(20, price=200.0))
    p = _spawn(paths, fix, **{SLEEP_ENV: "30"})
    deadline = time.monotonic() + 60
    while not list(bars_root(paths).rglob(".tmp-*")):
        assert p.poll() is None, p.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert list(bars_root(paths).rglob(".tmp-*"))  # the kill landed at the worst point
    assert _assert_lake_consistent(paths) == before
    assert read_open(paths) == [100.0 + 0.01 * i for i in range(10)]  # old content intact
    # the next writer cleans the stale temp file and completes the correction
    ingest_file(fix, paths)
    assert not list(bars_root(paths).rglob(".tmp-*"))
    _assert_lake_consistent(paths, 20)


def read_open(paths) -> list[float]:
    return pl.read_parquet(visible_parquet_files(paths)[0])["open"].to_list()


@pytest.mark.slow
def test_sigkill_at_a_random_point_of_a_bigger_ingest(paths):
    df = generate_synthetic(2, 62, seed=3)  # two months of minutes, 2 symbols, 4 partitions
    f = paths.landing / "synthetic_big.parquet"
    df.write_parquet(f)
    p = _spawn(paths, f)
    time.sleep(random.Random(11).uniform(0.8, 2.5))
    p.send_signal(signal.SIGKILL)
    p.wait()
    _assert_lake_consistent(paths)
    ingest_file(f, paths)
    assert _assert_lake_consistent(paths) == df.height


@pytest.mark.slow
def test_two_processes_ingest_at_once(paths):
    files = [
        write_csv(paths.landing / "AAA_1m.csv", bar_lines(30_000)),
        write_csv(paths.landing / "BBB_1m.csv", bar_lines(30_000, price=50.0)),
    ]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=data_workers.ingest_to_queue, args=(str(paths.root), str(f), q)) for f in files]
    for pr in procs:
        pr.start()
    results = [q.get(timeout=120) for _ in procs]
    for pr in procs:
        pr.join(60)
        assert pr.exitcode == 0
    assert sorted(r["rows_new"] for r in results) == [30_000, 30_000]
    assert symbol_row_counts(paths) == {"AAA": 30_000, "BBB": 30_000}
    with catalog_reader(paths) as con:
        assert con.execute("SELECT count(*) FROM ingest_log WHERE status = 'ok'").fetchone() == (2,)
    _assert_lake_consistent(paths, 60_000)


def _garbage(path: Path, mib: int, header: bytes = b"") -> None:
    rnd = random.Random(5)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 ;:-"
    block = bytearray(rnd.choices(alphabet, k=1 << 20))
    for i in range(60, len(block), 97):
        block[i] = 10  # newlines
    with open(path, "wb") as f:
        f.write(header)
        for _ in range(mib):
            f.write(block)


@pytest.mark.slow
@pytest.mark.parametrize("header", [b"", HEADER.encode()])
def test_huge_garbage_is_rejected_with_bounded_memory(paths, header):
    f = paths.landing / "garbage.csv"
    mib = 400
    _garbage(f, mib, header)
    size = f.stat().st_size
    p = _spawn(paths, f)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert "error" in res and "landing/garbage.csv" in res["error"]
    peak = res["peak_rss_kb"] * 1024
    assert peak < size / 2, f"peak RSS {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
    assert (paths.quarantine / "garbage.csv").stat().st_size == size
    assert not f.exists()
