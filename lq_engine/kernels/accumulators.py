"""The one close-out of the numba kernels: a kernel's running state at the end of the series, into
its streaming-accumulator row (``metrics.ACC_*``, which ``metrics.finalize`` reads).

The fused sweep (``backends.numba_backend.run_program``), the prefilter's simplified fills
(``simplified.account``) and the portfolio account (``portfolio.account``) all end with it. The C
and Rust kernels (native/) write the same row with their own lines; the parity tests hold them
equal to numba bit for bit.

It lives here, not in ``metrics``, so that ``metrics`` stays free of numba (the replay, optimizer
and reports import it).
"""

from __future__ import annotations

from numba import njit

from lq_engine.kernels.metrics import (
    ACC_EQ, ACC_EXPOSED, ACC_MAXDD, ACC_MAXDD_DUR, ACC_NRET, ACC_S1, ACC_S2, ACC_SD, ACC_TGAIN, ACC_TLOSS,
    ACC_TRADES, ACC_TURNOVER, ACC_TWIN,
)


@njit(cache=True, inline="always")
def close_out(acc, n, eq, s1, s2, sd, tgain, twin, tloss, peak, trough, last_pk, maxdd, maxdur, trades, exposed,
              turnover):
    """Write the row of a series of ``n`` bars (``n - 1`` returns) into ``acc``.

    The drawdown state is that of ``numba_backend.dd_bar`` (``peak``, the lowest mark ``trough``
    since it, the bar ``last_pk`` where it was last reached, the deepest drawdown ``maxdd`` and the
    longest ``maxdur`` booked so far): a drawdown still open at the last bar (``trough < peak``) is
    booked here, its depth from the peak to its trough and its duration to bar ``n - 1``. The other
    arguments are the running sums and counts, written as they are.
    """
    if trough < peak:
        dd = (peak - trough) / peak
        if dd > maxdd:
            maxdd = dd
        if n - 1 - last_pk > maxdur:
            maxdur = n - 1 - last_pk
    acc[ACC_EQ] = eq
    acc[ACC_S1] = s1
    acc[ACC_S2] = s2
    acc[ACC_SD] = sd
    acc[ACC_TGAIN] = tgain
    acc[ACC_TWIN] = twin
    acc[ACC_TLOSS] = tloss
    acc[ACC_MAXDD] = maxdd
    acc[ACC_MAXDD_DUR] = maxdur
    acc[ACC_TRADES] = trades
    acc[ACC_EXPOSED] = exposed
    acc[ACC_TURNOVER] = turnover
    acc[ACC_NRET] = max(n - 1, 0)
