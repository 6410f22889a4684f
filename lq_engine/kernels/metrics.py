"""The one definition of every performance metric, used by kernels, replay, optimizer and reports.

Conventions (stated once, here):
- ``returns`` are per-bar simple returns r_1..r_n of the equity curve (one fewer than bars);
  equity starts at 1 and is ``cumprod(1 + r)``.
- Annualization: ``periods_per_year`` from the bar interval and calendar (``periods_per_year``).
- Sharpe = mean / std(ddof=1) * sqrt(ppy); Sortino = mean / sqrt(mean(min(r, 0)^2)) * sqrt(ppy)
  (downside deviation over ALL returns); volatility = std(ddof=1) * sqrt(ppy).
- CAGR by elapsed time: growth ** (1 / years) - 1 with years = n_returns / ppy.
- Max drawdown = max (peak - equity) / peak with the starting equity as the first peak; its
  duration = the longest run of bars spent strictly below the running peak.
- Win rate and profit factor are over trades: a trade runs from the open where it is filled (value
  V0 = equity there after the previous trade's exit fee) to the open where it is closed (V1 =
  equity there after its own exit fee), or to the last close if still open; its return is V1/V0-1.
  Win rate = winning trades / trades; profit factor = sum of trade gains / sum of |trade losses|.
- Trade count = number of runs of constant non-zero held position (a reversal starts a new one);
  exposure = share of bars with a non-zero held position; turnover = sum |change of position|
  (in units of equity, so fees = cost * turnover).
- Undefined ratios (zero denominator) are 0.0, except profit factor with gains and no loss (inf).

Kernels do not compute these formulas: they stream the accumulators ``ACC_*`` in one pass and
``finalize`` turns them into metrics, so the arithmetic lives only here. ``summarize`` computes the
same metrics from whole arrays (the reference); tests keep them within ``STREAMING_RTOL``.
Overfitting controls: ``deflated_sharpe_ratio`` (Bailey & Lopez de Prado 2014) and
``probability_of_backtest_overfitting`` (CSCV, Bailey, Borwein, Lopez de Prado & Zhu 2017).
"""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np

METRIC_NAMES = (
    "total_return", "cagr", "sharpe", "sortino", "volatility", "max_drawdown",
    "max_drawdown_duration", "calmar", "win_rate", "profit_factor", "trade_count",
    "exposure", "turnover",
)

# streaming accumulator columns (one row per parameter set), filled by every kernel backend: the numba
# kernels write them through ``kernels.accumulators.close_out``, C and Rust (native/) with their own lines
(ACC_EQ, ACC_S1, ACC_S2, ACC_SD, ACC_TGAIN, ACC_TWIN, ACC_TLOSS, ACC_MAXDD, ACC_MAXDD_DUR,
 ACC_TRADES, ACC_EXPOSED, ACC_TURNOVER, ACC_NRET) = range(13)
N_ACC = 13
ACC_NAMES = ("equity", "sum_r", "sum_r2", "sum_down2", "trade_gains", "winning_trades", "trade_losses", "max_drawdown",
             "max_drawdown_duration", "trades", "exposed_bars", "turnover", "n_returns")

# streaming vs array metrics: sums in one pass vs two-pass numpy; stated and tested tolerance
STREAMING_RTOL = 1e-9
STREAMING_ATOL = 1e-12

def timeframe_seconds(timeframe: str) -> int:
    """Seconds per bar of ``timeframe`` ('1m' -> 60), from ``lq_engine.data.schema``."""
    from lq_engine.data.schema import NS_PER_SECOND, timeframe_to_ns  # lazily: data.schema loads polars

    return timeframe_to_ns(timeframe) // NS_PER_SECOND


def periods_per_year(timeframe: str, calendar: str) -> float:
    """Bars per year: the one definition is ``lq_engine.data.schema.periods_per_year`` (24/7 1m ->
    525,600; equities 1d -> 252). Imported lazily: data.schema loads polars, and nothing in
    kernels may load polars before ``threads.configure_threads``."""
    from lq_engine.data.schema import periods_per_year as data_periods_per_year  # lazy: loads polars

    return data_periods_per_year(timeframe, calendar)


# ---------------------------------------------------------------- array (reference) versions

def equity_curve(returns: np.ndarray) -> np.ndarray:
    """Equity with the starting value 1 prepended (len(returns) + 1 points)."""
    return np.concatenate(([1.0], np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))))


def sharpe(returns: np.ndarray, ppy: float) -> float:
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return 0.0
    sd = r.std(ddof=1)
    return float(r.mean() / sd * math.sqrt(ppy)) if sd > 0 else 0.0


def sortino(returns: np.ndarray, ppy: float) -> float:
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return 0.0
    dd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return float(r.mean() / dd * math.sqrt(ppy)) if dd > 0 else 0.0


def volatility(returns: np.ndarray, ppy: float) -> float:
    r = np.asarray(returns, dtype=np.float64)
    return float(r.std(ddof=1) * math.sqrt(ppy)) if r.size >= 2 else 0.0


def cagr(growth: float, years: float) -> float:
    if years <= 0:
        return 0.0
    if growth <= 0:
        return -1.0
    with np.errstate(over="ignore"):  # a huge gain over a tiny span annualizes to inf, not an error
        return float(np.power(np.float64(growth), 1.0 / years) - 1.0)


def underwater(equity: np.ndarray) -> np.ndarray:
    """Drawdown at each bar: equity / running peak - 1 (0 at a new high, negative below it)."""
    e = np.asarray(equity, dtype=np.float64)
    return e / np.maximum.accumulate(e) - 1.0 if e.size else e


def max_drawdown(equity: np.ndarray) -> float:
    e = np.asarray(equity, dtype=np.float64)
    if e.size == 0:
        return 0.0
    peak = np.maximum.accumulate(e)
    return float(np.max((peak - e) / peak))


def monthly_returns(ts: np.ndarray, equity: np.ndarray) -> dict[tuple[int, int], float]:
    """(year, month) -> the equity's return over that calendar month (UTC), from the last value of
    the month before (the first value, for the first month) to the month's last value."""
    e = np.asarray(equity, dtype=np.float64)
    if e.size == 0:
        return {}
    d = np.asarray(ts, dtype=np.int64).astype("datetime64[ns]").astype("datetime64[M]")
    ends = np.flatnonzero(np.r_[d[1:] != d[:-1], True])
    out, prev = {}, e[0]
    for k in ends:
        m = d[k].astype(object)
        out[(m.year, m.month)] = float(e[k] / prev - 1.0)
        prev = e[k]
    return out


def max_drawdown_duration(equity: np.ndarray) -> int:
    """Longest run of bars below the running peak (vectorized: run lengths from the mask's edges)."""
    e = np.asarray(equity, dtype=np.float64)
    under = e < np.maximum.accumulate(e)
    if not under.any():
        return 0
    edges = np.diff(np.concatenate(([0], under.view(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 else 0.0


def _return_metrics(r: np.ndarray, trade_returns: np.ndarray, ppy: float) -> dict[str, float]:
    n = r.size
    e = equity_curve(r)
    growth = float(e[-1])
    years = n / ppy
    c = cagr(growth, years)
    mdd = max_drawdown(e)
    tr = np.asarray(trade_returns, dtype=np.float64)
    gains, losses = float(tr[tr > 0].sum()), float(-tr[tr < 0].sum())
    return {
        "total_return": growth - 1.0,
        "cagr": c,
        "sharpe": sharpe(r, ppy),
        "sortino": sortino(r, ppy),
        "volatility": volatility(r, ppy),
        "max_drawdown": mdd,
        "max_drawdown_duration": float(max_drawdown_duration(e)),
        "calmar": _ratio(c, mdd),
        "win_rate": _ratio(int((tr > 0).sum()), tr.size),
        "profit_factor": (gains / losses) if losses > 0 else (math.inf if gains > 0 else 0.0),
    }


def _position_metrics(h: np.ndarray) -> dict[str, float]:
    """Trade count, exposure and turnover from the exposure held at each close: (n,) for one symbol,
    (n, symbols) for a portfolio (a trade is one symbol's run on one side; exposed = anything held)."""
    h = np.asarray(h, dtype=np.float64)
    h2 = h[:, None] if h.ndim == 1 else h
    prev = np.vstack([np.zeros((1, h2.shape[1])), h2[:-1]])
    starts = (h2 != 0) & (np.sign(h2) != np.sign(prev))  # a resize on the same side is not a new trade
    n = h2.shape[0]
    return {
        "trade_count": float(starts.sum()),
        "exposure": float(np.mean(np.any(h2 != 0, axis=1))) if n else 0.0,
        "turnover": float(np.abs(h2 - prev).sum()),
    }


def summarize(returns: np.ndarray, held: np.ndarray, trade_returns: np.ndarray, ppy: float) -> dict[str, float]:
    """All metrics from the per-bar returns, the exposure held over each of those bars and the
    per-trade returns."""
    r = np.asarray(returns, dtype=np.float64)
    return {**_return_metrics(r, trade_returns, ppy), **_position_metrics(held)}


def summarize_portfolio(returns: np.ndarray, held: np.ndarray, trade_returns: np.ndarray,
                        ppy: float) -> dict[str, float]:
    """``summarize`` for a portfolio: ``held`` is (bars, symbols); trades are per-symbol round trips."""
    h = np.asarray(held)
    return summarize(returns, h if h.ndim == 2 else h.reshape(len(returns), -1), trade_returns, ppy)  # (0, S) too


# ---------------------------------------------------------------- streaming accumulators -> metrics

def finalize(acc: np.ndarray, ppy: float) -> dict[str, np.ndarray]:
    """Metrics for every row of an accumulator matrix (n_sets, N_ACC) written by a kernel."""
    acc = np.asarray(acc, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != N_ACC:
        raise ValueError(f"accumulators: expected shape (n, {N_ACC}), got {acc.shape}")
    eq, s1, s2, sd = (acc[:, k] for k in (ACC_EQ, ACC_S1, ACC_S2, ACC_SD))
    gains, twin, losses, n = acc[:, ACC_TGAIN], acc[:, ACC_TWIN], acc[:, ACC_TLOSS], acc[:, ACC_NRET]
    trades = acc[:, ACC_TRADES]
    mdd = acc[:, ACC_MAXDD]
    root = math.sqrt(ppy)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean = np.where(n > 0, s1 / n, 0.0)
        var = np.where(n > 1, (s2 - s1 * s1 / n) / (n - 1), 0.0)
        std = np.sqrt(np.maximum(var, 0.0))
        down = np.sqrt(np.where(n > 0, sd / n, 0.0))
        years = n / ppy
        cg = np.where(years > 0, np.where(eq > 0, eq ** (1.0 / years) - 1.0, -1.0), 0.0)
        out = {
            "total_return": eq - 1.0,
            "cagr": cg,
            "sharpe": np.where(std > 0, mean / std * root, 0.0),
            "sortino": np.where(down > 0, mean / down * root, 0.0),
            "volatility": std * root,
            "max_drawdown": mdd,
            "max_drawdown_duration": acc[:, ACC_MAXDD_DUR].copy(),
            "calmar": np.where(mdd != 0, cg / mdd, 0.0),
            "win_rate": np.where(trades > 0, twin / trades, 0.0),
            "profit_factor": np.where(losses > 0, gains / losses, np.where(gains > 0, np.inf, 0.0)),
            "trade_count": trades.copy(),
            "exposure": np.where(n > 0, acc[:, ACC_EXPOSED] / n, 0.0),
            "turnover": acc[:, ACC_TURNOVER].copy(),
        }
    return out


# ---------------------------------------------------------------- overfitting controls

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def expected_max_sharpe(n_trials: int, trial_sr_variance: float) -> float:
    """SR0: the expected maximum Sharpe of ``n_trials`` unskilled trials (False Strategy Theorem)."""
    if n_trials < 2:
        return 0.0
    g = EULER_GAMMA
    return math.sqrt(trial_sr_variance) * (
        (1 - g) * _N.inv_cdf(1 - 1 / n_trials) + g * _N.inv_cdf(1 - 1 / (n_trials * math.e))
    )


def deflated_sharpe_ratio(
    sr: float, n_obs: int, skew: float, kurtosis: float, n_trials: int, trial_sr_variance: float
) -> tuple[float, float]:
    """(DSR, SR0) with per-period (non-annualized) Sharpe ratios; ``kurtosis`` is NOT excess.

    ``n_trials`` must count every configuration evaluated, prefilter included, and
    ``trial_sr_variance`` is the variance of their Sharpe ratios.
    """
    sr0 = expected_max_sharpe(n_trials, trial_sr_variance)
    den = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if n_obs < 2 or den <= 0:
        return 0.0, sr0
    z = (sr - sr0) * math.sqrt(n_obs - 1) / math.sqrt(den)
    return _N.cdf(z), sr0


def deflated_sharpe_from_returns(returns: np.ndarray, trial_sharpes: np.ndarray) -> tuple[float, float]:
    """DSR of ``returns`` (the selected strategy) given the per-period Sharpe of every trial run."""
    r = np.asarray(returns, dtype=np.float64)
    sd = r.std(ddof=1)
    sr = float(r.mean() / sd) if sd > 0 else 0.0
    m, s = r.mean(), r.std(ddof=0)
    skew = float(np.mean((r - m) ** 3) / s**3) if s > 0 else 0.0
    kurt = float(np.mean((r - m) ** 4) / s**4) if s > 0 else 3.0
    t = np.asarray(trial_sharpes, dtype=np.float64)
    var = float(t.var(ddof=1)) if t.size > 1 else 0.0
    return deflated_sharpe_ratio(sr, r.size, skew, kurt, int(t.size), var)


def sharpe_from_sums(s1: np.ndarray, s2: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per-period Sharpe (mean / std ddof 1) from sums of r, r^2 and counts; 0 where std is 0 or n < 2."""
    s1, s2, n = (np.asarray(x, dtype=np.float64) for x in (s1, s2, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s1 / n, 0.0)
        var = np.where(n > 1, (s2 - s1 * mean) / (n - 1), 0.0)
        sd = np.sqrt(np.maximum(var, 0.0))
        return np.where(sd > 0, mean / sd, 0.0)


def cscv_splits(n_groups: int) -> np.ndarray:
    """Every choice of half the groups as the training set, (C(S, S/2), S) bool, in
    ``itertools.combinations`` order."""
    combos = list(itertools.combinations(range(n_groups), n_groups // 2))
    out = np.zeros((len(combos), n_groups), dtype=bool)
    for k, c in enumerate(combos):
        out[k, list(c)] = True
    return out


def pbo_from_group_sums(sums: np.ndarray, counts: np.ndarray) -> tuple[float, np.ndarray]:
    """CSCV (Bailey, Borwein, Lopez de Prado & Zhu 2017) from per-group sums: (PBO, logits).

    ``sums`` is (N configurations, S groups, 2): the sums of r and r^2 of each configuration's returns
    in each contiguous time group, ``counts`` (N, S) or (S,) the returns counted there. Every half of
    the groups is a training set and the other half its test set; a configuration's performance on a
    set of groups is the Sharpe of the returns pooled over them. The in-sample best (first on ties)
    gets relative test rank w = rank / (N + 1) (rank 1 = worst; rank = 1 + number of configurations
    strictly worse); logit = ln(w / (1 - w)); PBO is the share of splits with logit <= 0. Memory:
    O(N x S) plus a bounded block of splits at a time."""
    g = np.asarray(sums, dtype=np.float64)
    if g.ndim != 3 or g.shape[2] != 2 or g.shape[0] < 2:
        raise ValueError(f"PBO: expected (N>=2, S, 2) group sums, got shape {g.shape}")
    n, s = g.shape[0], g.shape[1]
    if s < 2 or s % 2:
        raise ValueError(f"PBO: the number of groups must be even and >= 2, got {s}")
    c = np.broadcast_to(np.asarray(counts, dtype=np.float64), (n, s))
    splits = cscv_splits(s).astype(np.float64)
    t1, t2, tn = g[:, :, 0].sum(axis=1), g[:, :, 1].sum(axis=1), c.sum(axis=1)
    logits = np.empty(splits.shape[0])
    block = max(1, 2_000_000 // max(n, 1))
    for lo in range(0, splits.shape[0], block):
        sp = splits[lo:lo + block]
        a1, a2, an = sp @ g[:, :, 0].T, sp @ g[:, :, 1].T, sp @ c.T  # (splits, N) in-sample sums
        is_perf = sharpe_from_sums(a1, a2, an)
        oos = sharpe_from_sums(t1 - a1, t2 - a2, tn - an)
        best = np.argmax(is_perf, axis=1)
        rank = 1 + np.sum(oos < oos[np.arange(sp.shape[0]), best][:, None], axis=1)
        w = rank / (n + 1)
        logits[lo:lo + block] = np.log(w / (1 - w))
    return float(np.mean(logits <= 0)), logits


def group_sums_of_matrix(returns: np.ndarray, n_splits: int) -> tuple[np.ndarray, np.ndarray]:
    """((N, S, 2) sums of r and r^2, (S,) counts) of a (T, N) return matrix cut into ``n_splits``
    contiguous row groups (``np.array_split``)."""
    m = np.asarray(returns, dtype=np.float64)
    groups = np.array_split(np.arange(m.shape[0]), n_splits)
    sums = np.stack([np.stack([m[i].sum(axis=0), (m[i] * m[i]).sum(axis=0)], axis=1) for i in groups], axis=1)
    return sums, np.array([len(i) for i in groups], dtype=np.float64)


def probability_of_backtest_overfitting(returns: np.ndarray, n_splits: int = 16) -> tuple[float, np.ndarray]:
    """CSCV on a (T observations, N configurations) matrix: rows cut into ``n_splits`` (even)
    contiguous groups, then ``pbo_from_group_sums``. (PBO, logits)."""
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"PBO: expected a (T, N>=2) matrix, got shape {m.shape}")
    if n_splits < 2 or n_splits % 2:
        raise ValueError(f"PBO: n_splits must be even and >= 2, got {n_splits}")
    t, n = m.shape
    if t < 2 * n_splits:
        raise ValueError(f"PBO: {t} observations are too few for {n_splits} groups of >= 2 rows")
    sums, counts = group_sums_of_matrix(m, n_splits)
    return pbo_from_group_sums(sums, counts)
