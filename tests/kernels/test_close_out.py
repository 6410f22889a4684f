"""The accumulator row each numba kernel closes out (``kernels.accumulators.close_out``) holds what
the plain equity curve says, field by field on the ``ACC_*`` names, and ``finalize`` of it equals
``summarize`` of that curve: for the fused sweep (``numba_backend``), the simplified fills
(``simplified.account``) and the portfolio account (``portfolio.account``), on a series that ends
in its deepest and longest drawdown (only the close-out books it) and on one that ends at a new
high. The reference row's fields are pairwise distinct, so a field written under another's name
cannot pass."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lq_engine.data.bars import Bars
from lq_engine.kernels import metrics as M
from lq_engine.kernels import portfolio, simplified
from lq_engine.kernels.backends import run_accumulators
from lq_engine.kernels.returns import market_returns
from lq_engine.kernels.rules import CLOSE_ROW, ZERO_ROW, program

PPY = 252.0
SIGNAL_ROW = 2

# (close prices, target decided at each close): no costs, opens at the previous close
ENDS_IN_DRAWDOWN = (
    [100, 104, 108, 103, 101, 106, 112, 110, 107, 111, 115, 118, 116, 113, 109, 112, 107, 103, 99, 96, 98,
     94, 91, 95, 92, 90, 91, 88],
    [1, 1, 1, 0, 0, -1, -1, -1, 1, 1, 1, 1, -1, -1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
)
ENDS_AT_A_NEW_HIGH = (
    [100, 103, 99, 96, 92, 95, 98, 97, 101, 104, 102, 99, 97, 100, 105, 108, 107, 111, 114, 119, 123],
    [1, 1, 1, 0, -1, -1, 1, 1, 1, 1, -1, -1, 0, 1, 1, 1, 1, 1, 1, 1, 1],
)
SERIES = {"ends_in_drawdown": ENDS_IN_DRAWDOWN, "ends_at_a_new_high": ENDS_AT_A_NEW_HIGH}


def _bars(close: list[float]) -> Bars:
    c = np.array(close, dtype=np.float64)
    o = np.concatenate(([c[0]], c[:-1]))
    return Bars(o, np.maximum(o, c), np.minimum(o, c), c)


def _plain(bars: Bars, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(equity at every close, returns, position held over each return's bar, trade returns): the
    target decided at close j-1 fills at open j with fixed units and no costs; a trade runs from the
    open where it fills to the open where it closes (or the last close)."""
    o, c = bars.open, bars.close
    n = c.size
    cash, units, held, v0 = 1.0, 0.0, 0.0, 1.0
    eq, hold, trades = [1.0], [], []
    for j in range(1, n):
        t = float(signal[j - 1])
        if t != held:
            e = cash + units * o[j]
            if held != 0.0:
                trades.append(e / v0 - 1.0)
            units = t * e / o[j]
            cash = e - units * o[j]
            held, v0 = t, e
        hold.append(held)
        eq.append(cash + units * c[j])
    if held != 0.0:
        trades.append(eq[-1] / v0 - 1.0)
    e = np.array(eq)
    return e, e[1:] / e[:-1] - 1.0, np.array(hold), np.array(trades)


def _expected_row(bars: Bars, signal: np.ndarray) -> dict[str, float]:
    """The accumulators, by name (``metrics.ACC_NAMES``), from the plain curve."""
    e, r, h, tr = _plain(bars, signal)
    prev = np.concatenate(([0.0], h[:-1]))
    return {
        "equity": e[-1], "sum_r": r.sum(), "sum_r2": (r * r).sum(), "sum_down2": (np.minimum(r, 0.0) ** 2).sum(),
        "trade_gains": tr[tr > 0].sum(), "winning_trades": float((tr > 0).sum()), "trade_losses": -tr[tr < 0].sum(),
        "max_drawdown": M.max_drawdown(e), "max_drawdown_duration": float(M.max_drawdown_duration(e)),
        "trades": float(((h != 0) & (np.sign(h) != np.sign(prev))).sum()), "exposed_bars": float((h != 0).sum()),
        "turnover": float(np.abs(h - prev).sum()), "n_returns": float(r.size),
    }


def _numba_row(bars: Bars, signal: np.ndarray) -> np.ndarray:
    """The fused sweep over a bank whose signal row is the target: enter long above 0.5, short below
    -0.5, leave either side when the signal leaves it (a reversal in one step)."""
    bank = np.zeros((3, bars.n))
    bank[CLOSE_ROW] = bars.close
    bank[SIGNAL_ROW] = signal
    ip, fp = program("both", (SIGNAL_ROW, ZERO_ROW, 0.5), (ZERO_ROW, SIGNAL_ROW, -0.5),
                     (ZERO_ROW, SIGNAL_ROW, 0.5), (SIGNAL_ROW, ZERO_ROW, -0.5))
    return run_accumulators("numba", bank, market_returns(bars), np.array([ip], dtype=np.int64),
                            np.array([fp], dtype=np.float64), 0.0)[0]


def _simplified_row(bars: Bars, signal: np.ndarray) -> np.ndarray:
    acc = np.zeros(M.N_ACC)
    exits = np.full((bars.n, 3), np.nan)
    simplified.account(bars.open, bars.high, bars.low, bars.close, market_returns(bars), signal.astype(np.float64),
                       exits, False, 0.0, 0.0, acc, np.zeros(bars.n))
    return acc


def _portfolio_row(bars: Bars, signal: np.ndarray) -> np.ndarray:
    """One symbol: the weights rows are (0, 1, -1) and each close names its row."""
    acc = np.zeros(M.N_ACC)
    rows = np.array([[0.0], [1.0], [-1.0]])
    row = np.select([signal > 0, signal < 0], [1, 2], 0).astype(np.int64)
    portfolio.account(bars.open[None, :].copy(), bars.close[None, :].copy(), np.ones((1, bars.n), dtype=np.bool_),
                      rows, row, np.zeros(bars.n, dtype=np.bool_), 0.0, 0.0, acc)
    return acc


KERNELS = {"numba": _numba_row, "simplified": _simplified_row, "portfolio": _portfolio_row}


def _close(a: float, e: float) -> bool:
    return abs(a - e) <= M.STREAMING_ATOL + M.STREAMING_RTOL * abs(e)


@pytest.mark.parametrize("series", SERIES)
def test_the_reference_row_tells_every_field_apart(series):
    """The premise of the next test: no two fields hold the same value, and the series ends as named
    (the last drawdown is the deepest and the longest, or the last close is the highest)."""
    close, signal = SERIES[series]
    bars, sig = _bars(close), np.array(signal)
    row = _expected_row(bars, sig)
    for (a, x), (b, y) in itertools.combinations(row.items(), 2):
        assert not _close(x, y), (a, b, x)
    e = _plain(bars, sig)[0]
    last_peak = int(np.flatnonzero(e == np.maximum.accumulate(e))[-1])
    if series == "ends_at_a_new_high":
        assert last_peak == e.size - 1
    else:
        assert M.max_drawdown(e[:last_peak + 1]) < M.max_drawdown(e)
        assert M.max_drawdown_duration(e[:last_peak + 1]) < e.size - 1 - last_peak
        assert row["max_drawdown_duration"] == e.size - 1 - last_peak


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_close_out_row_equals_the_plain_curve(kernel, series):
    close, signal = SERIES[series]
    bars, sig = _bars(close), np.array(signal)
    acc = KERNELS[kernel](bars, sig)
    assert acc.shape == (M.N_ACC,)
    want = _expected_row(bars, sig)
    for k, name in enumerate(M.ACC_NAMES):
        assert _close(acc[k], want[name]), (name, acc[k], want[name])
    got = M.finalize(acc[None, :], PPY)
    _, r, h, tr = _plain(bars, sig)
    ref = M.summarize(r, h, tr, PPY)
    for name in M.METRIC_NAMES:
        assert _close(got[name][0], ref[name]), (name, got[name][0], ref[name])
