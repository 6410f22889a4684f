"""Small compiled helpers for ``decide`` functions (exposed as ``lq.sided``, ``lq.hysteresis``, ...).

``decide`` is numba code, so these are ``@njit`` functions; they also run as plain Python under
``NUMBA_DISABLE_JIT=1``.
"""

from __future__ import annotations

from numba import njit

# a ``lq.Side()`` parameter reaches decide as the index of 'long', 'short', 'both'
LONG, SHORT, BOTH = 0, 1, 2


def jit(fn):
    """Compile a helper that ``decide`` (or ``exits``) calls: ``@lq.jit def f(...)``. It stays
    callable from Python (indicators may use it too)."""
    return njit(cache=False, inline="always")(fn)


@njit(cache=True, inline="always")
def sided(target, side):
    """``target`` with the side a ``lq.Side()`` parameter does not allow set to 0."""
    if side == LONG and target < 0.0:
        return 0.0
    if side == SHORT and target > 0.0:
        return 0.0
    return target


@njit(cache=True, inline="always")
def hysteresis(target, side, enter_long, exit_long, enter_short, exit_short):
    """The rule vocabulary's state machine on booleans: the new target (-1.0, 0.0 or 1.0).

    Held long (short), exit when ``exit_long`` (``exit_short``). Flat (or just exited), enter long
    when ``enter_long``, else short when ``enter_short``; a side just exited is not re-entered at the
    same bar. ``side`` (lq.LONG / lq.SHORT / lq.BOTH) disables the other side's conditions.
    """
    if side == LONG:
        enter_short = False
        exit_short = False
    elif side == SHORT:
        enter_long = False
        exit_long = False
    blocked = 0
    pos = 0
    if target > 0.0:
        pos = 1
        if exit_long:
            pos = 0
            blocked = 1
    elif target < 0.0:
        pos = -1
        if exit_short:
            pos = 0
            blocked = -1
    if pos == 0:
        if blocked != 1 and enter_long:
            pos = 1
        elif blocked != -1 and enter_short:
            pos = -1
    return float(pos)


@njit(cache=True, inline="always")
def clip(x, low, high):
    """``x`` limited to [low, high]; NaN stays NaN (decide then fails, naming the bar)."""
    if x < low:
        return low
    if x > high:
        return high
    return x
