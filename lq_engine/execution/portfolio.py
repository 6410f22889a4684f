"""Cash, positions and equity, booked with the fill-math accounting functions (bit parity with replay)."""

from __future__ import annotations

import math

from lq_engine.core.cache import RuntimeCache
from lq_engine.core.events import FillEvent
from lq_engine.execution.fillmath import PY
from lq_engine.execution.funding import PY as FUNDING_PY

apply_fill = PY.apply_fill  # pure-Python twins: no numba dispatch per fill, bit-identical
mark_to_market = PY.mark_to_market
apply_funding = FUNDING_PY.apply_funding

_FLAT = (0.0, math.nan)


class Portfolio:
    def __init__(self, cash: float) -> None:
        self.cash = float(cash)
        self.realized_pnl = 0.0
        self.fees = 0.0
        self._positions: dict[str, tuple[float, float]] = {}

    def apply(self, fill: FillEvent) -> None:
        qty, avg = self._positions.get(fill.symbol, _FLAT)
        cash, qty, avg, realized = apply_fill(self.cash, qty, avg, fill.side, fill.quantity, fill.price, fill.fee)
        self.cash = cash
        self.realized_pnl += realized
        self.fees += fill.fee
        if qty == 0.0:
            self._positions.pop(fill.symbol, None)
        else:
            self._positions[fill.symbol] = (qty, avg)

    def apply_funding(self, symbol: str, mark: float, rate: float) -> float:
        """Book a funding payment of ``symbol``'s position marked at ``mark``; returns the amount
        paid (negative: received). Realized PnL and fees are unchanged: funding is its own line."""
        cash, paid = apply_funding(self.cash, self._positions.get(symbol, _FLAT)[0], mark, rate)
        self.cash = cash
        return paid

    def position(self, symbol: str) -> float:
        return self._positions.get(symbol, _FLAT)[0]

    def avg_price(self, symbol: str) -> float:
        return self._positions.get(symbol, _FLAT)[1]

    def holding(self, symbol: str) -> tuple[float, float]:
        """(position, avg_price) in one call."""
        return self._positions.get(symbol, _FLAT)

    def equity(self, closes: dict[str, float]) -> float:
        """cash + sum of position * close, added in sorted symbol order (deterministic)."""
        eq = self.cash
        for sym in sorted(self._positions):
            eq = mark_to_market(eq, self._positions[sym][0], closes[sym])
        return eq

    def write_to(self, cache: RuntimeCache, closes: dict[str, float]) -> None:
        for sym in list(cache._positions):
            if sym not in self._positions:
                cache.set_position(sym, 0.0, math.nan)
        for sym, (qty, avg) in self._positions.items():
            cache.set_position(sym, qty, avg)
        cache.set_account(self.cash, self.equity(closes))
