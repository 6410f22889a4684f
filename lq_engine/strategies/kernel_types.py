"""What the compiled loops receive and return: the bars and panel tuples they read, the records of a
portfolio's own position, and ``Decisions``.

One small module below ``codegen``, ``spec`` and ``decide_errors``, which all speak these types.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from lq_engine.authoring.declare import BAR_FIELDS, PANEL_FIELDS

BarsTuple = namedtuple("BarsTuple", BAR_FIELDS)  # typename = global name: numba parfors refer to it by name
PanelTuple = namedtuple("PanelTuple", PANEL_FIELDS)


@dataclass(frozen=True)
class Decisions:
    """What a strategy decided at each bar's close: ``targets`` (float64 in [-1, 1]) and, when it
    declares ``exits``, the stop-loss / take-profit / trailing fractions of each entry (n x 3, NaN
    where not set). A portfolio strategy's targets are weights (bars x symbols), and ``rebalance``
    marks the closes where it asked to bring every symbol back to its weight."""

    targets: np.ndarray
    exits: np.ndarray | None = None
    rebalance: np.ndarray | None = None  # portfolio strategies: bool per bar, decide asked for a full rebalance


def position_records(n: int, n_symbols: int) -> np.recarray:
    """``n`` records of a portfolio strategy's own position (``pos``): target weights, entry prices
    and bars held per symbol, as record fields (numba does not reference-count them)."""
    dt = np.dtype([("target", np.float64, (n_symbols,)), ("entry_price", np.float64, (n_symbols,)),
                   ("bars_held", np.int64, (n_symbols,))])
    return np.zeros(n, dtype=dt).view(np.recarray)
