"""A server of the distributed profile that cannot be reached at start is named with its address
(never its password) in one line, before anything runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lq_assets.profile import ServiceUnreachableError, check_lake, check_postgres, check_redis
from lq_engine.data.paths import DataPaths

pytestmark = pytest.mark.slow  # starts servers (the fast lane: -m "not slow")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


def test_each_unreachable_server_is_named_with_its_address(monkeypatch, tmp_path):
    port = _closed_port()
    monkeypatch.setenv("LQ_PROFILE", "distributed")
    monkeypatch.setenv("LQ_PG_URL", f"postgresql+psycopg2://lq:s3cret-pw@127.0.0.1:{port}/db")
    with pytest.raises(ServiceUnreachableError) as e:
        check_postgres(timeout=2)
    assert f"PostgreSQL at postgresql://127.0.0.1:{port} ($LQ_PG_URL) cannot be reached" in str(e.value)
    assert "s3cret-pw" not in str(e.value)

    monkeypatch.setenv("LQ_CELERY_BROKER", f"redis://:s3cret-pw@127.0.0.1:{port}/0")
    with pytest.raises(ServiceUnreachableError) as e:
        check_redis(timeout=2)
    assert f"Redis at redis://127.0.0.1:{port} ($LQ_CELERY_BROKER) cannot be reached" in str(e.value)
    assert "s3cret-pw" not in str(e.value)

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "lqkey")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cret-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ServiceUnreachableError) as e:
        check_lake(DataPaths.of(str(tmp_path / "data"), "s3://some-bucket/lake"))
    msg = str(e.value)
    assert f"lake s3://some-bucket/lake (endpoint http://127.0.0.1:{port}): cannot reach the S3 endpoint" in msg
    assert "s3cret-key" not in msg


def test_lq_worker_stops_with_one_line_when_postgres_is_down(tmp_path):
    port = _closed_port()
    env = {**os.environ, "LQ_PROFILE": "distributed", "LQ_PG_URL": f"postgresql+psycopg2://lq:pw@127.0.0.1:{port}/db",
           "LQ_CELERY_BROKER": f"redis://127.0.0.1:{port}/0", "LQ_LAKE_URI": "s3://b/lake",
           "LQ_DATA_DIR": str(tmp_path / "data"), "LQ_DAGSTER_HOME": str(tmp_path / "home")}
    r = subprocess.run([str(Path(sys.executable).parent / "lq"), "worker"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"lq worker: error: PostgreSQL at postgresql://127.0.0.1:{port} ($LQ_PG_URL) "
        "cannot be reached: Connection refused"]
