"""Which side a position or target is on, as the kernels compare it.

``sign(x)``: 1, -1 or 0 (NaN: 0), for sizing and fills.
``new_side(x, old)``: ``x`` is non-zero and not on ``old``'s side (flat counts as a side of its
own), i.e. moving from ``old`` to ``x`` enters a new position. It is one branch-free expression on
purpose: a sign function with three returns, inlined into a strategy's per-bar decision loop,
made that loop about 2.5 times slower (numba's inlined returns become blocks LLVM no longer folds).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def sign(x: float) -> int:
    if x > 0.0:
        return 1
    if x < 0.0:
        return -1
    return 0


@njit(cache=True, inline="always")
def new_side(x: float, old: float) -> bool:
    return (x != 0.0) & (((x > 0.0) != (old > 0.0)) | ((x < 0.0) != (old < 0.0)))
