"""Results of realistic size on the S3 lake, as the scale-out benchmark writes them.

The benchmark's partitions (180 days of minute bars, 3,000 sets) write result objects of tens of MB,
uploaded in parts, and every run writes them again (a warm-up backfill, then one and two workers).
With the SeaweedFS settings shipped before (16 volumes of 64 MB: 1 GB in all, overwritten objects
counted until a vacuum) the server ran out of writable volumes after about 1 GB and every further
upload failed with "internal error, please try again". Here the server is started as
``scripts/scaleout_servers.py`` starts it, and 1.2 GB of multipart objects are written over the same
keys through the lake's Store and read back intact. A server that is really full is then named as
such: the store's error says the server accepts no writes at all, not just "internal error".
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from lq_engine.data import store as store_module
from lq_engine.data.store import MULTIPART_BYTES, StoreError, Store
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import scaleout_servers  # noqa: E402

pytestmark = pytest.mark.slow

OBJECT_BYTES = 50_000_000  # one partition's result arrays (a multipart upload: several parts)
PARTITIONS = 8
ROUNDS = 3  # warm-up backfill, then the 1-worker and 2-worker runs, each rewriting every result


def _seaweed(monkeypatch: pytest.MonkeyPatch, **kw) -> scaleout_servers.Servers:
    s = scaleout_servers.Servers(Path(tempfile.mkdtemp(prefix="lq-s3-")), {})
    try:
        scaleout_servers._start_seaweed(s, **kw)
    except BaseException:
        s.stop()
        raise
    for k, v in s.env.items():
        monkeypatch.setenv(k, v)
    return s


def test_results_of_realistic_size_survive_repeated_runs(monkeypatch):
    s = _seaweed(monkeypatch)
    try:
        store = Store(f"s3://{scaleout_servers.BUCKET}/lake")
        assert OBJECT_BYTES > 3 * MULTIPART_BYTES  # really uploaded in parts
        rng = np.random.default_rng(0)
        written = 0
        for rnd in range(ROUNDS):
            digests = {}
            for p in range(PARTITIONS):
                data = rng.bytes(OBJECT_BYTES)
                key = f"optimize/u{p}/ma_cross/result/0001.npy"
                store.write_bytes(key, data)
                digests[key] = hashlib.sha256(data).hexdigest()
                written += len(data)
            for key, digest in digests.items():  # the newest round's objects, whole
                assert hashlib.sha256(store.read_bytes(key)).hexdigest() == digest, (rnd, key)
        assert written >= 1_200_000_000  # more than the old configuration held
    finally:
        s.stop()


def test_a_full_server_is_named_as_full(monkeypatch):
    # Two tries of each request, not six: every retry of a full server fails the same way, and the
    # backoff between six tries made this test wait a minute for the same message.
    monkeypatch.setattr(store_module, "S3_ATTEMPTS", 2)
    # one volume of 16 MB: the second 10 MB object cannot fit anywhere
    s = _seaweed(monkeypatch, volume_max="1", volume_size_mb=16)
    try:
        store = Store(f"s3://{scaleout_servers.BUCKET}/lake")
        data = np.random.default_rng(1).bytes(12_000_000)
        with pytest.raises(StoreError) as err:
            for i in range(6):
                store.write_bytes(f"optimize/u0/r{i}.npy", data)
        msg = str(err.value)
        assert "accepts no writes at all" in msg and "storage is full" in msg, msg
        assert "every one of 2 tries" in msg, msg
        assert "s3://lq-lake/lake/optimize/u0/" in msg and "12,000,000 bytes" in msg
    finally:
        s.stop()
