"""Chunks of a sweep's parameter sets whose indicator rows fit a memory budget.

A sweep builds one bank row (bars x 8 bytes) per distinct indicator call of its sets. A wide grid on
long series does not fit: 2,400 moving averages of 1M bars are 19 GB. Then the sets run in chunks,
each with the bank rows of its own sets only, at most ``budget // (bars x 8)`` of them.

Which sets share a chunk decides how often a row is computed again. Sets are cut greedily, in some
order, when the next set would need more rows than the budget, and of two orders the one computing
fewer rows in all is kept. Z-order of the sets' indicator rows (the bits of each indicator's row rank
interleaved) makes a chunk of a dense grid a block of neighbouring values of every indicator at once:
for an MA cross, a square of fast x slow values, about ``(rows / 2)^2`` sets for ``rows`` bank rows,
instead of one fast value with ``rows`` slow ones. A sparse random sample has few sets in any block;
there, sets sorted by the indicator with the fewest distinct rows share those rows best.

Results do not depend on the chunks: each set's metrics read its own rows only, and every row is
the same numbers in any chunk (``tests/optimize/test_chunks.py``).

    budget: LQ_SWEEP_MEMORY_MB, default a quarter of the machine's memory, at most DEFAULT_CAP_MB
"""

from __future__ import annotations

import os

import numpy as np

from lq_engine.errors import EnvVarError, InputError

DEFAULT_CAP_MB = 2048
FIXED_ROWS = 2  # the bank's zero and close rows (``strategies.spec.IndicatorRows``)


def memory_budget_mb() -> int:
    """``$LQ_SWEEP_MEMORY_MB``, else a quarter of physical memory, at most ``DEFAULT_CAP_MB``."""
    env = os.environ.get("LQ_SWEEP_MEMORY_MB", "").strip()
    if env:
        try:
            mb = int(env)
        except ValueError:
            raise EnvVarError(f"LQ_SWEEP_MEMORY_MB must be a whole number of megabytes, got {env!r}") from None
        if mb < 1:
            raise EnvVarError(f"LQ_SWEEP_MEMORY_MB must be >= 1, got {mb}")
        return mb
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return DEFAULT_CAP_MB
    return int(min(DEFAULT_CAP_MB, max(64, total // 4 // 2**20)))


def zorder(idx: np.ndarray) -> np.ndarray:
    """Positions of the rows of ``idx`` (sets x indicators, bank rows) sorted by the Z-order code of
    their per-indicator ranks; ties (the same rows) keep their order. More than 63 bits in all: sorted
    by the columns (lexicographic) instead."""
    m, k = idx.shape
    if k == 0 or m == 0:
        return np.arange(m)
    ranks = [np.unique(idx[:, j], return_inverse=True)[1].astype(np.uint64) for j in range(k)]
    bits = max(1, int(max(int(r.max()) for r in ranks)).bit_length())
    if bits * k > 63:
        return np.lexsort(idx.T[::-1])
    code = np.zeros(m, dtype=np.uint64)
    for b in range(bits):
        for j in range(k):
            code |= ((ranks[j] >> np.uint64(b)) & np.uint64(1)) << np.uint64(b * k + j)
    return np.argsort(code, kind="stable")


def plan_chunks(idx: np.ndarray, total_rows: int, n_values: int, budget_mb: int | None = None) -> list[np.ndarray]:
    """Set positions per chunk (each sorted ascending): one chunk when the whole bank (``total_rows``
    rows of ``n_values`` float64) fits the budget; otherwise Z-ordered chunks each needing at most
    ``budget // (n_values x 8)`` rows (the fixed rows included)."""
    m = idx.shape[0]
    budget = (memory_budget_mb() if budget_mb is None else budget_mb) * 2**20
    row_bytes = max(1, n_values) * 8
    if total_rows * row_bytes <= budget or m == 0:
        return [np.arange(m)]
    cap = budget // row_bytes - FIXED_ROWS
    per_set = len(np.unique(idx[0])) if idx.shape[1] else 0
    if cap < max(1, per_set):
        raise InputError(f"sweep memory: {budget // 2**20} MB holds {max(0, cap)} indicator rows of {n_values:,} "
                         f"values; one parameter set needs {per_set}: raise LQ_SWEEP_MEMORY_MB (needs >= "
                         f"{-(-(per_set + FIXED_ROWS) * row_bytes // 2**20)} MB)")
    tries = [_greedy(idx, order, cap) for order in candidate_orders(idx)]
    return min(tries, key=lambda t: t[1])[0]  # the first order on a tie


def candidate_orders(idx: np.ndarray) -> list[np.ndarray]:
    """The set orders ``plan_chunks`` tries: Z-order (dense grids: a chunk is a block of every
    indicator's values), and lexicographic with the indicator of fewest distinct rows first (sparse
    samples: a chunk gathers the sets sharing that indicator's rows)."""
    distinct = [len(np.unique(idx[:, j])) for j in range(idx.shape[1])]
    cols = sorted(range(idx.shape[1]), key=lambda j: distinct[j])
    lex = np.lexsort(idx[:, cols].T[::-1]) if cols else np.arange(idx.shape[0])
    return [zorder(idx), lex]


def _greedy(idx: np.ndarray, order: np.ndarray, cap: int) -> tuple[list[np.ndarray], int]:
    """Cut ``order`` into chunks of at most ``cap`` distinct rows; also the rows computed in all."""
    chunks: list[np.ndarray] = []
    current: list[int] = []
    rows: set[int] = set()
    computed = 0
    for k in order.tolist():
        mine = set(idx[k].tolist())
        if len(rows | mine) > cap:
            chunks.append(np.sort(np.asarray(current, dtype=np.int64)))
            computed += len(rows)
            current, rows = [], set()
        current.append(k)
        rows |= mine
    chunks.append(np.sort(np.asarray(current, dtype=np.int64)))
    return chunks, computed + len(rows)


__all__ = ["DEFAULT_CAP_MB", "candidate_orders", "memory_budget_mb", "plan_chunks", "zorder"]
