"""`lq ingest` end to end (issue 20, findings 1, 2 and 7): a killed ingest is never applied later
behind the user's back, same-named files do not overwrite each other in the raw archive (repair
rebuilds both), and a full disk names the file and changes nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from lq_assets.definitions import defs
from lq_assets.market.sensors import landing_sensor
from lq_assets.resources import LakeResource
from lq_engine.data.ingest import ingest_file
from lq_engine.data.lake import lake_fingerprint, partition_file
from lq_engine.data.paths import DataPaths
from lq_engine.data.schema import PartitionKey
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from tests.orchestration.bars import write_daily_csv
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import BIN, run_lq

SYMBOLS = ["AAA", "BBB", "CCC"]  # x 6 months: 18 partitions


def _temporaries(root: Path) -> list[Path]:
    return list(root.rglob(".tmp-*"))


@pytest.mark.slow
def test_a_killed_lq_ingest_is_not_applied_later_by_the_sensor(data_paths, dagster_home, tmp_path):
    """`lq ingest v2`, `lq ingest v3` SIGKILLed at a seeded random point while it writes, `lq ingest
    v2` again: the lake is v2's, and the landing sensor of a later `lq ui` applies nothing (it used
    to find v3 in the landing folder with no log row and turn all 18 partitions into v3)."""
    env = lq_env(data_paths, dagster_home, LQ_AUTOMATION="off")
    src = tmp_path / "src"
    src.mkdir()
    v2 = write_daily_csv(src / "v2.csv", SYMBOLS, "2024-01-01", 182)
    v3 = write_daily_csv(src / "v3.csv", SYMBOLS, "2024-01-01", 182, price=200.0)
    ref = DataPaths(tmp_path / "ref").ensure()
    ingest_file(v2, ref)

    r = run_lq(["ingest", "--no-freeze", str(v2)], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    p = subprocess.Popen([str(BIN / "lq"), "ingest", "--no-freeze", str(v3)],
                         env={**env, "LQ_TEST_SLEEP_BEFORE_RENAME": "0.2"}, cwd=REPO_ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not _temporaries(data_paths.lake / "bars"):  # v3's partitions are being written
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(random.Random(20).uniform(0.0, 0.3))  # while its 18 partitions are written (0.2 s each)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    r = run_lq(["ingest", "--no-freeze", str(v2)], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert lake_fingerprint(data_paths) == lake_fingerprint(ref)
    assert not _temporaries(data_paths.root), _temporaries(data_paths.root)

    with dg.instance_for_test() as instance:  # a later `lq ui`, fresh sensor cursor
        ctx = dg.build_sensor_context(instance=instance, definitions=defs,
                                      resources={"lake": LakeResource(data_dir=str(data_paths.root))})
        result = landing_sensor(ctx)
    assert not result.run_requests, [rr.run_key for rr in result.run_requests]
    assert lake_fingerprint(data_paths) == lake_fingerprint(ref)


@pytest.mark.slow
def test_same_named_files_are_both_archived_and_repair_rebuilds_the_first(data_paths, dagster_home, tmp_path):
    """`lq ingest a/prices.csv` then `lq ingest b/prices.csv`: the first used to be overwritten in
    the raw archive (the landing folder), so `lq lake repair` could not rebuild its partitions."""
    env = lq_env(data_paths, dagster_home, LQ_AUTOMATION="off")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_daily_csv(tmp_path / "a" / "prices.csv", ["AAA"], "2024-01-01", 20)
    b = write_daily_csv(tmp_path / "b" / "prices.csv", ["BBB"], "2024-01-01", 20, price=50.0)
    for f in (a, b):
        r = run_lq(["ingest", "--no-freeze", str(f)], env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    key = PartitionKey("1d", "AAA", "2024-01")
    f = partition_file(data_paths, key)
    original = f.read_bytes()
    f.write_bytes(original[: len(original) // 2])
    r = run_lq(["lake", "repair"], env=env)
    assert r.returncode == 0 and f"REPAIRED {key}" in r.stdout, r.stdout + r.stderr
    assert f.read_bytes() == original
    archive = data_paths.root / "archive"
    archived = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("prices.csv"))
    assert len(archived) == 2 and archived[0] != archived[1], archived  # <sha256>/prices.csv, twice


@pytest.mark.slow
def test_a_full_disk_during_lq_ingest_names_the_file_and_changes_nothing(data_paths, dagster_home, tmp_path):
    """The data folder on a full tmpfs: the copy into landing used to leave a truncated
    landing/big1.csv behind a raw traceback. Now one line names the file; landing, archive and lake
    are as they were, and once there is space the same ingest needs no cleanup."""
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        paths = DataPaths(small / "data").ensure()
        env = lq_env(paths, dagster_home, LQ_AUTOMATION="off")
        big = write_daily_csv(tmp_path / "big1.csv", [f"S{i:03d}" for i in range(40)], "2020-01-01", 900)
        assert big.stat().st_size > 2 << 20
        r = run_lq(["ingest", "--no-freeze", str(big)], env=env)
        assert r.returncode != 0
        assert "Traceback" not in r.stderr, r.stderr[-3000:]
        line = r.stderr.strip().splitlines()[-1]
        assert "No space left on device" in line and str(small) in line, line
        assert not any(paths.landing.iterdir()) and not any(paths.archive.iterdir())
        assert not (paths.lake / "bars").exists() or not any((paths.lake / "bars").rglob("*.parquet"))
        assert not _temporaries(small)
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
