"""Object storage for the lake: a local folder or ``s3://bucket/prefix``, through pyarrow's filesystem.

Everything the lake holds (bar partitions, the ingest log, result tables, frozen datasets, stage
results) is read and written here by a path relative to the lake root, so the same code runs on a
laptop and on a cluster. An object written is complete or absent:

- local: a hidden temporary file (``.tmp-*``, matched by no reader's glob) is written and fsynced
  beside its target, then renamed over it; the directory fsync that makes the rename durable can
  be batched by the caller (``sync``);
- S3: a PUT (or a completed multipart upload) is atomic by the protocol; nothing is visible before
  the stream is closed successfully, so a killed writer leaves the old object or none.

S3 endpoint and credentials come from the standard AWS environment variables (``AWS_ENDPOINT_URL``
or ``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``). The
credentials are never logged or put in an error message; only the endpoint and bucket are.
"""

from __future__ import annotations

import shutil
import errno
import io
import os
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
import pyarrow.fs as pafs

from lq_engine.errors import LQError

TMP_PREFIX = ".tmp-"
PARQUET_COMPRESSION = "lz4"
PART_FILE = "data.parquet"  # the object of one hive partition: bars and result tables alike
# Test hook: seconds to sleep between writing the temporary file and renaming it (kill tests).
SLEEP_ENV = "LQ_TEST_SLEEP_BEFORE_RENAME"
SYNC_THREADS = 16  # threads that wait on fsyncs together (I/O waits, not CPU)
CONNECT_TIMEOUT_S = float(os.environ.get("LQ_S3_CONNECT_TIMEOUT", "5"))


MULTIPART_BYTES = 10 * 1024 * 1024  # pyarrow's S3 output stream sends parts of 10 MiB
S3_ATTEMPTS = 6  # tries of one S3 request (AWS's standard retry mode, exponential backoff)

# Words of an S3 client error that say the server could not be reached or could not serve for a
# moment (AWS SDK error names and curl's), not that the object is missing, unreadable or refused.
TRANSIENT_MARKERS = ("network_connection", "couldn't connect", "curlcode: 7,", "curlcode: 28,", "connection refused",
                     "connection reset", "timed out", "service_unavailable", "slow_down", "slowdown", "throttl",
                     "request_timeout", "internal_failure", "internal error")
# ...unless the write-failure probe found the server full or refusing this object (store._write_failure_cause)
NOT_TRANSIENT_MARKERS = ("accepts no writes at all", "refuses this object")


class StoreError(LQError, OSError):
    """The lake's storage cannot be reached or an object in it cannot be read (the object is named)."""

    @property
    def transient(self) -> bool:
        """Whether the store was unreachable or briefly unable to serve, so the same call may succeed
        later (runs retry such steps with backoff: lq_assets.retries); False for a missing, corrupt
        or refused object, a full server or a bad URI."""
        text = str(self).lower()
        return any(m in text for m in TRANSIENT_MARKERS) and not any(m in text for m in NOT_TRANSIENT_MARKERS)


# ---------------------------------------------------------------------------------------------
# local atomic writes (shared with the bar lake's batched fsyncs)


def _fsync(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_paths(paths: Iterable[Path]) -> None:
    """fsync each file or directory once (directories: the durability of the renames and mkdirs
    in them). Concurrent fsyncs share the journal's wait, so several run on threads."""
    todo = sorted(set(paths))
    if len(todo) <= 1:
        for p in todo:
            _fsync(p)
        return
    with ThreadPoolExecutor(max_workers=min(SYNC_THREADS, len(todo)), thread_name_prefix="lq-fsync") as pool:
        for _ in pool.map(_fsync, todo):
            pass


def make_dirs(d: Path) -> list[Path]:
    """mkdir -p; returns the directories whose entries changed (parents of the created ones)."""
    missing = []
    p = d
    while not p.is_dir():
        missing.append(p)
        p = p.parent
    d.mkdir(parents=True, exist_ok=True)
    return [m.parent for m in missing]


@dataclass
class Staged:
    """A file written under a temporary name (invisible to readers) beside its target.

    ``tmp`` must be fsynced before ``publish`` renames it over the target. ``dirs`` are the
    directories whose entries the publication changes.
    """

    tmp: Path
    target: Path
    dirs: set[Path]

    def publish(self, dirs_to_sync: set[Path] | None = None) -> None:
        """Rename into place; fsync the directories now, or add them to ``dirs_to_sync``."""
        try:
            os.replace(self.tmp, self.target)
        except BaseException:
            self.discard()
            raise
        if dirs_to_sync is None:
            sync_paths(self.dirs)
        else:
            dirs_to_sync.update(self.dirs)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


class WriteFailedError(StoreError):
    """A local write failed (a full disk, a quota, an I/O error): names the file being written; the
    temporary file is removed, so nothing partial stays behind."""


def write_failed(target: Path, e: OSError, what: str = "") -> WriteFailedError:
    """An OSError of a write as one that names ``target`` (pyarrow's and Python's writes to an open
    file say only ``[Errno 28] No space left on device``). Raise it ``from None``: it says everything,
    and an error report that shows the innermost cause (Dagster's) would show the bare OSError."""
    reason = os.strerror(e.errno) if e.errno else " ".join(str(e).split())[:200]
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += f" (free space on {target.parent}: {_free_bytes(target.parent)})"
    err = WriteFailedError(f"{target}: cannot write{' ' + what if what else ''}: {reason}")
    err.errno = e.errno
    return err


def _free_bytes(d: Path) -> str:
    while not d.exists() and d != d.parent:
        d = d.parent
    try:
        st = os.statvfs(d)
    except OSError:
        return "unknown"
    return f"{st.f_bavail * st.f_frsize / 1e6:,.1f} MB"


def tmp_name(txid: str = "") -> str:
    """A temporary file's name. ``txid``: the ingest transaction that owns it (see ``journal``), so a
    sweep can tell an abandoned one from one in use."""
    return f"{TMP_PREFIX}{txid + '-' if txid else ''}{uuid.uuid4().hex}.partial"


def stage_file(write: Callable[[io.BufferedWriter], None], target: Path, *, txid: str = "") -> Staged:
    """Call ``write`` on a temporary file beside ``target`` (not fsynced, not yet visible). A failing
    write (a full disk) removes the temporary file and raises WriteFailedError naming ``target``."""
    d = target.parent
    try:
        changed = make_dirs(d)
    except OSError as e:
        raise write_failed(d, e, "(creating the folder)") from None
    tmp = d / tmp_name(txid)
    try:
        with open(tmp, "wb") as f:
            write(f)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, (StoreError, FileNotFoundError)):
            raise write_failed(target, e) from None
        raise
    return Staged(tmp, target, {d, *changed})


def fsync_staged(staged: Staged) -> None:
    """fsync a staged file (a full disk can surface here too: named, and the file removed)."""
    try:
        _fsync(staged.tmp)
    except OSError as e:
        staged.discard()
        raise write_failed(staged.target, e) from None
    pause = os.environ.get(SLEEP_ENV)
    if pause:
        time.sleep(float(pause))


def write_parquet_to(df: pl.DataFrame, f) -> None:
    """The lake's Parquet: LZ4, statistics, and a CRC32 per data page (written by pyarrow; checked by
    ``lake verify``, so a flipped byte or a truncated file is named, not read as other numbers).
    No dictionary encoding: float columns gain nothing from it and it costs write time."""
    import pyarrow.parquet as pq  # lazy: ~0.3 s at start-up, only Parquet writes need it

    pq.write_table(df.to_arrow(), f, compression=PARQUET_COMPRESSION, write_statistics=True,
                   write_page_checksum=True, use_dictionary=False)


def stage_parquet(df: pl.DataFrame, target: Path, *, txid: str = "") -> Staged:
    return stage_file(lambda f: write_parquet_to(df, f), target, txid=txid)


def write_local_atomic(write: Callable, target: Path, *, dirs_to_sync: set[Path] | None = None) -> None:
    """Temporary file + fsync + rename. The rename is made durable by an fsync of its directory:
    now, or, given ``dirs_to_sync``, by the caller once per directory for a whole batch."""
    staged = stage_file(write, target)
    try:
        fsync_staged(staged)
    except BaseException:
        staged.discard()
        raise
    staged.publish(dirs_to_sync)


# ---------------------------------------------------------------------------------------------
# the store


def is_remote(uri: str) -> bool:
    return "://" in str(uri) and not str(uri).startswith("file://")


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


@dataclass(frozen=True)
class Store:
    """A lake root: a local folder or ``s3://bucket/prefix``. Keys are '/'-separated relative paths."""

    uri: str

    @property
    def remote(self) -> bool:
        return is_remote(self.uri)

    @property
    def local_root(self) -> Path:
        if self.remote:
            raise StoreError(f"{self.uri}: not a local folder")
        return Path(self.uri.removeprefix("file://"))

    def describe(self) -> str:
        """The root and, for S3, its endpoint (never the credentials)."""
        return f"{self.uri} (endpoint {_endpoint() or 'AWS default'})" if self.remote else self.uri

    @cached_property
    def fs(self) -> pafs.FileSystem:
        if not self.remote:
            return pafs.LocalFileSystem()
        u = urlparse(self.uri)
        if u.scheme != "s3":
            raise StoreError(f"{self.uri}: unsupported lake URI scheme {u.scheme!r} (use a folder or s3://bucket/prefix)")
        kw: dict = {"connect_timeout": CONNECT_TIMEOUT_S, "request_timeout": 60,
                    "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=2)}
        ep = _endpoint()
        if ep:
            e = urlparse(ep if "://" in ep else f"http://{ep}")
            kw.update(endpoint_override=e.netloc, scheme=e.scheme or "http")
        kw["region"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        # a transient server error (throttling, "internal error, please try again") is retried with
        # backoff, as the AWS SDKs do, rather than failing the step
        kw["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=S3_ATTEMPTS)
        return pafs.S3FileSystem(**kw)

    @property
    def _base(self) -> str:
        if self.remote:
            u = urlparse(self.uri)
            return f"{u.netloc}/{u.path.strip('/')}".rstrip("/")
        return str(self.local_root)

    def full(self, key: str) -> str:
        """The filesystem path of ``key`` (local: absolute path; S3: bucket/prefix/key)."""
        return f"{self._base}/{key}" if key else self._base

    def uri_of(self, key: str) -> str:
        """What DuckDB and error messages see: a local path or an s3:// URI."""
        return f"s3://{self.full(key)}" if self.remote else self.full(key)

    def local_path(self, key: str) -> Path:
        return self.local_root / key

    # -- checks ---------------------------------------------------------------------------------

    def check_reachable(self) -> None:
        """Raise StoreError naming the endpoint and bucket if the store cannot be reached."""
        if not self.remote:
            return
        try:
            info = self.fs.get_file_info(self._base.split("/", 1)[0])
        except OSError as e:
            raise StoreError(f"lake {self.describe()}: cannot reach the S3 endpoint: {_short(e)}") from None
        if info.type == pafs.FileType.NotFound:
            raise StoreError(f"lake {self.describe()}: bucket {self._base.split('/', 1)[0]!r} does not exist")

    # -- reads ----------------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        if not self.remote:
            return self.local_path(key).is_file()
        return self._info(key).type == pafs.FileType.File

    def _info(self, key: str) -> pafs.FileInfo:
        try:
            return self.fs.get_file_info(self.full(key))
        except OSError as e:
            raise StoreError(f"{self.uri_of(key)}: {_short(e)}") from None

    def read_bytes(self, key: str) -> bytes:
        try:
            if not self.remote:
                return self.local_path(key).read_bytes()
            with self.fs.open_input_stream(self.full(key)) as f:
                return f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.uri_of(key)}: no such object") from None
        except OSError as e:
            if "NoSuchKey" in str(e) or "not found" in str(e).lower():
                raise FileNotFoundError(f"{self.uri_of(key)}: no such object") from None
            raise StoreError(f"{self.uri_of(key)}: {_short(e)}") from None

    def parquet_rows(self, key: str) -> int:
        """Rows of a Parquet object, from its footer only."""
        import pyarrow.parquet as pq  # lazy: ~0.3 s at start-up, only Parquet writes need it

        try:
            with self.fs.open_input_file(self.full(key)) as f:
                return pq.ParquetFile(f).metadata.num_rows
        except Exception as e:
            raise StoreError(f"{self.uri_of(key)}: unreadable Parquet ({_short(e)})") from None

    def read_parquet(self, key: str) -> pl.DataFrame:
        """One Parquet object; any failure names it."""
        try:
            if not self.remote:
                return pl.read_parquet(self.local_path(key))
            return pl.read_parquet(io.BytesIO(self.read_bytes(key)))
        except FileNotFoundError:
            raise
        except StoreError:
            raise
        except Exception as e:  # polars' errors are not OSError: name the partition file
            raise StoreError(f"{self.uri_of(key)}: unreadable Parquet ({_short(e)})") from None

    def list(self, prefix: str, suffix: str = "") -> list[str]:
        """Keys of the objects under ``prefix`` ending in ``suffix``, sorted; temporary files skipped."""
        if not self.remote:
            root = self.local_path(prefix)
            if not root.is_dir():
                return []
            base = self.local_root
            out = []
            for dirpath, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                rel = Path(dirpath).relative_to(base).as_posix()
                out.extend(f"{rel}/{f}" for f in files if not f.startswith("."))
            return sorted(k for k in out if k.endswith(suffix))
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.full(prefix), recursive=True, allow_not_found=True))
        except OSError as e:
            raise StoreError(f"{self.uri_of(prefix)}: cannot list ({_short(e)})") from None
        n = len(self._base) + 1
        out = [i.path[n:] for i in infos if i.type == pafs.FileType.File]
        return sorted(k for k in out if k.endswith(suffix) and not k.rsplit("/", 1)[-1].startswith("."))

    # -- writes ---------------------------------------------------------------------------------

    def write_with(self, key: str, write: Callable, *, sync: set[Path] | None = None) -> None:
        """Write an object through ``write(file)``, atomically (see the module docstring)."""
        if not self.remote:
            write_local_atomic(write, self.local_path(key), dirs_to_sync=sync)
            return
        buf = io.BytesIO()
        write(buf)
        self.write_bytes(key, buf.getvalue())

    def write_bytes(self, key: str, data: bytes, *, sync: set[Path] | None = None) -> None:
        if not self.remote:
            write_local_atomic(lambda f: f.write(data), self.local_path(key), dirs_to_sync=sync)
            return
        try:
            with self.fs.open_output_stream(self.full(key)) as f:
                f.write(data)
        except OSError as e:
            cause = self._write_failure_cause(e, len(data))
            raise StoreError(f"{self.uri_of(key)}: write of {len(data):,} bytes failed "
                             f"({_short(e)}){cause}") from None

    def _write_failure_cause(self, e: OSError, size: int) -> str:
        """Why a write failed, where the server's answer does not say: an S3 "internal error" that
        survived every retry is probed with a one-byte write beside it. If that fails too, the server
        accepts no writes at all, which on SeaweedFS means no writable volume is left (its volumes are
        full: ``-volume.max`` times ``-master.volumeSizeLimitMB``, or the disk)."""
        text = str(e)
        if "INTERNAL_FAILURE" not in text and "internal error" not in text.lower():
            return ""
        probe = self.full(f".lq-write-probe-{os.getpid()}")
        try:
            with self.fs.open_output_stream(probe) as f:
                f.write(b"1")
            self.fs.delete_file(probe)
        except OSError:
            return (f"; the server failed every one of {S3_ATTEMPTS} tries, and a one-byte probe write failed "
                    "too: it accepts no writes at all, typically because its storage is full (SeaweedFS: "
                    "'No writable volumes' in its log; give it more volumes or disk, see docs/how-to/scale-out.md)")
        return (f"; the server failed every one of {S3_ATTEMPTS} tries, while a one-byte probe write "
                f"succeeded: it refuses this object ({size / 1e6:.1f} MB, a multipart upload above "
                f"{MULTIPART_BYTES / 1e6:.0f} MB): see the server's log")

    def write_parquet(self, key: str, df: pl.DataFrame, *, sync: set[Path] | None = None) -> None:
        self.write_with(key, lambda f: write_parquet_to(df, f), sync=sync)

    def delete(self, key: str) -> None:
        if not self.remote:
            self.local_path(key).unlink(missing_ok=True)
            return
        try:
            self.fs.delete_file(self.full(key))
        except FileNotFoundError:
            pass
        except OSError as e:
            if "NoSuchKey" not in str(e):
                raise StoreError(f"{self.uri_of(key)}: delete failed ({_short(e)})") from None

    def delete_prefix(self, prefix: str) -> None:
        for key in self.list(prefix):
            self.delete(key)
        if not self.remote:
            shutil.rmtree(self.local_path(prefix), ignore_errors=True)

    # -- DuckDB ---------------------------------------------------------------------------------

    def register_duckdb(self, con) -> None:
        """Let DuckDB read ``s3://`` paths of this store through pyarrow (no httpfs download)."""
        if not self.remote:
            return
        con.register_filesystem(duckdb_filesystem(self.fs))


def duckdb_filesystem(fs):
    """``fs`` (pyarrow) as DuckDB's ``s3://`` filesystem. DuckDB checks ``allowed_directories`` on
    the key as written, so a key with a ``.`` or ``..`` segment (``s3://b/lake/../x``) is refused
    here: the key read is always the key DuckDB checked."""
    from fsspec.implementations.arrow import ArrowFSWrapper  # lazy: only S3 lakes need fsspec

    class _S3(ArrowFSWrapper):
        protocol = "s3"

        @classmethod
        def _strip_protocol(cls, path):
            key = super()._strip_protocol(path)
            if any(seg in (".", "..") for seg in str(key).split("/")):
                raise PermissionError(f"object key with a '.' or '..' segment refused: {path}")
            return key

    return _S3(fs)


def _short(e: BaseException) -> str:
    """An error message without anything that could carry a credential (pyarrow never prints the
    secret key, but be sure) and on one line."""
    text = " ".join(str(e).split())
    for var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        v = os.environ.get(var)
        if v:
            text = text.replace(v, "***")
    return text[:300]


_STORES: dict[tuple, Store] = {}


def store_for(uri: str) -> Store:
    """One Store (and one S3 client) per URI and S3 environment in a process."""
    key = (uri, _endpoint(), os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_REGION"))
    s = _STORES.get(key)
    if s is None:
        s = _STORES[key] = Store(uri)
    return s


@dataclass(frozen=True)
class Location:
    """A folder-like place in a store (``store``, ``key`` prefix): ``loc / "name"`` is a child."""

    store: Store
    key: str

    def __truediv__(self, name: str) -> "Location":
        return Location(self.store, f"{self.key}/{name}" if self.key else name)

    def __str__(self) -> str:
        return self.store.uri_of(self.key)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def as_location(where: "Location | Path | str") -> Location:
    """A Location, or a local folder as one."""
    if isinstance(where, Location):
        return where
    p = Path(where).resolve()
    return Location(Store(str(p.parent)), p.name)
