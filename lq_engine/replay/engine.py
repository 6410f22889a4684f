"""Replay (driver 2): one parameter set of one strategy over one frozen series, full execution model.

``replay(...)`` validates the inputs (frozen read-only arrays only), has the strategy decide its
target at every close (``StrategySpec.decisions``: compiled, fill-independent), runs the compiled
execution loop (``kernel.replay_loop``) over those decisions and returns the orders log, the fills
log, the equity curve and the metrics of ``kernels.metrics``. ``replay_decisions`` runs decisions
made elsewhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from lq_engine.errors import InputError, InputTypeError
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.funding import FundingRates, funding_per_bar
from lq_engine.kernels import metrics as M
from lq_engine.replay import kernel as K
from lq_engine.execution.sizing import NO_BRACKETS, BracketSpec
from lq_engine.data.bars import Bars
from lq_engine.strategies.decide_errors import naming_symbol
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.spec import StrategySpec

@dataclass(frozen=True)
class Fills:
    ts: np.ndarray  # int64 ns, the bar's timestamp
    bar: np.ndarray  # int64 bar index
    order: np.ndarray  # int64 order index (into Orders)
    side: np.ndarray  # int8, +1 buy / -1 sell
    quantity: np.ndarray
    price: np.ndarray
    fee: np.ndarray
    reason: np.ndarray  # int8 index into kernel.REASONS
    cash: np.ndarray  # account cash after the fill
    position: np.ndarray  # position after the fill

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def rows(self) -> list[tuple[int, int, float, float, float, str]]:
        """(ts, side, quantity, price, fee, reason) per fill."""
        return [(int(t), int(s), float(q), float(p), float(f), K.REASONS[int(r)])
                for t, s, q, p, f, r in zip(self.ts, self.side, self.quantity, self.price, self.fee, self.reason)]

    def sha256(self) -> str:
        h = hashlib.sha256()
        for a in (self.ts, self.side, self.quantity, self.price, self.fee, self.reason):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class Orders:
    bar: np.ndarray  # bar index of creation (submission at that open, or arming of a leg)
    side: np.ndarray
    quantity: np.ndarray
    filled: np.ndarray
    kind: np.ndarray  # index into kernel.REASONS (market, stop, take_profit, trailing_stop)
    status: np.ndarray  # kernel.STATUS_NAMES codes
    parent: np.ndarray  # parent order index of a bracket leg, -1 otherwise

    def __len__(self) -> int:
        return int(self.bar.shape[0])

    def status_names(self) -> list[str]:
        return [K.STATUS_NAMES[int(s)] for s in self.status]


@dataclass(frozen=True)
class ReplayResult:
    strategy: str
    params: dict[str, Any]
    symbol: str
    equity: np.ndarray  # float64 per bar, marked at the close
    target: np.ndarray  # float64 per bar, the decision at the close (target exposure in [-1, 1])
    fills: Fills
    orders: Orders
    metrics: dict[str, float]
    initial_cash: float
    exposure: np.ndarray | None = None  # float64 per bar: the target exposure held at the close
    funding: np.ndarray | None = None  # float64 per bar: funding paid at the bar's start (< 0: received); perps

    @property
    def funding_paid(self) -> float:
        """Funding paid in total (>= 0)."""
        return float(self.funding[self.funding > 0].sum()) if self.funding is not None else 0.0

    @property
    def funding_received(self) -> float:
        """Funding received in total (>= 0)."""
        return 0.0 - float(self.funding[self.funding < 0].sum()) if self.funding is not None else 0.0


def config_vector(config: ExecutionConfig, brackets: BracketSpec) -> np.ndarray:
    sl, tp, tr = brackets.fractions()
    v = np.empty(K.N_CFG)
    v[K.C_FEE_TAKER] = config.fee_taker
    v[K.C_FEE_MAKER] = config.fee_maker
    v[K.C_SPREAD] = config.spread_bps
    v[K.C_SLIP] = config.slippage_bps
    v[K.C_VOLK] = config.slippage_vol_k
    v[K.C_CAP] = config.cap
    v[K.C_BASIS] = config.basis_code
    v[K.C_COST] = config.equity_cost_rate
    v[K.C_SL], v[K.C_TP], v[K.C_TRAIL] = sl, tp, tr
    return v


def replay(
    strategy: StrategySpec | str,
    params: Mapping[str, Any] | None,
    series: Bars,
    config: ExecutionConfig = ExecutionConfig(),
    brackets: BracketSpec = NO_BRACKETS,
    initial_cash: float = 100_000.0,
    periods_per_year: float = 525_600.0,
    funding: FundingRates | None = None,
) -> ReplayResult:
    """Replay one parameter set (the strategy's default set when ``params`` is None); ``funding``:
    the symbol's funding events when it is a perpetual future (``execution.funding``)."""
    if not isinstance(series, Bars):
        raise InputTypeError(f"replay: expected lq_engine.data.bars.Bars (Bars.from_arrays, a frozen dataset's "
                        f"series), got {type(series).__name__}")
    series = series.validated()
    spec = resolve(strategy)
    p = spec.validated(params)
    with naming_symbol(series.symbol):  # a raising decide: its error names the symbol too
        d = spec.decisions(p, series)
    return replay_decisions(d, series, config, brackets, initial_cash, periods_per_year, strategy=spec.name, params=p,
                            funding=funding)


def replay_decisions(
    decisions: Any,
    series: Any,
    config: ExecutionConfig = ExecutionConfig(),
    brackets: BracketSpec = NO_BRACKETS,
    initial_cash: float = 100_000.0,
    periods_per_year: float = 525_600.0,
    strategy: str = "",
    params: Mapping[str, Any] | None = None,
    funding: FundingRates | np.ndarray | None = None,
) -> ReplayResult:
    """Execute decided targets (``Decisions``: targets and optional per-entry exits) over ``series``
    (``Bars``, as the caller has them: not checked here) with the full execution model; ``funding``:
    the funding events of a perpetual (or their rate per bar, ``funding_per_bar``), None for spot."""
    if not (np.isfinite(initial_cash) and initial_cash > 0):
        raise InputError(f"replay: initial_cash must be finite and > 0, got {initial_cash!r}")
    n = series.close.shape[0]
    targets = np.asarray(decisions.targets, dtype=np.float64)
    if targets.shape != (n,):
        raise InputError(f"replay: {targets.shape[0]} targets for {n} bars")
    exits = decisions.exits if decisions.exits is not None else no_exits(n)
    equity = np.empty(n)
    exposure = np.empty(n)
    rates = funding_per_bar(funding, series.ts)
    paid = np.zeros(n)
    f, fts, nf, o, no = K.replay_loop(series.ts, series.open, series.high, series.low, series.close, series.volume,
                                      targets, exits, config_vector(config, brackets), float(initial_cash), equity,
                                      exposure, rates, paid)
    fills = _fills(f[:nf], fts[:nf])
    orders = _orders(o[:no])
    metrics = replay_metrics(equity, fills, float(initial_cash), periods_per_year, exposure)
    for a in (equity, exposure, paid):
        a.setflags(write=False)
    return ReplayResult(strategy, dict(params or {}), getattr(series, "symbol", ""), equity, targets, fills, orders,
                        metrics, float(initial_cash), exposure, paid if funding is not None else None)


def no_exits(n: int) -> np.ndarray:
    """Exit fractions for ``n`` bars with none set (the configured brackets apply)."""
    out = np.full((n, 3), np.nan)
    out.setflags(write=False)
    return out


def _fills(f: np.ndarray, fts: np.ndarray) -> Fills:
    return Fills(fts.copy(), f[:, K.F_BAR].astype(np.int64), f[:, K.F_ORDER].astype(np.int64),
                 f[:, K.F_SIDE].astype(np.int8), f[:, K.F_QTY].copy(), f[:, K.F_PRICE].copy(), f[:, K.F_FEE].copy(),
                 f[:, K.F_REASON].astype(np.int8), f[:, K.F_CASH].copy(), f[:, K.F_POS].copy())


def _orders(o: np.ndarray) -> Orders:
    return Orders(o[:, K.O_BAR].astype(np.int64), o[:, K.O_SIDE].astype(np.int8), o[:, K.O_QTY].copy(),
                  o[:, K.O_FILLED].copy(), o[:, K.O_KIND].astype(np.int8), o[:, K.O_STATUS].astype(np.int8),
                  o[:, K.O_PARENT].astype(np.int64))


def held_at_close(n: int, fills: Fills) -> np.ndarray:
    """Sign of the position held at each bar's close (from the position after each fill)."""
    held = np.zeros(n)
    if len(fills):
        last = np.searchsorted(fills.bar, np.arange(n), side="right") - 1
        ok = last >= 0
        held[ok] = np.sign(fills.position[last[ok]])
    return held


def trade_returns(fills: Fills, initial_cash: float, final_equity: float) -> np.ndarray:
    """A trade runs from the fill that leaves flat (value = cash before it) to the fill that returns to
    flat (value = cash after it), or to the final equity; the same V0 / V1 as the prefilter kernel."""
    out = []
    cash_before, pos_before, v0 = initial_cash, 0.0, None
    for cash, pos in zip(fills.cash, fills.position):
        if pos_before == 0.0 and pos != 0.0:
            v0 = cash_before
        elif pos == 0.0 and pos_before != 0.0 and v0 is not None:
            out.append(cash / v0 - 1.0)
            v0 = None
        cash_before, pos_before = cash, pos
    if v0 is not None and pos_before != 0.0:
        out.append(final_equity / v0 - 1.0)
    return np.array(out)


def replay_metrics(equity: np.ndarray, fills: Fills, initial_cash: float, ppy: float,
                   exposure: np.ndarray | None = None) -> dict[str, float]:
    """``metrics.summarize`` of the replay: per-bar returns of the equity curve from bar 0's close,
    with the exposure held at each close (the sign of the position when not given)."""
    r = equity[1:] / equity[:-1] - 1.0
    held = (exposure if exposure is not None else held_at_close(equity.shape[0], fills))[1:]
    return M.summarize(r, held, trade_returns(fills, initial_cash, float(equity[-1])), ppy)
