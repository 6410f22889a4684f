"""The loops every API strategy runs in: source text that ``codegen`` copies into a module generated
per strategy (so numba caches each strategy's kernels under its own file and source hash).

This file is never compiled as it is: the names marked "provided by the generated module" are
defined there (the strategy's ``decide``/``exits``, its namedtuples of parameters and indicators).

Two loops share one decision step (``_decide_bar``), so every driver sees the same decisions:
- ``decision_loop``: parameter sets over one series, one after the other: the target (and exit
  fractions) decided at every bar's close. The replay, the event engine, the paper trader (one set)
  and the lookahead check (many) use it.
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

from lq_engine.execution.sides import new_side

# --- provided by the generated module -------------------------------------------------------------
# _decide, _exits, HAS_EXITS, Pos, BarsTuple, _ind(bank, idx_row), _params(prow), _init_state(st), account

ERR_TARGET = 1.0  # decide returned NaN or a value outside [-1, 1]
ERR_EXITS = 2.0  # exits returned a fraction that is not NaN and not in (0, 1)
NAN = math.nan


def _take_force(nt, tgt, entry, held, o_j):
    """The target decided at the previous close takes force at this open: a new side records the
    open as its entry price and restarts the bar count; flat clears both."""
    if nt == 0.0:
        return nt, NAN, 0
    if new_side(nt, tgt):
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
    if HAS_EXITS and new_side(t, tgt):
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


def decision_loop(o, h, lo, c, v, ts, bank, idx, pmat, states, targets, exits, err):
    """Parameter sets (rows of ``pmat``; one for the replay, event engine and paper trader, many for
    the lookahead scan) over one series, one after the other: ``targets[k]``, ``exits[k]`` and
    ``err[k]`` are set k's. One call for many sets spares a Python dispatch per set."""
    bars = BarsTuple(borrowed(o), borrowed(h), borrowed(lo), borrowed(c), borrowed(v), borrowed(ts))
    for k in range(pmat.shape[0]):
        _decisions(bars, _ind(bank, idx[k]), _params(pmat[k]), states[0], targets[k], exits[k], err[k])


def sweep(o, h, lo, c, v, ts, rets, bank, idx, pmat, states, fee, slip, funding, acc, err):
    """Every parameter set (row of ``pmat``) over one series, in parallel, one set per iteration:
    its decisions, then ``kernels.simplified.account`` (the prefilter's fills and metrics; ``funding``:
    the rate per bar of a perpetual, zeros for spot)."""
    bars = BarsTuple(borrowed(o), borrowed(h), borrowed(lo), borrowed(c), borrowed(v), borrowed(ts))
    n = c.shape[0]
    for k in prange(pmat.shape[0]):
        targets = np.empty(n)
        exits = np.empty((n if HAS_EXITS else 1, 3))
        if _decisions(bars, _ind(bank, idx[k]), _params(pmat[k]), states[k], targets, exits, err[k]):
            account(o, h, lo, c, rets, targets, exits, HAS_EXITS, fee, slip, acc[k], funding)


# --- portfolio strategies ------------------------------------------------------------------------
# provided by the generated module: PanelTuple, GROSS (the strategy's gross cap), ERR_GROSS, KEEP_HELD
# (whether the strategy reads pos.bars_held at all: ``codegen.reads_name``)
#
# The weights come out compact: ``rows[k]`` is the k-th distinct weight vector decided, ``row[i]`` the
# one decided at close i (a strategy that rebalances every 20 bars stores a twentieth of the matrix,
# and the account skips the bars where nothing changed). ``rows[row]`` is the bars x symbols matrix.

def _ptake_force(j, o, mask, w, pos, live):
    """Weights decided at the previous close take force at clock bar j for the symbols that have a bar
    here (the others keep theirs waiting); a new side records the open as its entry price. ``live``
    collects the symbols with a weight in force; returns their count and whether a change still waits."""
    tgt = pos.target
    entry = pos.entry_price
    held = pos.bars_held
    n_live = 0
    waiting = False
    for s in range(tgt.shape[0]):
        if w[s] != tgt[s]:
            if mask[s, j]:
                if w[s] == 0.0:
                    entry[s] = NAN
                    held[s] = 0
                elif new_side(w[s], tgt[s]):
                    entry[s] = o[s, j]
                    held[s] = 0
                tgt[s] = w[s]
            else:
                waiting = True
        if tgt[s] != 0.0:
            held[s] += 1
            live[n_live] = s
            n_live += 1
    return n_live, waiting


def _pdecisions(bars, ind, p, st, rows, row, rebal, pos, w, live, err):
    """Weights of one set at every clock close, compact (``rows``/``row``, above), and whether decide
    asked to rebalance every symbol to them (``rebal``: it returned True); False at the first invalid
    decision (``err``: bar, code, value, symbol). ``pos`` is a record (its arrays are not reference
    counted: reading them costs nothing extra)."""
    _init_state(st)
    o = bars.open
    mask = bars.mask
    n_sym = o.shape[0]
    n = o.shape[1]
    for s in range(n_sym):
        pos.target[s] = 0.0
        pos.entry_price[s] = NAN
        pos.bars_held[s] = 0
        w[s] = 0.0
        rows[0, s] = 0.0
    n_rows = 1
    n_live = 0
    dirty = False  # weights decided that have not all taken force
    for i in range(n):
        if i > 0:
            if dirty:
                n_live, dirty = _ptake_force(i, o, mask, w, pos, live)
            elif KEEP_HELD:
                for k in range(n_live):
                    pos.bars_held[live[k]] += 1
        r = _decide(i, bars, ind, p, pos, st, w)
        rebal[i] = r is not None and r
        changed = False  # (an unchanged vector was checked when it was stored)
        for s in range(n_sym):
            changed |= w[s] != rows[n_rows - 1, s]  # NaN included
        if changed:
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
                rows[n_rows, s] = x
            if gross > GROSS * (1.0 + 1e-12):
                err[0] = i
                err[1] = ERR_GROSS
                err[2] = gross
                err[3] = -1
                return False
            n_rows += 1
            dirty = True
        row[i] = n_rows - 1
    return True


def pdecision_loop(o, h, lo, c, v, ts, mask, bank, idx, pmat, states, posbuf, rows, row, rebal, err):
    """Parameter sets (rows of ``pmat``) over one panel, one after the other (the replay's, event
    engine's and paper trader's weights: one set; the lookahead scan: many): ``rows[k]``, ``row[k]``,
    ``rebal[k]`` and ``err[k]`` are set k's."""
    n_sym = o.shape[0]
    bars = PanelTuple(borrowed(o), borrowed(h), borrowed(lo), borrowed(c), borrowed(v), borrowed(ts), borrowed(mask))
    w = np.empty(n_sym)
    live = np.empty(n_sym, dtype=np.int64)
    for k in range(pmat.shape[0]):
        _pdecisions(bars, _ind(bank, idx[k]), _params(pmat[k]), states[0], rows[k], row[k], rebal[k], posbuf[0], w,
                    live, err[k])


def psweep(o, h, lo, c, v, ts, mask, bank, idx, pmat, states, posbuf, fee, slip, acc, err):
    """Every parameter set over one panel, in parallel: its weights, then ``kernels.portfolio.account``."""
    bars = PanelTuple(borrowed(o), borrowed(h), borrowed(lo), borrowed(c), borrowed(v), borrowed(ts), borrowed(mask))
    n_sym = o.shape[0]
    n = o.shape[1]
    for k in prange(pmat.shape[0]):
        rows = np.empty((n + 1, n_sym))
        row = np.empty(n, dtype=np.int64)
        rebal = np.empty(n, dtype=np.bool_)
        if _pdecisions(bars, _ind(bank, idx[k]), _params(pmat[k]), states[k], rows, row, rebal, posbuf[k],
                       np.empty(n_sym), np.empty(n_sym, dtype=np.int64), err[k]):
            portfolio_account(o, c, mask, rows, row, rebal, fee, slip, acc[k])
