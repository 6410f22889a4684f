"""The per-series market returns every prefilter kernel streams (one table, shared by every set
and backend)."""

from __future__ import annotations

import numpy as np

from lq_engine.data.bars import Bars

# rows of the market-returns table
R_OPEN = 0  # open prices: fills happen there
P_R, P_R2, P_D2 = 1, 2, 3  # prefix sums of r, r^2, min(r, 0)^2 of the close-to-close returns
N_RETS = 4


def market_returns(bars: Bars) -> np.ndarray:
    """Per-series rows shared by every set and backend: the open prices, and the running sums
    (sequential cumsum) of r, r^2 and min(r, 0)^2 of the close-to-close returns r_j =
    close[j]/close[j-1]-1 (column 0 holds r_0 = 0). A held long run of fixed units earns exactly
    those returns (equity = units * close), so kernels take its sums in O(1) when the run ends;
    a held short's returns depend on its entry price and are summed bar by bar."""
    n = bars.n
    out = np.zeros((N_RETS, n))
    out[R_OPEN] = bars.open
    if n > 1:
        r = np.zeros(n)
        r[1:] = bars.close[1:] / bars.close[:-1] - 1.0
        out[P_R] = np.cumsum(r)
        out[P_R2] = np.cumsum(r * r)
        out[P_D2] = np.cumsum(np.minimum(r, 0.0) ** 2)
    out.setflags(write=False)
    return out
