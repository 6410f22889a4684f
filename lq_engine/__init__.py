"""LuminaQuant engine: data, strategies, kernels, execution, replay. Never imports dagster."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


def _numba_cache_dir() -> None:
    """Point numba's on-disk cache at a folder named by the hash of this package's sources.

    numba keys a cached function on its own file only, so a kernel that inlines a helper from
    another module (the replay loop inlines sizing, the sweeps inline the fill math) would keep
    running the old helper after an edit. Hashing every source makes any change start a fresh cache.
    An explicit NUMBA_CACHE_DIR is left alone.
    """
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    package = Path(__file__).resolve().parent
    root = package.parent / ".numba_cache"
    if not os.access(package.parent, os.W_OK):
        return
    h = hashlib.sha256()
    for f in sorted(package.rglob("*.py")):
        h.update(f.relative_to(package).as_posix().encode())
        h.update(f.read_bytes())
    os.environ["NUMBA_CACHE_DIR"] = str(root / h.hexdigest()[:16])
    if "numba" in sys.modules:  # imported before us: make it read the variable again
        from numba.core.config import reload_config

        reload_config()


_numba_cache_dir()
