"""Overfitting figures of one optimization: the winner's deflated Sharpe and the candidates' PBO.

- DSR (Bailey & Lopez de Prado 2014) of the winner's validation returns (the sample it was selected
  on, all folds and symbols concatenated), per period (not annualized). N = every configuration
  evaluated: all stage-1 sets plus every stage-2 replayed configuration (top k and audit sample).
  The variance of trial Sharpes is that of the stage-1 sets' mean per-period Sharpe.
- PBO (CSCV, Bailey et al. 2017) over the (periods x top-k candidates) matrix of validation returns
  compounded into blocks (``pbo_max_periods`` rows at most); the split count drops to the largest
  even number the rows allow (NaN with fewer than 2 candidates or 4 rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lq_engine.kernels import metrics as M


@dataclass(frozen=True)
class Overfitting:
    dsr: float
    sr0: float  # expected maximum per-period Sharpe of N unskilled trials
    sharpe: float  # the winner's per-period Sharpe on its validation returns
    n_obs: int
    n_trials: int  # N = n_stage1 + n_stage2
    n_stage1: int
    n_stage2: int
    trial_sr_variance: float
    pbo: float
    pbo_splits: int
    pbo_periods: int
    pbo_candidates: int
    pbo_logits: np.ndarray


def moments(returns: np.ndarray) -> tuple[float, float, float]:
    """(per-period Sharpe ddof 1, skewness, kurtosis (not excess)) of ``returns``."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return 0.0, 0.0, 3.0
    sd = r.std(ddof=1)
    m, s = r.mean(), r.std(ddof=0)
    sr = float(m / sd) if sd > 0 else 0.0
    skew = float(np.mean((r - m) ** 3) / s**3) if s > 0 else 0.0
    kurt = float(np.mean((r - m) ** 4) / s**4) if s > 0 else 3.0
    return sr, skew, kurt


def pbo(matrix: np.ndarray, splits: int) -> tuple[float, int, np.ndarray]:
    """(PBO, splits used, logits) of a (T, N) return matrix; NaN when too small."""
    t, n = matrix.shape
    use = min(splits, (t // 2) // 2 * 2)
    if n < 2 or use < 2:
        return float("nan"), 0, np.zeros(0)
    value, logits = M.probability_of_backtest_overfitting(matrix, use)
    return value, use, logits


def overfitting(winner_val_returns: np.ndarray, trial_sharpes: np.ndarray, n_stage2: int,
                candidate_returns: np.ndarray, splits: int) -> Overfitting:
    sr, skew, kurt = moments(winner_val_returns)
    t = np.asarray(trial_sharpes, dtype=np.float64)
    var = float(t.var(ddof=1)) if t.size > 1 else 0.0
    n_trials = int(t.size) + int(n_stage2)
    dsr, sr0 = M.deflated_sharpe_ratio(sr, int(np.asarray(winner_val_returns).size), skew, kurt, n_trials, var)
    p, used, logits = pbo(candidate_returns, splits)
    return Overfitting(float(dsr), float(sr0), sr, int(np.asarray(winner_val_returns).size), n_trials, int(t.size),
                       int(n_stage2), var, p, used, int(candidate_returns.shape[0]), int(candidate_returns.shape[1]),
                       logits)

