"""LuminaQuant engine: data, strategies, kernels, execution, replay. Never imports dagster.

Importing it compiles nothing, runs no process and reads no source file: it only points numba's
on-disk cache at a folder (``_numba_cache_dir``) before anything imports numba.
"""

from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path


def source_fingerprint(package: Path) -> str:
    """16 hex digits that change whenever a ``.py`` file of ``package`` is added, removed or edited:
    a checksum of each file's path, size and modification time (``stat`` only, no file is read).

    numba keys a cached function on its own file only, so a kernel that inlines a helper from
    another module (the replay loop inlines sizing, the sweeps inline the fill math) would keep
    running the old helper after an edit; a cache folder named by this fingerprint starts afresh
    after any change of the engine's sources (an edit, a ``git checkout``, a reinstall)."""
    crc, newest, count = 0, 0, 0
    for f in sorted(package.rglob("*.py")):
        st = f.stat()
        crc = zlib.crc32(f"{f.relative_to(package).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode(), crc)
        newest, count = max(newest, st.st_mtime_ns), count + 1
    return f"{crc:08x}{(newest ^ count) & 0xFFFFFFFF:08x}"


def _numba_cache_dir() -> None:
    """Point numba's on-disk cache at ``<root>/<fingerprint of the engine's sources>``: ``.numba_cache/``
    of a source checkout, else ``<user cache>/numba`` (``lq_engine.project.user_cache_dir``), never
    inside an installed package. numba reads the variable when it is first imported and fixes each
    function's cache folder when the function is decorated, which happens when the engine's modules
    are imported; so it is set here, cheaply. An explicit NUMBA_CACHE_DIR is left alone."""
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    from lq_engine.project import source_checkout, user_cache_dir  # inside: runs before any submodule import

    package = Path(__file__).resolve().parent
    checkout = source_checkout()
    root = checkout / ".numba_cache" if checkout is not None else user_cache_dir() / "numba"
    os.environ["NUMBA_CACHE_DIR"] = str(root / source_fingerprint(package))
    if "numba" in sys.modules:  # imported before us: make it read the variable again
        from numba.core.config import reload_config  # only when numba was imported before us

        reload_config()


_numba_cache_dir()
