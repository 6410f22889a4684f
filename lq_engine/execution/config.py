"""Execution model parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from lq_engine.errors import InputError


COST_BASES = ("notional", "equity")
COST_NOTIONAL, COST_EQUITY = 0, 1


@dataclass(frozen=True)
class ExecutionConfig:
    """Costs and limits of the simulated venue (rates are fractions of notional, spreads in bps).

    ``liquidity_cap`` is the largest share of a bar's volume that fills in that bar, per symbol,
    across all orders (``None``: no cap). ``slippage_vol_k`` scales the volatility term
    (last completed bar's (high - low) / close).

    ``cost_basis`` says how the strategy's own market orders pay costs: ``"notional"`` (a real venue:
    fee = quantity * price * rate, price moved by spread and slippage) or ``"equity"`` (the prefilter
    kernel's arithmetic: they fill at the raw open and pay a fee fixed at submission,
    ``(fee_taker + slippage) * |change of target exposure| * equity at the open``; see
    ``lq_engine/execution/sizing.py``). Bracket legs always pay on notional.
    """

    fee_taker: float = 0.001
    fee_maker: float = 0.0005
    spread_bps: float = 2.0
    slippage_bps: float = 1.0
    slippage_vol_k: float = 0.05
    liquidity_cap: float | None = 0.1
    cost_basis: str = "notional"

    def __post_init__(self) -> None:
        for name in ("fee_taker", "fee_maker", "spread_bps", "slippage_bps", "slippage_vol_k"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise InputError(f"ExecutionConfig.{name} must be finite and >= 0, got {v!r}")
        if self.spread_bps * 0.5 + self.slippage_bps >= 10_000:
            raise InputError("ExecutionConfig: half spread + slippage must be below 10000 bps (100%)")
        if self.cost_basis not in COST_BASES:
            raise InputError(f"ExecutionConfig.cost_basis must be one of {COST_BASES}, got {self.cost_basis!r}")
        cap = self.liquidity_cap
        if cap is not None and not (0.0 < cap <= 1.0):
            raise InputError(f"ExecutionConfig.liquidity_cap must be in (0, 1] or None, got {cap!r}")

    @property
    def cap(self) -> float:
        """The cap as the compiled functions take it (``inf`` for none)."""
        return math.inf if self.liquidity_cap is None else float(self.liquidity_cap)

    @property
    def basis_code(self) -> int:
        return COST_BASES.index(self.cost_basis)

    @property
    def equity_cost_rate(self) -> float:
        """Cost per unit of exposure change under the ``"equity"`` basis (the prefilter's fee + slippage)."""
        return self.fee_taker + self.slippage_bps * 1e-4

    def simplified(self, fee: float | None = None, slippage_bps: float | None = None) -> ExecutionConfig:
        """The prefilter kernel's fills: next open, one fee rate, fixed slippage, no spread, no cap,
        costs on the ``"equity"`` basis (what ``kernels.evaluate.Costs(fee, slippage_bps * 1e-4)`` charges)."""
        rate = self.fee_taker if fee is None else fee
        return replace(
            self,
            fee_taker=rate,
            fee_maker=rate,
            spread_bps=0.0,
            slippage_bps=self.slippage_bps if slippage_bps is None else slippage_bps,
            slippage_vol_k=0.0,
            liquidity_cap=None,
            cost_basis="equity",
        )


@dataclass(frozen=True)
class Costs:
    """Simplified prefilter costs, both as a fraction of the notional traded per unit of position change."""

    fee: float = 0.001
    slippage: float = 0.0

    def __post_init__(self):
        for name in ("fee", "slippage"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0 or v >= 0.5:
                raise InputError(f"Costs.{name} must be a finite fraction in [0, 0.5), got {v!r}")

    @property
    def per_unit(self) -> float:
        return float(self.fee + self.slippage)
