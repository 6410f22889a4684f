"""Build a native artifact once: under a file lock, into a temp file, renamed into place.

Shared by the C/Rust evaluation kernels and the compiled runtime-cache store. The sources are the
checkout's ``native/`` or, installed from a wheel, the copy it carries (``lq_engine/_shipped/native``).
Artifacts live in ``$LQ_NATIVE_BUILD_DIR``, else ``native/build`` of a source checkout
(git-ignored), else ``<user cache>/native/<machine>`` (``lq_engine.project.user_cache_dir``: never
inside an installed package); they carry a hash of their sources and flags in their names, so a
changed source is rebuilt and concurrent processes reuse whatever the first builder produced.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from lq_engine.project import shipped, source_checkout, user_cache_dir


def default_build_dir() -> Path:
    env = os.environ.get("LQ_NATIVE_BUILD_DIR")
    if env:
        return Path(env).expanduser().resolve()
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "native" / "build"
    return user_cache_dir() / "native" / (platform.machine() or "unknown")  # -march=native: per machine


NATIVE_ROOT = shipped("native")
BUILD_DIR = default_build_dir()


class NativeUnavailable(RuntimeError):
    """A native artifact cannot be built or loaded here; the message says why."""


def content_hash(files: Iterable[Path], *extra: str) -> str:
    """16 hex digits over the files' names and bytes and any extra strings (flags, ABI tags)."""
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:16]


def require_tool(tool: str, what: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise NativeUnavailable(f"{what}: '{tool}' not found on PATH")
    return path


def run_build(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise NativeUnavailable(f"{what}: build failed ({' '.join(cmd)}):\n{res.stderr[-2000:]}")


def build_once(out: Path, lock_name: str, build: Callable[[str], None]) -> Path:
    """Return ``out``, calling ``build(tmp_path)`` first if it does not exist yet.

    ``build`` writes the artifact to ``tmp_path``; it is renamed to ``out`` only when complete, so a
    killed build never leaves a truncated artifact behind.
    """
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{lock_name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others reuse its artifact
        if out.exists():
            return out
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".so.tmp")
        os.close(fd)
        try:
            build(tmp)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return out
