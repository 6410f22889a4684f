"""Numba backend: the fused one-pass sweep kernel and the batched metric workload.

Per parameter set ONE pass over the bars does decision (``rules.rule_step``), position, fee,
equity and the streaming accumulators of ``metrics`` (no allocation inside). Sets run in parallel
with ``prange``; a set is never split, so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from lq_engine.kernels.metrics import N_ACC
from lq_engine.strategies.bank import P_LONG, P_SHORT, R_GAP, R_INTRA, R_LONG, R_SHORT
from lq_engine.strategies.rules import rule_step


@njit(cache=True, inline="always")
def run_program(bank, rets, ip, fp, cost, acc):
    """Stream one rule program over the series into ``acc`` (a row of N_ACC floats).

    Per bar in an unchanged position only equity and drawdown move; the return sums of such a run
    come from the per-series prefix rows of ``rets`` when the run ends (see bank.market_returns),
    so the hot path is ``eq *= 1 + r[j]`` plus the drawdown compare and the decision.
    """
    n = bank.shape[1]
    pos = 0
    held = 0
    ext = 0.0
    eq = 1.0
    s1 = 0.0
    s2 = 0.0
    sd = 0.0
    tgain = 0.0
    tloss = 0.0
    twin = 0
    peak = 1.0
    trough = 1.0
    last_pk = 0
    maxdd = 0.0
    maxdur = 0
    trades = 0
    exposed = 0
    start = 0
    last_chg = 0
    v0 = 1.0
    turnover = 0.0
    ela, elb, xla, xlb, esa, esb, xsa, xsb, stop = ip[0], ip[1], ip[2], ip[3], ip[4], ip[5], ip[6], ip[7], ip[8]
    elt, xlt, est, xst, k = fp[0], fp[1], fp[2], fp[3], fp[4]
    for j in range(n):
        if j > 0 and (held != 0 or pos != 0):
            if pos == held:
                if held == 1:
                    ret = rets[R_LONG, j]
                else:
                    ret = rets[R_SHORT, j]
            else:
                gap = 1.0 + held * rets[R_GAP, j]
                if held != 0:
                    base = P_LONG if held == 1 else P_SHORT
                    s1 += rets[base, j - 1] - rets[base, last_chg]
                    s2 += rets[base + 1, j - 1] - rets[base + 1, last_chg]
                    sd += rets[base + 2, j - 1] - rets[base + 2, last_chg]
                    exposed += j - start
                    tr = eq * gap * (1.0 - cost * abs(held)) / v0 - 1.0
                    if tr > 0.0:
                        tgain += tr
                        twin += 1
                    elif tr < 0.0:
                        tloss -= tr
                d = abs(pos - held)
                ret = gap * (1.0 - cost * d) * (1.0 + pos * rets[R_INTRA, j]) - 1.0
                s1 += ret
                s2 += ret * ret
                if ret < 0.0:
                    sd += ret * ret
                turnover += d
                if pos != 0:
                    trades += 1
                    start = j
                    v0 = eq * gap * (1.0 - cost * abs(held))
                if eq >= peak:
                    last_pk = j - 1
                held = pos
                last_chg = j
            eq *= 1.0 + ret
            trough = eq if eq < trough else trough  # a select, not a branch
            if eq >= peak:
                if trough < peak:
                    dd = (peak - trough) / peak
                    if dd > maxdd:
                        maxdd = dd
                    if j - last_pk - 1 > maxdur:
                        maxdur = j - last_pk - 1
                peak = eq
                trough = eq
                last_pk = j
        pos, ext = rule_step(bank, j, pos, ext, ela, elb, xla, xlb, esa, esb, xsa, xsb, stop, elt, xlt, est, xst, k)
    if held != 0:
        base = P_LONG if held == 1 else P_SHORT
        s1 += rets[base, n - 1] - rets[base, last_chg]
        s2 += rets[base + 1, n - 1] - rets[base + 1, last_chg]
        sd += rets[base + 2, n - 1] - rets[base + 2, last_chg]
        exposed += n - start
        tr = eq / v0 - 1.0
        if tr > 0.0:
            tgain += tr
            twin += 1
        elif tr < 0.0:
            tloss -= tr
    if trough < peak:
        dd = (peak - trough) / peak
        if dd > maxdd:
            maxdd = dd
        if n - 1 - last_pk > maxdur:
            maxdur = n - 1 - last_pk
    acc[0] = eq
    acc[1] = s1
    acc[2] = s2
    acc[3] = sd
    acc[4] = tgain
    acc[5] = twin
    acc[6] = tloss
    acc[7] = maxdd
    acc[8] = maxdur
    acc[9] = trades
    acc[10] = exposed
    acc[11] = turnover
    acc[12] = max(n - 1, 0)


@njit(cache=True, parallel=True)
def _sweep(bank, rets, ip, fp, cost, out):
    for k in prange(ip.shape[0]):
        run_program(bank, rets, ip[k], fp[k], cost, out[k])


def sweep(bank: np.ndarray, rets: np.ndarray, ip: np.ndarray, fp: np.ndarray, cost: float) -> np.ndarray:
    out = np.empty((ip.shape[0], N_ACC))
    if ip.shape[0]:
        _sweep(bank, rets, ip, fp, float(cost), out)
    return out


@njit(cache=True, inline="always")
def _dd_step(x, peak, trough, maxdd):
    trough = x if x < trough else trough
    if x >= peak:
        if trough < peak:
            dd = (peak - trough) / peak
            if dd > maxdd:
                maxdd = dd
        peak = x
        trough = x
    return peak, trough, maxdd


@njit(cache=True, inline="always")
def metric_eval(e, ppy, out):
    """Sharpe, CAGR (years = len / ppy, the original's rule) and max drawdown of one curve in one
    pass. Returns r = (e[i] - e[i-1]) / e[i-1] are summed in four interleaved partial sums (lanes
    i mod 4, combined as (l0 + l1) + (l2 + l3)), which breaks the add latency chain; the order is
    fixed, so the result is deterministic and the C / Rust kernels reproduce it bit for bit."""
    n = e.shape[0]
    a0 = a1 = a2 = a3 = 0.0
    q0 = q1 = q2 = q3 = 0.0
    peak = e[0]
    trough = e[0]
    maxdd = 0.0
    i = 1
    while i + 3 < n:
        r0 = (e[i] - e[i - 1]) / e[i - 1]
        r1 = (e[i + 1] - e[i]) / e[i]
        r2 = (e[i + 2] - e[i + 1]) / e[i + 1]
        r3 = (e[i + 3] - e[i + 2]) / e[i + 2]
        a0 += r0
        a1 += r1
        a2 += r2
        a3 += r3
        q0 += r0 * r0
        q1 += r1 * r1
        q2 += r2 * r2
        q3 += r3 * r3
        peak, trough, maxdd = _dd_step(e[i], peak, trough, maxdd)
        peak, trough, maxdd = _dd_step(e[i + 1], peak, trough, maxdd)
        peak, trough, maxdd = _dd_step(e[i + 2], peak, trough, maxdd)
        peak, trough, maxdd = _dd_step(e[i + 3], peak, trough, maxdd)
        i += 4
    while i < n:
        r0 = (e[i] - e[i - 1]) / e[i - 1]
        a0 += r0
        q0 += r0 * r0
        peak, trough, maxdd = _dd_step(e[i], peak, trough, maxdd)
        i += 1
    if trough < peak:
        dd = (peak - trough) / peak
        if dd > maxdd:
            maxdd = dd
    s1 = (a0 + a1) + (a2 + a3)
    s2 = (q0 + q1) + (q2 + q3)
    m = n - 1
    sharpe = 0.0
    if m > 1:
        var = (s2 - s1 * s1 / m) / (m - 1)
        if var > 0.0:
            sharpe = (s1 / m) / np.sqrt(var) * np.sqrt(ppy)
    out[0] = sharpe
    out[1] = (e[n - 1] / e[0]) ** (1.0 / (n / ppy)) - 1.0
    out[2] = maxdd


@njit(cache=True, parallel=True)
def _metric_batch(e, ppy, out):
    for k in prange(out.shape[0]):
        metric_eval(e, ppy, out[k])


def metric_batch(equity: np.ndarray, n_evals: int, ppy: float = 252.0) -> np.ndarray:
    """``n_evals`` independent evaluations of the metric workload on one curve: (n_evals, 3)."""
    out = np.empty((n_evals, 3))
    _metric_batch(equity, float(ppy), out)
    return out


@njit(cache=True)
def reference_three_pass(e, ppy):
    """The original's plain metric workload, kept as the benchmark baseline: returns into a new
    array, then mean and variance, then drawdown (three passes, one allocation)."""
    n = e.shape[0]
    r = np.empty(n - 1)
    for i in range(n - 1):
        r[i] = (e[i + 1] - e[i]) / e[i]
    m = 0.0
    for i in range(n - 1):
        m += r[i]
    m /= n - 1
    v = 0.0
    for i in range(n - 1):
        v += (r[i] - m) ** 2
    v /= n - 2
    sharpe = m / np.sqrt(v) * np.sqrt(ppy) if v > 0 else 0.0
    cagr = (e[n - 1] / e[0]) ** (1.0 / (n / ppy)) - 1.0
    peak = e[0]
    mdd = 0.0
    for i in range(n):
        if e[i] > peak:
            peak = e[i]
        dd = (peak - e[i]) / peak
        if dd > mdd:
            mdd = dd
    return sharpe, cagr, mdd


def warmup() -> None:
    """Compile (or load from cache) both kernels on a tiny input."""
    from lq_engine.strategies.bank import N_RETS
    from lq_engine.strategies.rules import N_FLOAT, N_INT

    bank = np.ones((2, 3))
    sweep(bank, np.zeros((N_RETS, 3)), np.zeros((1, N_INT), np.int64), np.full((1, N_FLOAT), np.inf), 0.0)
    metric_batch(np.ones(3), 1)
    reference_three_pass(np.ones(3), 252.0)
