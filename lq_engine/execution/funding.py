"""Perpetual futures: the funding rule, once, compiled, and the funding events on the bar clock.

A perpetual future has no expiry; instead, at each funding time ``T`` every open position pays (or
receives) ``position x mark x rate``. A positive rate: longs pay, shorts receive; a negative rate
the other way round. Here:

- **Which bar.** A funding time ``T`` falls between bar ``k - 1`` and bar ``k`` when
  ``ts[k - 1] < T <= ts[k]`` (``ts`` is the bar's open). It applies to the position held then, the
  one after bar ``k - 1`` (before bar ``k``'s open fills), marked at ``close[k - 1]``: on bars laid
  on the funding grid (1m .. 8h bars, funding at 00/08/16 UTC) that is the close at ``T`` exactly;
  on coarser bars, the close of the bar during which ``T`` falls. Funding times at or before the
  first bar's open, or after the last bar's open, are not applied. Several funding times between
  two bars (a gap in the data, or daily bars) add their rates, left to right.
- **When.** At the start of bar ``k``, before the decided orders are sized and filled at its open, so
  the orders are sized on the cash after the payment and the equity at ``close[k]`` includes it.

``funding_per_bar`` maps the events (``data.funding_rates.FundingRates``) onto a series' bar clock
once (rate per bar, 0.0 where none);
the compiled replay, the event engine and the prefilter's account read that array, and book it with
``apply_funding`` (compiled, and its pure-Python twin in ``PY``: bit-identical, see twins.py).
``FundingRates.between`` is the same rule for one bar at a time (a live feed: the next bar's open is
not known in advance), summing the same rates in the same order.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from numba import njit

from lq_engine.data.funding_rates import FundingRates
from lq_engine.errors import InputError
from lq_engine.execution.twins import python_twins

__all__ = ["FundingRates", "INSTRUMENTS", "apply_funding", "funding_payment", "funding_per_bar", "PY"]

INSTRUMENTS = ("spot", "perpetual")


@njit(cache=True)
def funding_payment(position: float, mark: float, rate: float) -> float:
    """Cash a position pays at a funding time (negative: it receives): ``position * mark * rate``;
    0.0 when flat or the rate is 0 or NaN (no funding)."""
    if position == 0.0 or rate == 0.0 or rate != rate:
        return 0.0
    return position * mark * rate


@njit(cache=True)
def apply_funding(cash: float, position: float, mark: float, rate: float) -> tuple[float, float]:
    """Book a funding payment: (cash after it, amount paid; negative = received)."""
    paid = funding_payment(position, mark, rate)
    if paid == 0.0:
        return cash, 0.0
    return cash - paid, paid


PY = SimpleNamespace(**python_twins(globals(), ("funding_payment", "apply_funding")))


def funding_per_bar(funding: FundingRates | np.ndarray | None, bar_ts: np.ndarray) -> np.ndarray:
    """The rate per bar every driver reads: zeros for spot (None), ``funding.per_bar(bar_ts)`` for a
    perpetual's events, or a rate per bar already mapped (checked for its length and finiteness)."""
    n = int(np.asarray(bar_ts).shape[0])
    if funding is None:
        return np.zeros(n)
    if isinstance(funding, FundingRates):
        return funding.per_bar(bar_ts)
    a = np.ascontiguousarray(funding, dtype=np.float64)
    if a.shape != (n,):
        raise InputError(f"funding per bar: {a.shape} rates for {n} bars")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise InputError(f"funding per bar: bar {int(bad[0])} has rate {float(a[bad[0]])}; rates must be finite")
    return a


def check_instrument(instrument: str, where: str) -> str:
    if instrument not in INSTRUMENTS:
        raise InputError(f"{where}: instrument must be one of {INSTRUMENTS}, got {instrument!r}")
    return instrument
