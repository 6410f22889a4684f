"""C and Rust backends: build on demand (source hash in the artifact name), load with ctypes.

A missing compiler (gcc / cargo not on PATH) or a failed build makes the backend unavailable with
a reason (``NativeUnavailable``), never an import error. ``LQ_NATIVE_METRICS_DLL`` names an
explicit library exporting the ABI: it is used for the "rust" backend if its file name contains
"rust", else for "c", and is never rebuilt.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from lq_engine.errors import InputError
from lq_engine.kernels.groups import G, wide_acc
from lq_engine.kernels.metrics import N_ACC
from lq_engine.kernels.rules import check_sweep_shapes
from lq_engine.native_build import (
    BUILD_DIR,
    NATIVE_ROOT,
    NativeUnavailable,
    build_once,
    content_hash,
    require_tool,
    run_build,
)

ABI_VERSION = 2
BACKENDS = ("c", "rust")


def _sources(backend: str) -> list[Path]:
    if backend == "c":
        return [NATIVE_ROOT / "c" / "lq_kernels.c"]
    if backend == "rust":
        return [NATIVE_ROOT / "rust" / "Cargo.toml", NATIVE_ROOT / "rust" / "src" / "lib.rs"]
    raise ValueError(f"unknown native backend {backend!r}; expected one of {BACKENDS}")


C_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", "-pthread"]
RUST_FLAGS = "-C target-cpu=native"


def source_hash(backend: str) -> str:
    return content_hash(_sources(backend), " ".join(C_FLAGS) if backend == "c" else RUST_FLAGS)


def artifact_path(backend: str) -> Path:
    return BUILD_DIR / f"lq_{backend}_{source_hash(backend)}.so"


def build_native(backend: str) -> Path:
    """Compile ``backend`` into ``BUILD_DIR`` (no-op if the artifact for this source exists)."""
    out = artifact_path(backend)
    if out.exists():
        return out
    tool = require_tool("gcc" if backend == "c" else "cargo", backend)

    def build(tmp: str) -> None:
        if backend == "c":
            run_build([tool, *C_FLAGS, "-o", tmp, str(_sources("c")[0]), "-lm"], backend)
            return
        target = out.parent / "rust-target"  # beside the artifacts: never inside the sources
        run_build([tool, "build", "--release", "--offline", "--quiet", "--locked",
                   "--manifest-path", str(NATIVE_ROOT / "rust" / "Cargo.toml")], backend,
                  env=dict(os.environ, RUSTFLAGS=RUST_FLAGS, CARGO_TARGET_DIR=str(target)))
        shutil.copyfile(target / "release" / "liblq_kernels.so", tmp)

    return build_once(out, backend, build)


def build_in_background(backends: tuple[str, ...] = BACKENDS) -> threading.Thread:
    """Start building ``backends`` (one after the other) in a daemon thread and return it: gcc and
    cargo run as child processes, so the thread only waits on them while this process goes on. A
    caller that benchmarks the backends later (``lq demo``: ``backend_benchmark`` after the ingest)
    overlaps the builds with its other work; the benchmark's ``load`` then finds the artifact, or
    waits on its build lock (``build_once``) for the one still building. A backend named by
    ``LQ_NATIVE_METRICS_DLL`` is not built; a build that fails is left for ``load`` to report."""

    def build_all() -> None:
        dll = explicit_dll()
        for backend in backends:
            if dll is not None and dll[0] == backend:
                continue
            try:
                build_native(backend)
            except Exception:  # noqa: BLE001  availability() says why, when the benchmark loads it
                pass

    thread = threading.Thread(target=build_all, name="lq-native-build", daemon=True)
    thread.start()
    return thread


class NativeLib:
    """The batched ABI of one shared library."""

    def __init__(self, backend: str, path: Path):
        self.backend, self.path = backend, Path(path)
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            raise NativeUnavailable(f"{backend}: cannot load {path}: {e}") from None
        for sym in ("lq_abi_version", "lq_sweep", "lq_metric_batch"):
            if not hasattr(lib, sym):
                raise NativeUnavailable(f"{backend}: {path} does not export {sym}")
        if lib.lq_abi_version() != ABI_VERSION:
            raise NativeUnavailable(f"{backend}: {path} has ABI {lib.lq_abi_version()}, expected {ABI_VERSION}")
        d, i64, i32 = ctypes.c_double, ctypes.c_int64, ctypes.c_int
        pd, pi = ctypes.POINTER(d), ctypes.POINTER(i64)
        lib.lq_sweep.argtypes = [pd, i64, i64, pd, pi, pd, i64, d, pd, i32]
        lib.lq_sweep.restype = None
        lib.lq_metric_batch.argtypes = [pd, i64, i64, d, pd, i32]
        lib.lq_metric_batch.restype = None
        # per-group sums (kernels.groups), an optional export: without it the numba kernel streams them
        self.has_groups = hasattr(lib, "lq_sweep_groups")
        if self.has_groups:
            lib.lq_sweep_groups.argtypes = [pd, i64, i64, pd, pi, pd, i64, d, pd, i32, pi, i64, pd]
            lib.lq_sweep_groups.restype = None
        self._lib = lib

    @staticmethod
    def _p(a: np.ndarray, ctype):
        return a.ctypes.data_as(ctypes.POINTER(ctype))

    def sweep(self, bank, rets, ip, fp, cost: float, n_threads: int) -> np.ndarray:
        for name, a, dt in (("bank", bank, np.float64), ("rets", rets, np.float64), ("ip", ip, np.int64),
                            ("fp", fp, np.float64)):
            if a.dtype != dt or not a.flags.c_contiguous:
                raise ValueError(f"{self.backend} sweep: '{name}' must be C-contiguous {np.dtype(dt)}")
        check_sweep_shapes(self.backend, bank, rets, ip, fp)
        n_sets = ip.shape[0]
        out = np.empty((n_sets, N_ACC))
        self._lib.lq_sweep(self._p(bank, ctypes.c_double), bank.shape[0], bank.shape[1],
                           self._p(rets, ctypes.c_double), self._p(ip, ctypes.c_int64),
                           self._p(fp, ctypes.c_double), n_sets, float(cost),
                           self._p(out, ctypes.c_double), int(n_threads))
        return out

    def sweep_groups(self, bank, rets, ip, fp, cost: float, n_threads: int, ends: np.ndarray) -> np.ndarray:
        """``sweep`` with per-group sums: a wide accumulator matrix (``kernels.groups.wide_acc``)."""
        for name, a, dt in (("bank", bank, np.float64), ("rets", rets, np.float64), ("ip", ip, np.int64),
                            ("fp", fp, np.float64)):
            if a.dtype != dt or not a.flags.c_contiguous:
                raise ValueError(f"{self.backend} sweep: '{name}' must be C-contiguous {np.dtype(dt)}")
        n_sets, ge = ip.shape[0], np.ascontiguousarray(ends, dtype=np.int64)
        ng = ge.shape[0]
        out = np.empty((n_sets, N_ACC))
        gout = np.zeros((n_sets, 2 * ng))
        self._lib.lq_sweep_groups(self._p(bank, ctypes.c_double), bank.shape[0], bank.shape[1],
                                  self._p(rets, ctypes.c_double), self._p(ip, ctypes.c_int64),
                                  self._p(fp, ctypes.c_double), n_sets, float(cost),
                                  self._p(out, ctypes.c_double), int(n_threads), self._p(ge, ctypes.c_int64), ng,
                                  self._p(gout, ctypes.c_double))
        acc = wide_acc(n_sets, ge)
        acc[:, :N_ACC] = out
        acc[:, G + 1 + ng:] = gout
        return acc

    def metric_batch(self, equity: np.ndarray, n_evals: int, ppy: float, n_threads: int) -> np.ndarray:
        e = np.ascontiguousarray(equity, dtype=np.float64)
        out = np.empty((n_evals, 3))
        self._lib.lq_metric_batch(self._p(e, ctypes.c_double), e.size, n_evals, float(ppy),
                                  self._p(out, ctypes.c_double), int(n_threads))
        return out


def explicit_dll() -> tuple[str, Path] | None:
    p = os.environ.get("LQ_NATIVE_METRICS_DLL")
    if not p:
        return None
    return ("rust" if "rust" in Path(p).name.lower() else "c"), Path(p)


@lru_cache(maxsize=None)
def _load(backend: str, path: str | None) -> NativeLib:
    if path:
        if not Path(path).exists():
            raise NativeUnavailable(f"{backend}: LQ_NATIVE_METRICS_DLL={path} does not exist")
        return NativeLib(backend, Path(path))
    return NativeLib(backend, build_native(backend))


def load(backend: str) -> NativeLib:
    """The loaded library for ``backend``, building it first if needed; raises NativeUnavailable."""
    if backend not in BACKENDS:
        raise InputError(f"unknown native backend {backend!r}; expected one of {BACKENDS}")
    dll = explicit_dll()
    return _load(backend, str(dll[1]) if dll and dll[0] == backend else None)


def availability(backend: str) -> tuple[bool, str]:
    try:
        lib = load(backend)
    except NativeUnavailable as e:
        return False, str(e)
    return True, f"loaded {lib.path}"
