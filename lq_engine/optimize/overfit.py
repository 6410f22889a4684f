"""Overfitting figures of one optimization: the winner's deflated Sharpe and PBO over every trial.

- DSR (Bailey & Lopez de Prado 2014) of the winner's validation returns (the sample it was selected
  on, full execution model), per period (not annualized), **aggregated per timestamp**: the symbols'
  returns on the same bar (the same date, for daily bars) are averaged into one observation, so
  T = distinct timestamps, not symbols x dates (returns of correlated symbols on one date are not
  independent observations). N = distinct configurations stage 1 evaluated (grid or search): the
  stage-2 replays and the audit re-run configurations stage 1 already counted, so they do not add to
  N. The variance of trial Sharpes is that of the stage-1 sets' mean per-period Sharpe.
- PBO (CSCV, Bailey, Borwein, Lopez de Prado & Zhu 2017) over **every stage-1 trial**: the
  training span is cut into S = ``pbo_splits`` contiguous time groups (``prefilter.pbo_groups``);
  each trial's returns in a group are pooled over every symbol and training window on those dates
  (the kernels stream sums of r and r^2 per group, ``kernels.groups``: N x S memory), and a trial's
  performance on half the groups is the Sharpe of its pooled returns there
  (``metrics.pbo_from_group_sums``). NaN when stage 1 has fewer than 2 trials or 2 groups.
- Selection stability: the former figure, CSCV among the top-k stage-2 candidates only (their
  validation returns compounded into blocks). Those are near neighbours stage 1 already chose, so it
  measures noise among them, not overfitting; it is shown, never a verdict.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from lq_engine.kernels import metrics as M


@dataclass(frozen=True)
class Overfitting:
    dsr: float
    sr0: float  # expected maximum per-period Sharpe of N unskilled trials
    sharpe: float  # the winner's per-period Sharpe on its validation returns, averaged per timestamp
    n_obs: int  # T: distinct timestamps of the winner's validation returns
    n_trials: int  # N: distinct configurations stage 1 evaluated
    n_stage1: int  # sets stage 1 evaluated (a search may propose a configuration twice)
    n_stage2: int  # stage-2 and audit replays (configurations already counted in N)
    trial_sr_variance: float
    pbo: float  # CSCV over every stage-1 trial
    pbo_splits: int  # time groups S
    pbo_periods: int  # returns pooled per trial over all groups (every symbol and training window)
    pbo_candidates: int  # trials in the CSCV
    pbo_logits: np.ndarray
    n_returns: int = 0  # the winner's validation returns before the per-timestamp average (symbols x bars)
    selection_stability: float = math.nan  # CSCV among the top-k stage-2 candidates only (not a verdict)
    selection_splits: int = 0


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


def per_timestamp(ts: Sequence[np.ndarray], returns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct timestamps, mean return on each) of several return series (one per symbol and
    window; ``ts[k][i]`` is the bar at which ``returns[k][i]`` is earned), in time order."""
    t = np.concatenate([np.asarray(x, dtype=np.int64) for x in ts]) if len(ts) else np.zeros(0, np.int64)
    r = np.concatenate([np.asarray(x, dtype=np.float64) for x in returns]) if len(returns) else np.zeros(0)
    if t.shape != r.shape:
        raise ValueError(f"per_timestamp: {t.size} timestamps for {r.size} returns")
    dates, inv = np.unique(t, return_inverse=True)
    sums = np.zeros(dates.size)
    np.add.at(sums, inv, r)  # in input order: deterministic
    return dates, sums / np.bincount(inv, minlength=dates.size)


def pbo(matrix: np.ndarray, splits: int) -> tuple[float, int, np.ndarray]:
    """(PBO, splits used, logits) of a (T, N) return matrix; NaN when too small."""
    t, n = matrix.shape
    use = min(splits, (t // 2) // 2 * 2)
    if n < 2 or use < 2:
        return float("nan"), 0, np.zeros(0)
    value, logits = M.probability_of_backtest_overfitting(matrix, use)
    return value, use, logits


def distinct_configurations(params: Sequence[dict[str, Any]]) -> int:
    return len({json.dumps(dict(p), sort_keys=True, default=str) for p in params})


def overfitting(val_ts: Sequence[np.ndarray], val_returns: Sequence[np.ndarray], stage1: Any, n_stage2: int,
                candidate_returns: np.ndarray, splits: int) -> Overfitting:
    """The figures of one optimization: ``val_ts``/``val_returns`` are the winner's validation
    returns per (symbol, window) with the timestamp of each, ``stage1`` the ``Stage1Result`` (its
    parameter sets, trial Sharpes and per-group sums), ``candidate_returns`` the top-k candidates'
    compounded validation returns (selection stability)."""
    _, r = per_timestamp(val_ts, val_returns)
    n_returns = int(sum(np.asarray(x).size for x in val_returns))
    sr, skew, kurt = moments(r)
    t = np.asarray(stage1.trial_sharpes, dtype=np.float64)
    var = float(t.var(ddof=1)) if t.size > 1 else 0.0
    n_trials = distinct_configurations(stage1.params)
    dsr, sr0 = M.deflated_sharpe_ratio(sr, int(r.size), skew, kurt, n_trials, var)
    sums, counts = getattr(stage1, "group_sums", None), getattr(stage1, "group_counts", None)
    if sums is not None and sums.shape[0] >= 2 and sums.shape[1] >= 2:
        p, logits = M.pbo_from_group_sums(sums, counts)
        p_splits, p_periods = int(sums.shape[1]), int(np.max(counts.sum(axis=1)))
    else:
        p, logits, p_splits, p_periods = float("nan"), np.zeros(0), 0, 0
    stab, stab_splits, _ = pbo(candidate_returns, splits)
    return Overfitting(float(dsr), float(sr0), sr, int(r.size), n_trials, int(t.size), int(n_stage2), var,
                       float(p), p_splits, p_periods, int(0 if sums is None else sums.shape[0]), logits,
                       n_returns, float(stab), stab_splits)
