"""Per-group return accumulators: what PBO (CSCV over every stage-1 trial) needs from a kernel.

CSCV needs the performance of every trial on any union of S contiguous time groups. The Sharpe of a
union follows from three sums per group (sum r, sum r^2, count), so a kernel that streams them keeps
N x S numbers instead of an N x T return matrix.

A kernel is asked for them through a *wide* accumulator row: ``N_ACC`` accumulators, then
``[ng, end_0 .. end_{ng-1}, sum_r_0 .. sum_r_{ng-1}, sum_r2_0 .. sum_r2_{ng-1}]`` (``group_row``):
local group g holds the returns of bars ``end_{g-1} <= j < end_g`` (the return of bar j is the one
from close j-1 to close j; bar 0 has none). A row of exactly ``N_ACC`` columns asks for nothing
(``has_groups`` is False) and costs one comparison per booking. Counts are not streamed: every bar
of the window counts (``metrics.finalize``'s convention, n = bars - 1), so they come from the ends.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lq_engine.kernels.metrics import N_ACC

G = N_ACC  # first column of the group part of a wide row


def row_width(n_groups: int) -> int:
    """Columns of an accumulator row carrying ``n_groups`` groups."""
    return N_ACC + 1 + 3 * n_groups if n_groups > 0 else N_ACC


def wide_acc(n_sets: int, ends: np.ndarray | None) -> np.ndarray:
    """An accumulator matrix (n_sets, row_width) with the group ends preloaded and sums zeroed."""
    if ends is None or len(ends) == 0:
        return np.empty((n_sets, N_ACC))
    ng = len(ends)
    acc = np.zeros((n_sets, row_width(ng)))
    acc[:, G] = ng
    acc[:, G + 1:G + 1 + ng] = np.asarray(ends, dtype=np.float64)
    return acc


def group_sums(acc: np.ndarray) -> np.ndarray | None:
    """(n_sets, ng, 2) sums of r and r^2 per local group of a wide matrix (None for a plain one)."""
    if acc.shape[1] <= N_ACC:
        return None
    ng = int(acc[0, G]) if acc.shape[0] else (acc.shape[1] - N_ACC - 1) // 3
    s = acc[:, G + 1 + ng:G + 1 + 3 * ng].reshape(acc.shape[0], 2, ng)
    return np.ascontiguousarray(s.transpose(0, 2, 1))


def group_counts(ends: np.ndarray) -> np.ndarray:
    """Returns per local group (bar 0 of the window has none)."""
    e = np.asarray(ends, dtype=np.int64)
    starts = np.concatenate(([0], e[:-1]))
    return (e - np.maximum(starts, 1)).clip(min=0)


def sums_from_returns(returns: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(ng, 2) sums of r and r^2 per group of a window's per-bar returns r_1..r_{n-1} (the
    reference paths: python backends, replays)."""
    r = np.asarray(returns, dtype=np.float64)
    e = np.asarray(ends, dtype=np.int64)
    out = np.zeros((len(e), 2))
    bars = np.arange(1, r.size + 1)
    g = np.searchsorted(e, bars, side="right")
    np.add.at(out[:, 0], g, r)
    np.add.at(out[:, 1], g, r * r)
    return out


@njit(cache=True, inline="always")
def has_groups(acc):
    return acc.shape[0] > G


@njit(cache=True, inline="always")
def group_of(acc, j):
    """The local group of bar j (binary search over the ends)."""
    ng = int(acc[G])
    lo = 0
    hi = ng - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if acc[G + 1 + mid] <= j:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, inline="always")
def book(acc, j, r):
    """Add the return of bar j to its group."""
    ng = int(acc[G])
    g = group_of(acc, j)
    acc[G + 1 + ng + g] += r
    acc[G + 1 + 2 * ng + g] += r * r


@njit(cache=True)
def book_prefix(acc, rets, r1, r2, lo, hi):
    """Add the returns of bars lo+1..hi taken from prefix rows ``rets[r1]`` (sum r) and ``rets[r2]``
    (sum r^2), split at the group ends."""
    ng = int(acc[G])
    j = lo
    while j < hi:
        g = group_of(acc, j + 1)
        e = int(acc[G + 1 + g]) - 1
        if e > hi or g == ng - 1:
            e = hi
        acc[G + 1 + ng + g] += rets[r1, e] - rets[r1, j]
        acc[G + 1 + 2 * ng + g] += rets[r2, e] - rets[r2, j]
        j = e
