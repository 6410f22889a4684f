"""The stated objectives of both stages, ranking, and the rank statistics of the fidelity audit.

Window score (both stages): the window's annualized Sharpe minus a thin-trading penalty,
    score = sharpe - trade_penalty * max(0, 1 - trades / min_trades)
so a window with no trade loses ``trade_penalty`` Sharpe units and one with ``min_trades`` or
more loses nothing.

Stage-1 objective (prefilter, per parameter set): the mean window score over every training
window of every fold and every symbol that has enough bars there.

Stage-2 robust objective (replay, per candidate): over the validation windows of every fold and
symbol, ``median(score) - dispersion_penalty * 1.4826 * MAD(score)`` (MAD scaled to a standard
deviation under normality): a candidate that is good on a few windows and bad on others loses.

Ties are broken by the grid position (lower first), so rankings are total and deterministic.
"""

from __future__ import annotations

import numpy as np

MAD_SCALE = 1.4826


def window_score(sharpe: np.ndarray, trades: np.ndarray, min_trades: int, penalty: float) -> np.ndarray:
    sharpe = np.asarray(sharpe, dtype=np.float64)
    trades = np.asarray(trades, dtype=np.float64)
    if min_trades <= 0:
        return sharpe.copy()
    short = np.maximum(0.0, 1.0 - trades / float(min_trades))
    return sharpe - penalty * short


def robust_objective(scores: np.ndarray, dispersion_penalty: float) -> float:
    """median - penalty * scaled MAD of one candidate's validation window scores."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return float("-inf")
    med = float(np.median(s))
    mad = float(np.median(np.abs(s - med))) * MAD_SCALE
    return med - dispersion_penalty * mad


def rank_order(objective: np.ndarray) -> np.ndarray:
    """Indices best first: higher objective first, ties by index (NaN counts as -inf)."""
    obj = np.nan_to_num(np.asarray(objective, dtype=np.float64), nan=-np.inf)
    return np.lexsort((np.arange(obj.shape[0]), -obj))


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties get the average of the ranks they span (as scipy's 'average')."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ranks = np.empty(n, dtype=np.float64)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation: Pearson correlation of the tie-averaged ranks (NaN if undefined)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"spearman: expected two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    if a.shape[0] < 2:
        return float("nan")
    ra, rb = rankdata(a) - (a.shape[0] + 1) / 2.0, rankdata(b) - (b.shape[0] + 1) / 2.0
    den = float(np.sqrt(np.sum(ra * ra) * np.sum(rb * rb)))
    return float(np.sum(ra * rb) / den) if den > 0 else float("nan")


def top_k_recall(predicted: np.ndarray, actual: np.ndarray, k: int) -> float:
    """Share of the ``k`` best by ``actual`` that are also among the ``k`` best by ``predicted``."""
    predicted, actual = np.asarray(predicted), np.asarray(actual)
    k = min(k, predicted.shape[0])
    if k <= 0:
        return float("nan")
    top_p = set(rank_order(predicted)[:k].tolist())
    top_a = set(rank_order(actual)[:k].tolist())
    return len(top_p & top_a) / k
