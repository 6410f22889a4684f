"""The trial path only accepts frozen arrays: read-only, C-contiguous, of the expected dtype.

A dataframe reaching a kernel means someone skipped the frozen dataset (and its content hash), so
it is refused loudly instead of being converted silently.
"""

from __future__ import annotations

from lq_engine.errors import LQError

import numpy as np


class FrozenInputError(LQError, TypeError):
    """An input to the trial path is not a frozen read-only array."""


_FRAME_MODULES = ("polars", "pandas", "pyarrow")


def _is_frame(x: object) -> bool:
    mod = type(x).__module__.split(".")[0]
    return mod in _FRAME_MODULES


def require_frozen_array(x: object, name: str, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Return ``x`` if it is a read-only, C-contiguous 1-D ndarray of ``dtype``; raise otherwise."""
    if _is_frame(x):
        raise FrozenInputError(
            f"{name}: got a {type(x).__module__}.{type(x).__name__}; the trial path takes only "
            "frozen read-only numpy arrays (build a frozen dataset with "
            "lq_engine.data.frozen and pass its arrays)"
        )
    if not isinstance(x, np.ndarray):
        raise FrozenInputError(f"{name}: expected a numpy ndarray, got {type(x).__name__}")
    if x.dtype != np.dtype(dtype):
        raise FrozenInputError(f"{name}: expected dtype {np.dtype(dtype)}, got {x.dtype}")
    if x.ndim != 1:
        raise FrozenInputError(f"{name}: expected a 1-D array, got {x.ndim} dimensions")
    if not x.flags.c_contiguous:
        raise FrozenInputError(f"{name}: array is not C-contiguous (a strided view?); use a frozen array")
    if x.flags.writeable:
        raise FrozenInputError(
            f"{name}: array is writable; frozen arrays are read-only (x.setflags(write=False) "
            "or load it from a frozen dataset)"
        )
    return x


def freeze(x: np.ndarray) -> np.ndarray:
    """A read-only, C-contiguous copy-if-needed of ``x`` (for tests and in-memory datasets)."""
    out = np.ascontiguousarray(x)
    if out is x and x.flags.writeable:
        out = x.copy()
    out.setflags(write=False)
    return out
