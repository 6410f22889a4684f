"""The event engine (driver 3): the strategy and execution model driven by events, bar by bar.

Each bar is a ``BarEvent`` (``timestamp_ns`` + ``sequence`` from the run's ``Sequencer``),
recorded in the ``RuntimeCache`` and published on ``data.bars.<SYMBOL>``; order events go to
``orders.<SYMBOL>`` and fills to ``fills.<SYMBOL>``. ``SimulatedVenue`` executes, ``Portfolio``
books. The per-bar procedure is the compiled replay's (see ``kernel``), with the same fill
arithmetic, the same sizing function and the same decision rule, so fills and equity match the
replay to the last bit (tested).

``step(bar)`` is the API a live feed or the paper trader calls; ``run(series)`` is the
convenience that feeds a whole series. Both go through one per-bar loop (``_bars``) that binds the
engine's parts once per call, so a run pays for those look-ups once, not per bar. Decisions come
from a ``Decider``: ``PrecomputedDecider`` (the causal indicator bank of a known series, decisions
compiled once: the fast path for backtests) or ``StreamingDecider`` (rebuilds the indicators from
the bars seen so far: for live feeds, where the future does not exist yet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from lq_engine.core.bus import MessageBus
from lq_engine.core.cache import RuntimeCache
from lq_engine.core.events import BarEvent, FillEvent, OrderEvent
from lq_engine.core.sequencer import Sequencer
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.orders import STATUS_VALUE, Bracket, Order
from lq_engine.execution.portfolio import Portfolio
from lq_engine.execution.venue import SimulatedVenue
from lq_engine.replay.decisions import decide_targets
from lq_engine.replay.engine import Series, compile_program
from lq_engine.replay.sizing import NO_BRACKETS, BracketSpec, plan_orders_py
from lq_engine.strategies.bank import Bars, IndicatorBank
from lq_engine.strategies.registry import get_strategy
from lq_engine.strategies.rules import N_FLOAT, N_INT, rule_step

_new = object.__new__


class Decider(Protocol):
    def decide(self, index: int, bar: BarEvent) -> int: ...


class TargetsDecider:
    """Targets given up front, one per bar (e.g. from a custom decision source under test)."""

    __slots__ = ("targets",)

    def __init__(self, targets: Sequence[int] | np.ndarray) -> None:
        self.targets = [int(t) for t in targets]
        bad = [t for t in self.targets if t not in (-1, 0, 1)]
        if bad:
            raise ValueError(f"targets must be -1, 0 or +1, got {bad[0]!r} at bar {self.targets.index(bad[0])}")

    def decide(self, index: int, bar: BarEvent) -> int:
        return self.targets[index]


class PrecomputedDecider(TargetsDecider):
    """Targets of a known series, decided by the compiled rule over its causal indicator bank."""

    __slots__ = ()

    def __init__(self, strategy: str, params: Mapping[str, Any] | None, series: Series) -> None:
        _, bank, ip, fp = compile_program(strategy, params, series)
        self.targets = decide_targets(bank, ip, fp).tolist()


class StreamingDecider:
    """Decides from the bars received so far only (recomputes the indicator bank each bar: O(n))."""

    def __init__(self, strategy: str, params: Mapping[str, Any] | None) -> None:
        self._strategy = get_strategy(strategy)
        self._params = self._strategy.validated(params)
        self._cols: tuple[list[float], ...] = ([], [], [], [])
        self._pos = 0
        self._ext = 0.0

    def decide(self, index: int, bar: BarEvent) -> int:
        for col, v in zip(self._cols, (bar.open, bar.high, bar.low, bar.close)):
            col.append(v)
        bank = IndicatorBank(Bars(*(np.array(c) for c in self._cols)))
        ip, fp = self._strategy.compile(bank, self._params)
        ipa, fpa = np.array(ip, dtype=np.int64).reshape(N_INT), np.array(fp, dtype=np.float64).reshape(N_FLOAT)
        self._pos, self._ext = rule_step(bank.array(), len(self._cols[0]) - 1, self._pos, self._ext,
                                         *(int(v) for v in ipa), *(float(v) for v in fpa))
        return int(self._pos)


class EventEngine:
    def __init__(
        self,
        symbol: str,
        decider: Decider,
        config: ExecutionConfig = ExecutionConfig(),
        brackets: BracketSpec = NO_BRACKETS,
        initial_cash: float = 100_000.0,
        bus: MessageBus | None = None,
        cache: RuntimeCache | None = None,
        sequencer: Sequencer | None = None,
    ) -> None:
        self.symbol = symbol
        self.decider = decider
        self.config = config
        self.brackets = brackets
        self.bus = bus if bus is not None else MessageBus()
        self.cache = cache if cache is not None else RuntimeCache(initial_cash)
        self.sequencer = sequencer if sequencer is not None else Sequencer()
        self.venue = SimulatedVenue(config, self.sequencer)
        self.portfolio = Portfolio(initial_cash)
        self.fills: list[FillEvent] = []
        self.equity: list[float] = []
        self.targets: list[int] = []
        self._ids: list[int] = []  # timestamp_ns, sequence, timestamp_ns, ... of every event (see event_ids)
        self._bar_topic = f"data.bars.{symbol}"
        self._order_topic = f"orders.{symbol}"
        self._fill_topic = f"fills.{symbol}"
        self._index = 0
        self._target = 0
        self._pending = False
        self._order_no = 0
        self._units = self.portfolio.position(symbol)  # changes only in _dispatch (fills)
        # targets known up front are read directly (no decide() call per bar); others are asked
        self._known_targets = decider.targets if isinstance(decider, TargetsDecider) else None
        sl, tp, tr = brackets.fractions()
        self._plan_args = (config.basis_code, config.equity_cost_rate, config.spread_bps, config.slippage_bps,
                           config.slippage_vol_k, sl, tp, tr)

    # -- the bar-by-bar API ------------------------------------------------------------------

    @property
    def event_ids(self) -> list[tuple[int, int]]:
        """(timestamp_ns, sequence) of every event so far (bars, order events, fills), in order.

        Recorded flat (two ints per event: no tuple per event on the hot path), paired on read.
        """
        ids = self._ids
        return list(zip(ids[::2], ids[1::2]))

    def step(self, bar: BarEvent) -> None:
        """Process one closed bar of this engine's symbol (bars must come in time order)."""
        if bar.symbol != self.symbol:
            raise ValueError(f"event engine for {self.symbol!r} got a bar of {bar.symbol!r}")
        self._bars((bar,), None)

    def run(self, series: Series) -> EventEngine:
        """Feed every bar of ``series`` through the per-bar procedure (sequences drawn from the engine's
        sequencer as each bar is made, so they interleave with the venue's event sequences)."""
        if series.symbol != self.symbol:
            raise ValueError(f"event engine for {self.symbol!r} got series {series.symbol!r}")
        rows = zip(*(a.tolist() for a in (series.ts, series.open, series.high, series.low, series.close,
                                          series.volume)))
        self._bars(rows, self.sequencer.next)
        return self

    def _bars(self, items: Iterable, next_sequence: Callable[[], int] | None) -> None:
        """The per-bar procedure for each item: a ``BarEvent``, or, given ``next_sequence``, a
        (timestamp_ns, open, high, low, close, volume) row that becomes one.

        The engine's parts (cache, bus, venue, ...) are bound once per call: replacing one (the paper
        trader puts its gateway in as the venue, a restore puts in a cache) takes effect at the next
        call. The common bar (no target change, nothing working, nothing triggered) costs a cache write,
        the bar publish (just counted when nobody listens), the venue's check and the mark at the close.
        """
        sym = self.symbol
        cache = self.cache
        update_bar = cache.update_bar
        bus = self.bus
        publish = bus.publish
        bar_topic = self._bar_topic
        bar_route = bus.route(bar_topic)
        on_bar = self.venue.on_bar
        portfolio = self.portfolio
        ids = self._ids
        equity = self.equity
        targets = self.targets
        known = self._known_targets
        decide = self.decider.decide
        for item in items:
            if next_sequence is None:
                bar = item
                ts, seq, close = bar.timestamp_ns, bar.sequence, bar.close
                update_bar(sym, ts, seq, bar.open, bar.high, bar.low, close, bar.volume)
            else:
                ts, o, h, lo, close, v = item
                seq = next_sequence()
                # BarEvent(ts, seq, sym, o, h, lo, close, v) without the call of its generated __init__
                # (a Python frame behind a type call: ~40% of making a bar); test_run_makes_complete_bars
                bar = _new(BarEvent)
                bar.timestamp_ns = ts
                bar.sequence = seq
                bar.symbol = sym
                bar.open = o
                bar.high = h
                bar.low = lo
                bar.close = close
                bar.volume = v
                update_bar(sym, ts, seq, o, h, lo, close, v)
            ids.append(ts)
            ids.append(seq)
            if bar_route.handlers:
                publish(bar_topic, bar)
            else:
                bar_route.published += 1.0  # what publish counts when nobody listens
            if self._pending:
                self._pending = False
                self._execute_target(bar)
            events = on_bar(bar)
            if events:
                self._dispatch(events)
            cash = portfolio.cash
            units = self._units
            eq = cash if units == 0.0 else cash + units * close
            equity.append(eq)
            cache.cash = cash
            cache.equity = eq
            index = self._index
            target = known[index] if known is not None else decide(index, bar)
            targets.append(target)
            if target != self._target:
                self._target = target
                self._pending = True
            self._index = index + 1

    # -- snapshot support (the paper trader persists this; portfolio, cache and venue keep theirs) --

    def state(self) -> dict:
        """The engine's own bar-by-bar bookkeeping, as plain values."""
        return {"index": self._index, "target": self._target, "pending": self._pending, "order_no": self._order_no}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore ``state()`` into this engine (after its portfolio has been restored)."""
        self._index, self._target = int(state["index"]), int(state["target"])
        self._pending, self._order_no = bool(state["pending"]), int(state["order_no"])
        self._units = self.portfolio.position(self.symbol)

    # -- internals ---------------------------------------------------------------------------

    def _execute_target(self, bar: BarEvent) -> None:
        """Cancel the strategy's working market orders, size and submit the new ones at this open."""
        ts = bar.timestamp_ns
        venue = self.venue
        events: list = []
        for order in venue.working_orders(self.symbol):
            if order.parent_id is None:
                events += venue.cancel(order.order_id, ts)
        pending = 0.0
        for order in venue.working_orders(self.symbol):
            pending += order.side * (order.quantity - order.filled)
        cq, cs, cf, oq, osd, of, sl, tp, tr = plan_orders_py(
            self.portfolio.cash, self._units, pending, self._target, bar.open, *venue.prev_bar(self.symbol),
            *self._plan_args
        )
        if cq > 0.0:
            events += venue.submit(self._order(cs, cq, cf, None), ts)
        if oq > 0.0:
            bracket = Bracket(sl, tp, tr) if (sl == sl or tp == tp or tr == tr) else None
            events += venue.submit(self._order(osd, oq, of, bracket), ts)
        if events:
            self._dispatch(events)

    def _order(self, side: int, qty: float, fee: float, bracket: Bracket | None) -> Order:
        self._order_no += 1
        return Order(f"{self.symbol}-{self._order_no}", self.symbol, int(side), qty, bracket=bracket,
                     fixed_fee=fee)

    def _dispatch(self, events: list) -> None:
        """Record, book, publish and cache the venue's events of one call, in order."""
        orders = self.venue.orders
        bus = self.bus
        publish = bus.publish
        order_topic, fill_topic = self._order_topic, self._fill_topic
        order_route, fill_route = bus.route(order_topic), bus.route(fill_topic)
        update_order = self.cache.update_order
        ids = self._ids
        pf = self.portfolio
        fills = self.fills
        for e in events:
            ids.append(e.timestamp_ns)
            ids.append(e.sequence)
            if type(e) is FillEvent:
                pf.apply(e)
                fills.append(e)
                if fill_route.handlers:
                    publish(fill_topic, e)
                else:
                    fill_route.published += 1.0
            elif order_route.handlers:
                publish(order_topic, e)
            else:
                order_route.published += 1.0
            o = orders[e.order_id]
            update_order(o.order_id, STATUS_VALUE[o.status], o.symbol, o.side, o.quantity, o.filled, o.avg_fill_price)
        units, avg = pf.holding(self.symbol)
        self._units = units
        self.cache.set_position(self.symbol, units, avg)


def run_event_engine(
    strategy: str,
    params: Mapping[str, Any] | None,
    series: Series,
    config: ExecutionConfig = ExecutionConfig(),
    brackets: BracketSpec = NO_BRACKETS,
    initial_cash: float = 100_000.0,
    bus: MessageBus | None = None,
) -> EventEngine:
    """The replay's run through the event engine (precomputed causal decisions)."""
    engine = EventEngine(series.symbol, PrecomputedDecider(strategy, params, series), config, brackets, initial_cash,
                         bus=bus)
    return engine.run(series)


__all__ = ["EventEngine", "PrecomputedDecider", "TargetsDecider", "StreamingDecider", "run_event_engine", "OrderEvent"]
