"""The runtime cache's write path: compiled (``native/cpython/lq_cachestore.c``) or pure Python.

``update_bar`` and ``update_order`` run once per bar and once per order event of the event engine
and the paper trader, so they are a CPython extension type built with gcc on first use (like the
C kernels) and loaded from ``native_build.BUILD_DIR``. Both stores keep the same two dicts of
plain tuples, so everything else in ``RuntimeCache`` (reads, snapshot, restore) is shared and the
two are interchangeable; the pure-Python store is used when no compiler is available.

``LQ_CACHE_STORE``: ``auto`` (default: compiled if it builds, else Python), ``compiled`` (fail
if it does not build), ``python``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import math
import os
import sysconfig
from functools import lru_cache
from pathlib import Path

from lq_engine.native_build import (
    BUILD_DIR, NATIVE_ROOT, NativeUnavailable, build_once, content_hash, require_tool, run_build,
)
from lq_engine.errors import EnvVarError

log = logging.getLogger(__name__)

ENV = "LQ_CACHE_STORE"
MODULE = "lq_cachestore"
C_FLAGS = ["-O3", "-fPIC", "-shared", "-fno-strict-aliasing"]


class PyCacheStore:
    """The pure-Python store: the same dicts and tuples as the compiled ``CacheStore``."""

    __slots__ = ("_market", "_orders")

    def __init__(self) -> None:
        self._market: dict[str, tuple] = {}
        self._orders: dict[str, tuple] = {}

    def update_bar(self, symbol: str, timestamp_ns: int, sequence: int, open: float, high: float, low: float,
                   close: float, volume: float) -> None:
        self._market[symbol] = (timestamp_ns, sequence, open, high, low, close, volume)

    def update_order(self, order_id: str, state: str, symbol: str, side: int = 0, quantity: float = 0.0,
                     filled: float = 0.0, avg_price: float = math.nan) -> None:
        self._orders[order_id] = (state, symbol, side, quantity, filled, avg_price)


def source() -> Path:
    return NATIVE_ROOT / "cpython" / f"{MODULE}.c"


def artifact_path() -> Path:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    include = sysconfig.get_paths()["include"]
    return BUILD_DIR / f"{MODULE}_{content_hash([source()], ' '.join(C_FLAGS), include, suffix)}{suffix}"


def build_store() -> Path:
    """Compile the extension for this interpreter (no-op if built); ``NativeUnavailable`` if it can't."""
    out = artifact_path()
    if out.exists():
        return out
    gcc = require_tool("gcc", "cache store")
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        raise NativeUnavailable(f"cache store: no Python.h under {include} (install the Python headers)")
    return build_once(out, MODULE, lambda tmp: run_build(
        [gcc, *C_FLAGS, f"-I{include}", "-o", tmp, str(source())], "cache store"))


@lru_cache(maxsize=None)
def load_compiled() -> type:
    """The compiled ``CacheStore`` type (building it if needed; loaded once per process)."""
    path = build_store()
    loader = importlib.machinery.ExtensionFileLoader(MODULE, str(path))
    spec = importlib.util.spec_from_file_location(MODULE, path, loader=loader)
    if spec is None:
        raise NativeUnavailable(f"cache store: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.CacheStore


@lru_cache(maxsize=None)
def store_base() -> tuple[type, str]:
    """(store type, description) as chosen by ``LQ_CACHE_STORE``."""
    mode = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if mode not in ("auto", "compiled", "python"):
        raise EnvVarError(f"{ENV}={mode!r}: expected auto, compiled or python")
    if mode == "python":
        return PyCacheStore, f"python ({ENV}=python)"
    try:
        store = load_compiled()
    except (NativeUnavailable, ImportError, OSError) as e:
        if mode == "compiled":
            raise NativeUnavailable(f"{ENV}=compiled but the compiled store is unavailable: {e}") from e
        log.warning("runtime cache: compiled store unavailable, using the Python one: %s", e)
        return PyCacheStore, f"python (compiled unavailable: {e})"
    return store, f"compiled ({artifact_path().name})"
