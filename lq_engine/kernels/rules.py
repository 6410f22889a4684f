"""The rule vocabulary every backend implements: one hysteresis state machine per parameter set.

A parameter set compiles to a *rule program*: 9 integers (indicator-bank row indices) and 5 floats.
Each of the four conditions is canonical ``bank[a, i] - bank[b, i] > t``; "x < t" is stored as
``(b - a) > -t``, which is bit-exact because IEEE subtraction and negation are exact mirror images.
A disabled side uses ``a = b = ZERO_ROW`` and ``t = +inf`` (never true). NaN (indicator warm-up)
makes every comparison false, so nothing enters before its indicators exist.

``rule_step`` is THE decision rule (``program_step`` unpacks a program row for it; hot loops unpack
once and call ``rule_step`` with scalars). The numba sweep kernel, the Python reference (``rule_step.py_func``),
the replay and event engines call it; native/c/lq_kernels.c and native/rust/src/lib.rs hold the
same dozen lines and hypothesis parity tests keep them equal.

Semantics at the close of bar ``i`` with state ``(pos, ext)``:
1. long (pos == 1): exit when the exit-long condition holds or, with a stop (STOP_ROW >= 0),
   ``ext = max(ext, close)`` and ``close < ext - k * atr``. Short mirrors it (``ext = min``,
   ``close > ext + k * atr``). ``ext`` is only maintained when a stop is set.
2. flat (including just exited): enter long if its condition holds, else enter short if its
   condition holds; a side just exited cannot be re-entered on the same bar. Entry sets ``ext = close``.
The returned position is the *target*: it fills at the open of bar ``i + 1``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lq_engine.kernels.returns import N_RETS

ZERO_ROW = 0  # bank row of zeros (the "B may be zero" oscillator)
CLOSE_ROW = 1  # bank row holding close prices (used by the ATR stop)

# integer program columns
EL_A, EL_B, XL_A, XL_B, ES_A, ES_B, XS_A, XS_B, STOP_ROW = range(9)
N_INT = 9
# float program columns
EL_T, XL_T, ES_T, XS_T, STOP_K = range(5)
N_FLOAT = 5

NEVER = np.inf  # threshold that disables a condition
_OFF = (ZERO_ROW, ZERO_ROW, NEVER)


def program(side: str, long_in, long_out, short_in, short_out, stop_row: int = -1, stop_k: float = 0.0):
    """One rule program (ip row, fp row): each condition is (a, b, t) meaning bank[a] - bank[b] > t;
    ``side`` ('long', 'short', 'both') switches the other side's conditions off."""
    if side == "short":
        long_in = long_out = _OFF
    if side == "long":
        short_in = short_out = _OFF
    conds = (long_in, long_out, short_in, short_out)
    ip = [int(c[i]) for c in conds for i in (0, 1)] + [int(stop_row)]
    fp = [float(c[2]) for c in conds] + [float(stop_k)]
    return ip, fp


@njit(cache=True, inline="always")
def rule_step(bank, i, pos, ext, ela, elb, xla, xlb, esa, esb, xsa, xsb, stop, elt, xlt, est, xst, k):
    """One bar of the decision rule on an unpacked program: ``(target_position, extreme_since_entry)``."""
    blocked = 0
    if pos == 1:
        out = bank[xla, i] - bank[xlb, i] > xlt
        if stop >= 0:
            close = bank[CLOSE_ROW, i]
            if close > ext:
                ext = close
            if not out:
                out = close < ext - k * bank[stop, i]
        if out:
            pos = 0
            blocked = 1
    elif pos == -1:
        out = bank[xsa, i] - bank[xsb, i] > xst
        if stop >= 0:
            close = bank[CLOSE_ROW, i]
            if close < ext:
                ext = close
            if not out:
                out = close > ext + k * bank[stop, i]
        if out:
            pos = 0
            blocked = -1
    if pos == 0:
        if blocked != 1 and bank[ela, i] - bank[elb, i] > elt:
            pos = 1
            ext = bank[CLOSE_ROW, i]
        elif blocked != -1 and bank[esa, i] - bank[esb, i] > est:
            pos = -1
            ext = bank[CLOSE_ROW, i]
    return pos, ext


@njit(cache=True, inline="always")
def program_step(bank, ip, fp, i, pos, ext):
    """``rule_step`` for program rows ``ip`` (N_INT ints) and ``fp`` (N_FLOAT floats)."""
    return rule_step(
        bank, i, pos, ext, ip[EL_A], ip[EL_B], ip[XL_A], ip[XL_B], ip[ES_A], ip[ES_B], ip[XS_A], ip[XS_B],
        ip[STOP_ROW], fp[EL_T], fp[XL_T], fp[ES_T], fp[XS_T], fp[STOP_K],
    )


def decide_positions(bank: np.ndarray, ip: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Target position decided at each bar's close for one program (pure Python, reference speed)."""
    n = bank.shape[1]
    out = np.zeros(n, dtype=np.int8)
    pos, ext = 0, 0.0
    args = [int(v) for v in ip] + [float(v) for v in fp]
    for i in range(n):
        pos, ext = rule_step.py_func(bank, i, pos, ext, *args)
        out[i] = pos
    return out


def check_sweep_shapes(backend: str, bank: np.ndarray, rets: np.ndarray, ip: np.ndarray, fp: np.ndarray) -> None:
    """The rule kernels (numba without bounds checks, C and Rust through raw pointers) index the bank
    with these shapes and the programs' bank rows: refuse, naming the input, anything that would make
    them read memory they were not given."""
    where = f"{backend} sweep"
    if bank.ndim != 2:
        raise ValueError(f"{where}: 'bank' must be (rows, bars), got shape {bank.shape}")
    rows, n = bank.shape
    if rets.shape != (N_RETS, n):
        raise ValueError(f"{where}: 'rets' has shape {rets.shape}, expected {(N_RETS, n)} for a bank of {n} bars")
    if ip.ndim != 2 or ip.shape[1] != N_INT or fp.shape != (ip.shape[0], N_FLOAT):
        raise ValueError(f"{where}: programs of shapes {ip.shape} / {fp.shape}, expected (sets, {N_INT}) / "
                         f"(sets, {N_FLOAT})")
    if ip.size:
        low = np.zeros(N_INT, dtype=np.int64)
        low[STOP_ROW] = -1  # no stop
        bad = (ip < low) | (ip >= rows)
        if bad.any():
            k, c = (int(x) for x in np.argwhere(bad)[0])
            raise ValueError(f"{where}: program {k} column {c} names bank row {int(ip[k, c])}; the bank has {rows}")
