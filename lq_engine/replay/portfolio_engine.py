"""The event engine for portfolio strategies: a universe's bars as events, one account, every leg.

Bars arrive in groups, one group per clock timestamp (the symbols that have a bar then), each bar a
``BarEvent`` (``timestamp_ns`` + ``sequence``: bars of a group in symbol order, then the venue's
events), recorded in the ``RuntimeCache`` and published on ``data.bars.<SYMBOL>``. Per group the
engine runs the steps of ``replay.portfolio`` with the same functions (``kernels.portfolio``,
``sizing.leg_fees`` / ``leg_orders`` twins, the venue's fill math), so fills and equity equal the
compiled replay's to the last bit (tested): rebalance the symbols present whose weight changed
(sells first), let the venue fill symbol by symbol (selling symbols first), mark at the close,
take the weights decided at this close.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Protocol, Sequence

from lq_engine.core.bus import MessageBus
from lq_engine.core.cache import RuntimeCache
from lq_engine.core.events import BarEvent, FillEvent
from lq_engine.core.sequencer import Sequencer
from lq_engine.errors import InputError
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.orders import STATUS_VALUE, Order
from lq_engine.execution.portfolio import Portfolio
from lq_engine.execution.twins import python_twins
from lq_engine.execution.venue import SimulatedVenue
from lq_engine.kernels import portfolio as KP
from lq_engine.execution.sizing import PY as SIZING_PY
from lq_engine.replay.streaming import PanelBuffer, check_history, decisions_over, visible_panel
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.spec import StrategySpec

_PY = python_twins(vars(KP), ("open_equity", "exposure_held"))
open_equity = _PY["open_equity"]
exposure_held = _PY["exposure_held"]
leg_fees = SIZING_PY["leg_fees"]
leg_orders = SIZING_PY["leg_orders"]
NAN = math.nan


class WeightsDecider(Protocol):
    def decide(self, index: int, bars: Sequence[BarEvent]) -> Sequence[float]: ...

    def rebalance(self, index: int) -> bool:
        """Whether the decision at this index asked for a full rebalance."""
        ...


class PrecomputedWeights:
    """The weights of a known panel, decided once by the strategy's compiled decision loop."""

    def __init__(self, strategy: StrategySpec | str, params: Mapping[str, Any] | None, panel: Panel) -> None:
        d = resolve(strategy).decisions(params, panel)
        self.targets = d.targets.tolist()
        self._rebalance = d.rebalance.tolist()

    def decide(self, index: int, bars: Sequence[BarEvent]) -> list[float]:
        return self.targets[index]

    def rebalance(self, index: int) -> bool:
        return self._rebalance[index]


class StreamingWeights:
    """Weights from the bars received so far only (a live feed, and the paper trader on history): each
    clock bar goes into a growing panel and the decisions are made over the visible bars
    (``replay.streaming``: O(n) per bar); the newest weights are used."""

    def __init__(self, strategy: StrategySpec | str, params: Mapping[str, Any] | None, symbols: Sequence[str]) -> None:
        spec = resolve(strategy)
        if not spec.is_portfolio:
            raise InputError(f"strategy '{spec.name}' trades one symbol: stream it with StreamingDecider")
        self._strategy = spec
        self._params = spec.validated(params)
        self._table = spec.table([self._params])
        self._plan = spec.indicator_plan(self._table)  # the same on every bar: made once
        self.symbols = tuple(sorted(symbols))
        self._buf = PanelBuffer(self.symbols)
        self._last_rebalance = False

    @property
    def n(self) -> int:
        """Clock bars seen so far."""
        return self._buf.n

    def decide(self, index: int, bars: Sequence[BarEvent]) -> list[float]:
        if index != self._buf.n:
            raise InputError(f"streaming weights: asked for clock bar {index}'s weights after {self._buf.n} bar(s)")
        if not bars:
            raise InputError(f"streaming weights: clock bar {index} has no symbol's bar")
        self._buf.append(bars[0].timestamp_ns, [(b.symbol, b.open, b.high, b.low, b.close, b.volume) for b in bars])
        d = decisions_over(self._strategy, self._table, self._buf.panel(), self._plan)
        self._last_rebalance = bool(d.rebalance[-1])
        return d.targets[-1].tolist()

    def rebalance(self, index: int) -> bool:
        return self._last_rebalance

    def replay(self, panel: Panel, n: int) -> Any:
        """The replay's decisions over the first ``n`` clock bars of a known ``panel``, all at once (what
        ``PrecomputedWeights`` decides), padded as here."""
        return decisions_over(self._strategy, self._table, visible_panel(panel, n), self._plan)

    def groups(self) -> list[tuple[int, list[tuple]]]:
        """(ts, [(symbol, open, high, low, close, volume), ...]) of the clock bars seen so far."""
        return self._buf.groups()

    def state(self) -> dict:
        """How many clock bars were seen and the last one's timestamp (the bars are the caller's to
        keep, as for ``StreamingDecider``)."""
        return {"bars": self._buf.n, "last_ts": self._buf.last_ts}

    def load_state(self, state: Mapping[str, Any], groups: Iterable[tuple[int, Sequence[Sequence]]]) -> None:
        """Take back the clock bars seen (``groups``: (ts, [(symbol, open, high, low, close, volume), ...])
        of clock bars 0 .. ``state["bars"] - 1``), checked against ``state``."""
        buf = PanelBuffer(self.symbols)
        for ts, rows in groups:
            buf.append(int(ts), [(str(r[0]), *(float(x) for x in r[1:6])) for r in rows])
        check_history(state, buf.n, buf.last_ts)
        self._buf = buf


class PortfolioEventEngine:
    def __init__(
        self,
        symbols: Sequence[str],
        decider: WeightsDecider,
        config: ExecutionConfig = ExecutionConfig(),
        initial_cash: float = 100_000.0,
        bus: MessageBus | None = None,
        cache: RuntimeCache | None = None,
        sequencer: Sequencer | None = None,
    ) -> None:
        self.symbols = tuple(sorted(symbols))
        self.decider = decider
        self.config = config
        self.bus = bus if bus is not None else MessageBus()
        self.cache = cache if cache is not None else RuntimeCache(initial_cash)
        self.sequencer = sequencer if sequencer is not None else Sequencer()
        self.venue = SimulatedVenue(config, self.sequencer)
        self.portfolio = Portfolio(initial_cash)
        self.fills: list[FillEvent] = []
        self.equity: list[float] = []
        self.exposure: list[list[float]] = []
        self.targets: list[list[float]] = []
        self._ids: list[int] = []
        n = len(self.symbols)
        self._pos = {s: k for k, s in enumerate(self.symbols)}
        self._tif = [0.0] * n
        self._desired = [0.0] * n
        self._last = [NAN] * n  # last close of each symbol (its mark while it has no bar)
        self._due = [False] * n  # a requested full rebalance not yet done (no bar since)
        self._index = 0
        self._order_no = 0

    @property
    def event_ids(self) -> list[tuple[int, int]]:
        ids = self._ids
        return list(zip(ids[::2], ids[1::2]))

    def run(self, panel: Panel) -> PortfolioEventEngine:
        """Feed every clock bar of ``panel`` as a group of the symbols present."""
        if panel.symbols != self.symbols:
            raise InputError(f"portfolio engine for {list(self.symbols)} got a panel of {list(panel.symbols)}")
        cols = [a.tolist() for a in (panel.open, panel.high, panel.low, panel.close, panel.volume)]
        mask = panel.mask.tolist()
        nxt = self.sequencer.next
        for j, t in enumerate(panel.ts.tolist()):
            group = [BarEvent(t, nxt(), s, cols[0][k][j], cols[1][k][j], cols[2][k][j], cols[3][k][j], cols[4][k][j])
                     for k, s in enumerate(self.symbols) if mask[k][j]]
            self.step_group(group)
        return self

    def step_group(self, bars: Sequence[BarEvent]) -> None:
        """Process the bars of one timestamp (each symbol at most once, any subset of the universe)."""
        pos = self._pos
        present: dict[int, BarEvent] = {}
        for b in bars:
            k = pos.get(b.symbol)
            if k is None:
                raise InputError(f"portfolio engine for {list(self.symbols)} got a bar of {b.symbol!r}")
            present[k] = b
            self.cache.update_bar(b.symbol, b.timestamp_ns, b.sequence, b.open, b.high, b.low, b.close, b.volume)
            self._ids += (b.timestamp_ns, b.sequence)
            self.bus.publish(f"data.bars.{b.symbol}", b)
        if self._index > 0:
            self._rebalance(present)
        venue = self.venue
        first_side = {k: (w[0].side if (w := venue.working_orders(self.symbols[k])) else 0) for k in present}
        order = sorted(present, key=lambda k: (0 if first_side[k] == -1 else 1 if first_side[k] == 1 else 2, k))
        for k in order:  # symbols selling first, then buying, then the rest (their bar only moves the marks)
            events = venue.on_bar(present[k])
            if events:
                self._dispatch(events)
        pf = self.portfolio
        eq = pf.cash
        expo = []
        for k, s in enumerate(self.symbols):
            if k in present:
                self._last[k] = present[k].close
            units = pf.position(s)
            if units != 0.0:
                eq = eq + units * self._last[k]
            expo.append(exposure_held(units, self._tif[k]))
        self.equity.append(eq)
        self.exposure.append(expo)
        self.cache.cash = pf.cash
        self.cache.equity = eq
        weights = [float(x) for x in self.decider.decide(self._index, bars)]
        self.targets.append(weights)
        self._desired = weights
        if self.decider.rebalance(self._index):
            self._due = [True] * len(self.symbols)
        self._index += 1

    def _rebalance(self, present: dict[int, BarEvent]) -> None:
        legs = [k for k in sorted(present) if self._desired[k] != self._tif[k] or self._due[k]]
        if not legs:
            return
        for k in legs:
            self._due[k] = False
        venue, pf, cfg = self.venue, self.portfolio, self.config
        events: list = []
        for k in legs:
            for order in venue.working_orders(self.symbols[k]):
                events += venue.cancel(order.order_id, present[k].timestamp_ns)
        if events:
            self._dispatch(events)
        prices = [present[k].open if k in present else self._last[k] for k in range(len(self.symbols))]
        units = [pf.position(s) for s in self.symbols]
        e_open = open_equity(pf.cash, units, prices)
        after = e_open
        basis = cfg.basis_code
        fees = {}
        for k in legs:
            if basis == 1:
                cf, of = leg_fees(e_open, units[k], self._desired[k], prices[k], cfg.equity_cost_rate)
                after = after - cf - of
            else:
                cf, of = NAN, NAN
            fees[k] = (cf, of)
        events = []
        for side in (-1, 1):
            for k in legs:
                sym = self.symbols[k]
                cq, cs, cf, oq, osd, of, _, _, _, rsz = leg_orders(
                    e_open, after, units[k], self._desired[k], prices[k], *venue.prev_bar(sym), basis, cfg.spread_bps,
                    cfg.slippage_bps, cfg.slippage_vol_k, NAN, NAN, NAN, fees[k][0], fees[k][1])
                first = cs if cq > 0.0 else osd
                if first != side or (cq <= 0.0 and oq <= 0.0):
                    continue
                ts = present[k].timestamp_ns
                if cq > 0.0:
                    events += venue.submit(self._order(sym, cs, cq, cf, False), ts)
                if oq > 0.0:
                    events += venue.submit(self._order(sym, osd, oq, of, rsz), ts)
        for k in legs:
            self._tif[k] = self._desired[k]
        if events:
            self._dispatch(events)

    def _order(self, symbol: str, side: int, qty: float, fee: float, resize: bool) -> Order:
        self._order_no += 1
        return Order(f"P-{self._order_no}", symbol, int(side), qty, fixed_fee=fee, resize=bool(resize))

    def _dispatch(self, events: list) -> None:
        orders = self.venue.orders
        pf = self.portfolio
        for e in events:
            self._ids += (e.timestamp_ns, e.sequence)
            if type(e) is FillEvent:
                pf.apply(e)
                self.fills.append(e)
                self.bus.publish(f"fills.{e.symbol}", e)
                units, avg = pf.holding(e.symbol)
                self.cache.set_position(e.symbol, units, avg)
            else:
                self.bus.publish(f"orders.{e.symbol}", e)
            o = orders[e.order_id]
            self.cache.update_order(o.order_id, STATUS_VALUE[o.status], o.symbol, o.side, o.quantity, o.filled,
                                    o.avg_fill_price)

    # -- snapshot support (the paper trader persists this) --------------------------------------

    def state(self) -> dict:
        return {"index": self._index, "tif": list(self._tif), "desired": list(self._desired), "last": list(self._last),
                "due": list(self._due), "order_no": self._order_no}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self._index, self._order_no = int(state["index"]), int(state["order_no"])
        self._tif = [float(x) for x in state["tif"]]
        self._desired = [float(x) for x in state["desired"]]
        self._last = [float(x) for x in state["last"]]
        self._due = [bool(x) for x in state["due"]]


def run_portfolio_engine(strategy: StrategySpec | str, params: Mapping[str, Any] | None, panel: Panel,
                         config: ExecutionConfig = ExecutionConfig(), initial_cash: float = 100_000.0,
                         bus: MessageBus | None = None) -> PortfolioEventEngine:
    """The portfolio replay's run through the event engine (weights decided once for the panel)."""
    engine = PortfolioEventEngine(panel.symbols, PrecomputedWeights(strategy, params, panel), config, initial_cash,
                                  bus=bus)
    return engine.run(panel)
