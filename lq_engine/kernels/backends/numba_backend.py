"""Numba backend: the fused one-pass sweep kernel and the batched metric workload.

Per parameter set ONE pass over the bars does decision (``rules.rule_step``), position, fee,
equity and the streaming accumulators of ``metrics`` (no allocation inside). Sets run in parallel
with ``prange``; a set is never split, so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from lq_engine.kernels.accumulators import close_out
from lq_engine.kernels.groups import book, book_prefix, has_groups, wide_acc
from lq_engine.kernels.fills import change_fills
from lq_engine.kernels.returns import N_RETS, P_D2, P_R, P_R2, R_OPEN
from lq_engine.kernels.rules import CLOSE_ROW, N_FLOAT, N_INT, rule_step


W = 4  # bars per block on the fast path


@njit(cache=True, inline="always")
def _fires(a, b, t, j):
    """Whether ``a[i] - b[i] > t`` for any i in j..j+3 (no short circuit: no branches)."""
    return (a[j] - b[j] > t) | (a[j + 1] - b[j + 1] > t) | (a[j + 2] - b[j + 2] > t) | (a[j + 3] - b[j + 3] > t)


@njit(cache=True, inline="always")
def _down2(r):
    """min(r, 0)^2 (adding the 0.0 of an up bar leaves a sum unchanged)."""
    return r * r if r < 0.0 else 0.0


@njit(cache=True, inline="always")
def dd_bar(x, j, peak, trough, maxdd, last_pk, maxdur):
    """Drawdown state after marking equity ``x`` at bar ``j``."""
    trough = x if x < trough else trough  # a select, not a branch
    if x >= peak:
        if trough < peak:
            dd = (peak - trough) / peak
            if dd > maxdd:
                maxdd = dd
            if j - last_pk - 1 > maxdur:
                maxdur = j - last_pk - 1
        peak = x
        trough = x
        last_pk = j
    return peak, trough, maxdd, last_pk, maxdur


@njit(cache=True, inline="always")
def run_program(bank, rets, ip, fp, cost, acc):
    """Stream one rule program over the series into ``acc`` (a row of N_ACC floats).

    The account is ``(cash, units)`` with fixed units between changes (``kernels.fills``), so
    equity at close j is ``cash + units * close[j]``, exactly the replay's mark. A held long run's
    return sums come from the prefix rows of ``rets`` when it ends; a short run's returns (they
    depend on its entry) are summed bar by bar; a flat bar costs only the decision.

    Fast path, blocks of W = 4 bars with no pending change (and no ATR stop while held): the
    conditions that could change the state are evaluated for all four bars without branches; if
    none fires, the block is booked at once (equity marks, short returns in bar order, and the
    trough as a min when no mark reaches the peak), which is exactly what four single-bar steps
    would do. Otherwise the bars go through the single-bar step.
    """
    n = bank.shape[1]
    grouped = has_groups(acc)  # a wide row: also stream per-group sums (``kernels.groups``)
    cl = bank[CLOSE_ROW]
    op = rets[R_OPEN]
    ela, elb, xla, xlb, esa, esb, xsa, xsb, stop = ip[0], ip[1], ip[2], ip[3], ip[4], ip[5], ip[6], ip[7], ip[8]
    elt, xlt, est, xst, k = fp[0], fp[1], fp[2], fp[3], fp[4]
    ela_r, elb_r, xla_r, xlb_r = bank[ela], bank[elb], bank[xla], bank[xlb]
    esa_r, esb_r, xsa_r, xsb_r = bank[esa], bank[esb], bank[xsa], bank[xsb]
    held = 0
    cash = 1.0
    units = 0.0
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
    turnover = 0
    ext = 0.0
    pos = 0
    if n > 0:
        pos, ext = rule_step(bank, 0, pos, ext, ela, elb, xla, xlb, esa, esb, xsa, xsb, stop, elt, xlt, est, xst, k)
    j = 1
    while j < n:
        if pos == held and j + W <= n:
            if held == 0:
                if not (_fires(ela_r, elb_r, elt, j) | _fires(esa_r, esb_r, est, j)):
                    j += W
                    continue
            elif stop < 0:
                if held == 1:
                    fired = _fires(xla_r, xlb_r, xlt, j)
                else:
                    fired = _fires(xsa_r, xsb_r, xst, j)
                if not fired:
                    e0 = cash + units * cl[j]
                    e1 = cash + units * cl[j + 1]
                    e2 = cash + units * cl[j + 2]
                    e3 = cash + units * cl[j + 3]
                    if held == -1:
                        r0 = e0 / eq - 1.0
                        r1 = e1 / e0 - 1.0
                        r2 = e2 / e1 - 1.0
                        r3 = e3 / e2 - 1.0
                        s1 += r0
                        s1 += r1
                        s1 += r2
                        s1 += r3
                        s2 += r0 * r0
                        s2 += r1 * r1
                        s2 += r2 * r2
                        s2 += r3 * r3
                        sd += _down2(r0)
                        sd += _down2(r1)
                        sd += _down2(r2)
                        sd += _down2(r3)
                        if grouped:
                            book(acc, j, r0)
                            book(acc, j + 1, r1)
                            book(acc, j + 2, r2)
                            book(acc, j + 3, r3)
                    if max(max(e0, e1), max(e2, e3)) < peak:
                        trough = min(trough, min(min(e0, e1), min(e2, e3)))
                    else:
                        peak, trough, maxdd, last_pk, maxdur = dd_bar(e0, j, peak, trough, maxdd, last_pk, maxdur)
                        peak, trough, maxdd, last_pk, maxdur = dd_bar(e1, j + 1, peak, trough, maxdd, last_pk, maxdur)
                        peak, trough, maxdd, last_pk, maxdur = dd_bar(e2, j + 2, peak, trough, maxdd, last_pk, maxdur)
                        peak, trough, maxdd, last_pk, maxdur = dd_bar(e3, j + 3, peak, trough, maxdd, last_pk, maxdur)
                    eq = e3
                    j += W
                    continue
        # the single-bar step
        if pos != held:
            if eq >= peak:
                last_pk = j - 1
            if held == 1:
                s1 += rets[P_R, j - 1] - rets[P_R, last_chg]
                s2 += rets[P_R2, j - 1] - rets[P_R2, last_chg]
                sd += rets[P_D2, j - 1] - rets[P_D2, last_chg]
                if grouped:
                    book_prefix(acc, rets, P_R, P_R2, last_chg, j - 1)
            e, cash1, cash, units = change_fills(cash, units, held, pos, op[j], cost)
            if held != 0:
                exposed += j - start
                tr = cash1 / v0 - 1.0
                if tr > 0.0:
                    tgain += tr
                    twin += 1
                elif tr < 0.0:
                    tloss -= tr
            now = pos if units != 0.0 else 0
            turnover += abs(now - held)
            if now != 0:
                trades += 1
                start = j
                v0 = cash1
            held = now
            last_chg = j
            prev = eq
            eq = cash + units * cl[j] if held != 0 else cash
            ret = eq / prev - 1.0
            s1 += ret
            s2 += ret * ret
            sd += _down2(ret)
            if grouped:
                book(acc, j, ret)
            if e <= 0.0:  # bankrupt: flat for good, equity frozen
                trough = eq if eq < trough else trough
                break
            peak, trough, maxdd, last_pk, maxdur = dd_bar(eq, j, peak, trough, maxdd, last_pk, maxdur)
        elif held != 0:
            prev = eq
            eq = cash + units * cl[j]
            if held == -1:
                ret = eq / prev - 1.0
                s1 += ret
                s2 += ret * ret
                sd += _down2(ret)
                if grouped:
                    book(acc, j, ret)
            peak, trough, maxdd, last_pk, maxdur = dd_bar(eq, j, peak, trough, maxdd, last_pk, maxdur)
        pos, ext = rule_step(bank, j, pos, ext, ela, elb, xla, xlb, esa, esb, xsa, xsb, stop, elt, xlt, est, xst, k)
        j += 1
    if held != 0:
        if held == 1:
            s1 += rets[P_R, n - 1] - rets[P_R, last_chg]
            s2 += rets[P_R2, n - 1] - rets[P_R2, last_chg]
            sd += rets[P_D2, n - 1] - rets[P_D2, last_chg]
            if grouped:
                book_prefix(acc, rets, P_R, P_R2, last_chg, n - 1)
        exposed += n - start
        tr = eq / v0 - 1.0
        if tr > 0.0:
            tgain += tr
            twin += 1
        elif tr < 0.0:
            tloss -= tr
    close_out(acc, n, eq, s1, s2, sd, tgain, twin, tloss, peak, trough, last_pk, maxdd, maxdur, trades, exposed,
              turnover)


@njit(cache=True)
def _run_set(bank, rets, ip, fp, cost, acc):
    """``run_program`` of one set (inlined here), a function of its own that the parallel loop of
    ``_sweep`` calls: numba types and lowers a ``prange`` body again as a gufunc, through its parallel
    passes, and with the whole program inlined into the loop that compile took most of
    ``backend_benchmark``'s cold time (``warmup``: 29.0 -> 13.9 CPU-s with ``_metric_one``, issue 21 #7).
    Same results, bit for bit; the trade: a call per set runs 11-18% slower than the inlined loop
    (single thread, 900 sets x 4,000 bars: 8.6-9.0 vs 7.7 ms CPU)."""
    run_program(bank, rets, ip, fp, cost, acc)


@njit(cache=True, parallel=True)
def _sweep(bank, rets, ip, fp, cost, out):
    for k in prange(ip.shape[0]):
        _run_set(bank, rets, ip[k], fp[k], cost, out[k])


def sweep(bank: np.ndarray, rets: np.ndarray, ip: np.ndarray, fp: np.ndarray, cost: float,
          ends: np.ndarray | None = None) -> np.ndarray:
    """Accumulators (n_sets, N_ACC), or wide rows with per-group sums when ``ends`` (group ends,
    ``kernels.groups``) is given."""
    out = wide_acc(ip.shape[0], ends)
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


@njit(cache=True)
def _metric_one(e, ppy, out):
    """``metric_eval`` (inlined here) called from ``_metric_batch``'s parallel loop: see ``_run_set``."""
    metric_eval(e, ppy, out)


@njit(cache=True, parallel=True)
def _metric_batch(e, ppy, out):
    for k in prange(out.shape[0]):
        _metric_one(e, ppy, out[k])


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
    """Compile (or load from cache) both kernels on a tiny input. The sweep's inputs are read-only,
    as ``compile_sweep`` makes them: numba types a read-only array apart from a writable one, and a
    writable warm-up compiled a signature nothing used before the real one compiled again (the
    parallel kernel twice: a third of ``backend_benchmark``'s cold time, issue 21 #7)."""
    inputs = [np.ones((2, 3)), np.zeros((N_RETS, 3)), np.zeros((1, N_INT), np.int64), np.full((1, N_FLOAT), np.inf)]
    for a in inputs:
        a.setflags(write=False)
    sweep(*inputs, 0.0)
    metric_batch(np.ones(3), 1)
    reference_three_pass(np.ones(3), 252.0)
