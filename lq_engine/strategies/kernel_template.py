"""The loops every API strategy runs in: source text that ``codegen`` copies into a module generated
per strategy (so numba caches each strategy's kernels under its own file and source hash).

This file is never compiled as it is: the names marked "provided by the generated module" are
defined there (the strategy's ``decide``/``exits``, its namedtuples of parameters and indicators).

Two loops share one decision step (``_decide_bar``), so every driver sees the same decisions:
- ``decision_loop``: one parameter set over one series: the target (and exit fractions) decided at
  every bar's close. The replay, the event engine, the paper trader and the lookahead check use it.
- ``sweep``: many parameter sets in parallel (``prange``, one set per iteration: results do not
  depend on the thread count): each set's decisions, then ``kernels.simplified.account``, the
  prefilter's simplified fills (as the replay's under ``ExecutionConfig.simplified()``, the
  strategy's own exits included) streamed into the metric accumulators of ``kernels.metrics``.

The position a decision sees is the strategy's own, not the account's: ``pos.target`` (in force
since the last open), ``pos.entry_price`` (the open where the current side was entered) and
``pos.bars_held`` (closes since then, that bar included). It depends on the bars and the decisions
only, never on fills, so every driver and fill model makes the same decisions.
"""

# ruff: noqa: F821  (names provided by the generated module)

import math

import numpy as np
from numba import prange

# --- provided by the generated module -------------------------------------------------------------
# _decide, _exits, HAS_EXITS, Pos, BarsTuple, _ind(bank, idx_row), _params(prow), _init_state(st), account

ERR_TARGET = 1.0  # decide returned NaN or a value outside [-1, 1]
ERR_EXITS = 2.0  # exits returned a fraction that is not NaN and not in (0, 1)
NAN = math.nan


def _sgn(x):
    if x > 0.0:
        return 1
    if x < 0.0:
        return -1
    return 0


def _take_force(nt, tgt, entry, held, o_j):
    """The target decided at the previous close takes force at this open: a new side records the
    open as its entry price and restarts the bar count; flat clears both."""
    if nt == 0.0:
        return nt, NAN, 0
    if _sgn(nt) != _sgn(tgt):
        return nt, o_j, 0
    return nt, entry, held


def _decide_bar(i, bars, ind, p, st, tgt, entry, held, err):
    """One decision at bar i's close: (target, stop_loss, take_profit, trailing, ok)."""
    pos = Pos(tgt, entry, held)
    t = _decide(i, bars, ind, p, pos, st)
    t = float(t)
    sl = NAN
    tp = NAN
    tr = NAN
    if not (t >= -1.0 and t <= 1.0):
        err[0] = i
        err[1] = ERR_TARGET
        err[2] = t
        return t, sl, tp, tr, False
    if HAS_EXITS and t != 0.0 and _sgn(t) != _sgn(tgt):
        e = _exits(i, bars, ind, p, pos, st)
        sl = float(e[0])
        tp = float(e[1])
        tr = float(e[2])
        for k, x in enumerate((sl, tp, tr)):
            if x == x and not (x > 0.0 and x < 1.0):
                err[0] = i
                err[1] = ERR_EXITS + k / 10.0
                err[2] = x
                return t, sl, tp, tr, False
    return t, sl, tp, tr, True


def _decisions(bars, ind, p, st, targets, exits, err):
    """Targets (and, with HAS_EXITS, exit fractions) of one set at every close; False at the first
    invalid one (``err`` says which bar and value)."""
    _init_state(st)
    o = bars.open
    n = o.shape[0]
    tgt = 0.0
    entry = NAN
    held = 0
    t = 0.0  # the last decision (kept in a register, not read back from targets)
    for i in range(n):
        if t != tgt:
            tgt, entry, held = _take_force(t, tgt, entry, held, o[i])
        if tgt != 0.0:
            held += 1
        t, sl, tp, tr, ok = _decide_bar(i, bars, ind, p, st, tgt, entry, held, err)
        if not ok:
            return False
        targets[i] = t
        if HAS_EXITS:
            exits[i, 0] = sl
            exits[i, 1] = tp
            exits[i, 2] = tr
    return True


def decision_loop(o, h, lo, c, v, ts, bank, idx_row, prow, states, targets, exits, err):
    """One parameter set over one series (the replay's, event engine's and paper trader's decisions)."""
    _decisions(BarsTuple(o, h, lo, c, v, ts), _ind(bank, idx_row), _params(prow), states[0], targets, exits, err)


def sweep(o, h, lo, c, v, ts, rets, bank, idx, pmat, states, fee, slip, acc, err):
    """Every parameter set (row of ``pmat``) over one series, in parallel, one set per iteration:
    its decisions, then ``kernels.simplified.account`` (the prefilter's fills and metrics)."""
    bars = BarsTuple(o, h, lo, c, v, ts)
    n = c.shape[0]
    for k in prange(pmat.shape[0]):
        targets = np.empty(n)
        exits = np.empty((n if HAS_EXITS else 1, 3))
        if _decisions(bars, _ind(bank, idx[k]), _params(pmat[k]), states[k], targets, exits, err[k]):
            account(o, h, lo, c, rets, targets, exits, HAS_EXITS, fee, slip, acc[k])


# --- portfolio strategies ------------------------------------------------------------------------
# provided by the generated module: PanelTuple, GROSS (the strategy's gross cap), ERR_GROSS

def _ptake_force(j, o, mask, w, tgt, entry, held):
    """Weights decided at the previous close take force at this clock bar for the symbols that have a
    bar here (the others keep theirs pending); a new side records the open as its entry price."""
    for s in range(tgt.shape[0]):
        if mask[s, j] and w[s] != tgt[s]:
            if w[s] == 0.0:
                entry[s] = NAN
                held[s] = 0
            elif _sgn(w[s]) != _sgn(tgt[s]):
                entry[s] = o[s, j]
                held[s] = 0
            tgt[s] = w[s]
        if tgt[s] != 0.0:
            held[s] += 1


def _pdecisions(bars, ind, p, st, targets, rebal, tgt, entry, held, w, err):
    """Weights of one set at every clock close (``targets``: bars x symbols) and whether decide asked
    to rebalance every symbol to them (``rebal``: it returned True); False at the first invalid
    decision (``err``: bar, code, value, symbol)."""
    _init_state(st)
    o = bars.open
    mask = bars.mask
    n_sym = o.shape[0]
    n = o.shape[1]
    for s in range(n_sym):
        tgt[s] = 0.0
        entry[s] = NAN
        held[s] = 0
        w[s] = 0.0
    for i in range(n):
        if i > 0:
            _ptake_force(i, o, mask, w, tgt, entry, held)
        r = _decide(i, bars, ind, p, Pos(tgt, entry, held), st, w)
        rebal[i] = r is not None and r
        gross = 0.0
        for s in range(n_sym):
            x = w[s]
            if not (x - x == 0.0):  # NaN or infinite
                err[0] = i
                err[1] = ERR_TARGET
                err[2] = x
                err[3] = s
                return False
            gross += abs(x)
            targets[i, s] = x
        if gross > GROSS * (1.0 + 1e-12):
            err[0] = i
            err[1] = ERR_GROSS
            err[2] = gross
            err[3] = -1
            return False
    return True


def pdecision_loop(o, h, lo, c, v, ts, mask, bank, idx_row, prow, states, targets, rebal, err):
    """One parameter set over one panel (the replay's, event engine's and paper trader's weights)."""
    n_sym = o.shape[0]
    _pdecisions(PanelTuple(o, h, lo, c, v, ts, mask), _ind(bank, idx_row), _params(prow), states[0], targets, rebal,
                np.empty(n_sym), np.empty(n_sym), np.empty(n_sym, dtype=np.int64), np.empty(n_sym), err)


def psweep(o, h, lo, c, v, ts, mask, bank, idx, pmat, states, fee, slip, acc, err):
    """Every parameter set over one panel, in parallel: its weights, then ``kernels.portfolio.account``."""
    bars = PanelTuple(o, h, lo, c, v, ts, mask)
    n_sym = o.shape[0]
    n = o.shape[1]
    for k in prange(pmat.shape[0]):
        targets = np.empty((n, n_sym))
        rebal = np.empty(n, dtype=np.bool_)
        if _pdecisions(bars, _ind(bank, idx[k]), _params(pmat[k]), states[k], targets, rebal, np.empty(n_sym),
                       np.empty(n_sym), np.empty(n_sym, dtype=np.int64), np.empty(n_sym), err[k]):
            portfolio_account(o, c, mask, targets, rebal, fee, slip, acc[k])
