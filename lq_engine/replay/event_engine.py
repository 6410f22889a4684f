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
from a ``Decider``: ``PrecomputedDecider`` (the decisions over a known series, made once: the
replay through the event engine) or ``StreamingDecider`` (the decisions over the bars seen so far,
remade each bar: what the paper trader uses, on a live feed and on history alike, so a strategy
that reads later bars cannot profit from them there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from lq_engine.core.bus import MessageBus
from lq_engine.core.cache import RuntimeCache
from lq_engine.core.events import BarEvent, FillEvent, OrderEvent
from lq_engine.core.sequencer import Sequencer
from lq_engine.errors import InputError
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.funding import FundingRates, funding_per_bar
from lq_engine.execution.orders import STATUS_VALUE, Bracket, Order
from lq_engine.execution.portfolio import Portfolio
from lq_engine.execution.venue import SimulatedVenue
from lq_engine.data.bars import Bars
from lq_engine.execution.sizing import NO_BRACKETS, BracketSpec, plan_orders_py
from lq_engine.replay.streaming import BarBuffer, check_history, decisions_over, visible_bars
from lq_engine.strategies.decide_errors import DecideError, naming_symbol
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.kernel_types import Decisions
from lq_engine.strategies.spec import StrategySpec

_new = object.__new__


class Decider(Protocol):
    def decide(self, index: int, bar: BarEvent) -> float: ...

    def exits(self, index: int) -> tuple[float, float, float] | None: ...


class TargetsDecider:
    """Targets given up front, one per bar (floats in [-1, 1]), with the strategy's exit fractions
    for each entry (``exits``: n x 3 stop-loss / take-profit / trailing, NaN = not set), if any."""

    __slots__ = ("targets", "_exits")

    def __init__(self, targets: Sequence[float] | np.ndarray, exits: np.ndarray | None = None) -> None:
        t = np.asarray(targets, dtype=np.float64)
        bad = ~((t >= -1.0) & (t <= 1.0))
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"targets must be floats in [-1, 1], got {t[i]!r} at bar {i}")
        self.targets = t.tolist()
        self._exits = None if exits is None else np.asarray(exits, dtype=np.float64)

    def decide(self, index: int, bar: BarEvent) -> float:
        return self.targets[index]

    def exits(self, index: int) -> tuple[float, float, float] | None:
        e = self._exits
        return None if e is None else (float(e[index, 0]), float(e[index, 1]), float(e[index, 2]))


class PrecomputedDecider(TargetsDecider):
    """The decisions of a known series, made once by the strategy's compiled decision loop (they
    depend on the bars and the strategy's own state only, never on fills)."""

    __slots__ = ()

    def __init__(self, strategy: StrategySpec | str, params: Mapping[str, Any] | None, series: Bars) -> None:
        with naming_symbol(series.symbol):
            d = resolve(strategy).decisions(params, series)
        super().__init__(d.targets, d.exits)


class StreamingDecider:
    """Decides from the bars received so far only (a live feed, and the paper trader on history):
    each bar goes into a growing buffer and the strategy's decisions are made over the visible bars
    (``replay.streaming``: O(n) per bar); the newest one is used. The future is not in memory, so a
    strategy that reads it sees padding (NaN) instead."""

    def __init__(self, strategy: StrategySpec | str, params: Mapping[str, Any] | None) -> None:
        spec = resolve(strategy)
        if spec.is_portfolio:
            raise InputError(f"strategy '{spec.name}' is a portfolio strategy: stream it with StreamingWeights")
        self._strategy = spec
        self._params = spec.validated(params)
        self._table = spec.table([self._params])
        self._plan = spec.indicator_plan(self._table)  # the same on every bar: made once
        self._buf = BarBuffer()
        self._last: Decisions | None = None

    @property
    def n(self) -> int:
        """Bars seen so far."""
        return self._buf.n

    def decide(self, index: int, bar: BarEvent) -> float:
        if index != self._buf.n:
            raise InputError(f"streaming decider: asked for bar {index}'s decision after {self._buf.n} bar(s)")
        self._buf.append(bar.timestamp_ns, bar.open, bar.high, bar.low, bar.close, bar.volume)
        try:
            self._last = decisions_over(self._strategy, self._table, self._buf.bars(), self._plan)
        except DecideError as e:
            e.name_symbol(bar.symbol)
            raise
        return float(self._last.targets[-1])

    def exits(self, index: int) -> tuple[float, float, float] | None:
        e = self._last.exits if self._last is not None else None
        return None if e is None else (float(e[-1, 0]), float(e[-1, 1]), float(e[-1, 2]))

    def replay(self, series: Any, n: int) -> Decisions:
        """The replay's decisions over the first ``n`` bars of a known ``series``, all at once (what
        ``PrecomputedDecider`` decides), the arrays padded as here: the reference a paper run on
        history is compared with."""
        return decisions_over(self._strategy, self._table, visible_bars(series, n), self._plan)

    def rows(self) -> list[tuple]:
        """(ts, open, high, low, close, volume) of the bars seen so far."""
        return self._buf.rows()

    def state(self) -> dict:
        """How many bars were seen and the last one's timestamp; the bars themselves are the caller's
        to keep (the paper trader stores one row per bar as it goes, not the history per snapshot)
        and to give back to ``load_state``."""
        return {"bars": self._buf.n, "last_ts": self._buf.last_ts}

    def load_state(self, state: Mapping[str, Any], rows: Iterable[Sequence]) -> None:
        """Take back the bars seen (``rows``: (ts, open, high, low, close, volume) of bars 0 ..
        ``state["bars"] - 1``), checked against ``state``."""
        buf = BarBuffer()
        for r in rows:
            buf.append(int(r[0]), *(float(x) for x in r[1:6]))
        check_history(state, buf.n, buf.last_ts)
        self._buf, self._last = buf, None


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
        funding: FundingRates | None = None,
    ) -> None:
        self.symbol = symbol
        self.funding = funding  # a perpetual's funding events (execution.funding); None: spot
        self.funding_paid: list[float] = []  # per bar, when funding is set: paid at the bar's start (< 0 received)
        self._last_ts: int | None = None  # the last bar's open and close (funding is marked there)
        self._last_close = float("nan")
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
        self.targets: list[float] = []
        self._ids: list[int] = []  # timestamp_ns, sequence, timestamp_ns, ... of every event (see event_ids)
        self._bar_topic = f"data.bars.{symbol}"
        self._order_topic = f"orders.{symbol}"
        self._fill_topic = f"fills.{symbol}"
        self._index = 0
        self._target = 0.0
        self._pending = False
        self._entry_exits: tuple[float, float, float] | None = None  # the strategy's exits for the pending target
        self._order_no = 0
        self._units = self.portfolio.position(symbol)  # changes only in _dispatch (fills)
        # targets known up front are read directly (no decide() call per bar); others are asked
        self._known_targets = decider.targets if isinstance(decider, TargetsDecider) else None
        self._plan_args = (config.basis_code, config.equity_cost_rate, config.spread_bps, config.slippage_bps,
                           config.slippage_vol_k)
        self._brackets = brackets.fractions()
        self._decider_exits = getattr(decider, "exits", None)

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
            raise InputError(f"event engine for {self.symbol!r} got a bar of {bar.symbol!r}")
        self._bars((bar,), None)

    def run(self, series: Bars) -> EventEngine:
        """Feed every bar of ``series`` through the per-bar procedure (sequences drawn from the engine's
        sequencer as each bar is made, so they interleave with the venue's event sequences)."""
        if series.symbol != self.symbol:
            raise InputError(f"event engine for {self.symbol!r} got series {series.symbol!r}")
        rows = zip(*(a.tolist() for a in (series.ts, series.open, series.high, series.low, series.close,
                                          series.volume)))
        rates = None
        if self.funding is not None and self._index == 0:
            rates = iter(funding_per_bar(self.funding, series.ts).tolist())  # the replay's array
        self._bars(rows, self.sequencer.next, rates)
        return self

    def _fund(self, ts: int, rate: float | None) -> None:
        """Funding at the start of the bar opening at ``ts`` (``rate``: from the series' rate per bar,
        or None: from the events since the last bar, ``FundingRates.between``, the same rule)."""
        if rate is None:
            rate = self.funding.between(self._last_ts, ts)
        paid = self.portfolio.apply_funding(self.symbol, self._last_close, rate)
        self.funding_paid.append(paid)

    def _bars(self, items: Iterable, next_sequence: Callable[[], int] | None, rates: Any = None) -> None:
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
        funded = self.funding is not None
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
            if funded:
                self._fund(ts, next(rates) if rates is not None else None)
                self._last_ts, self._last_close = ts, close
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
                if self._decider_exits is not None:
                    self._entry_exits = self._decider_exits(index)
            self._index = index + 1

    # -- snapshot support (the paper trader persists this; portfolio, cache and venue keep theirs) --

    def state(self) -> dict:
        """The engine's own bar-by-bar bookkeeping, as plain values."""
        state = {"index": self._index, "target": self._target, "pending": self._pending, "order_no": self._order_no,
                 "entry_exits": list(self._entry_exits) if self._entry_exits is not None else None}
        if self.funding is not None:
            state["funding"] = {"last_ts": self._last_ts, "last_close": self._last_close}
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore ``state()`` into this engine (after its portfolio has been restored)."""
        self._index, self._target = int(state["index"]), float(state["target"])
        self._pending, self._order_no = bool(state["pending"]), int(state["order_no"])
        ex = state.get("entry_exits")
        self._entry_exits = tuple(float(x) for x in ex) if ex is not None else None
        f = state.get("funding")
        if f is not None:
            self._last_ts, self._last_close = f["last_ts"], float(f["last_close"])
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
        sl, tp, tr = self._brackets
        ex = self._entry_exits
        if ex is not None:  # the strategy's legs for this entry, each falling back to the configured one
            sl, tp, tr = (ex[0] if ex[0] == ex[0] else sl), (ex[1] if ex[1] == ex[1] else tp), \
                (ex[2] if ex[2] == ex[2] else tr)
        cq, cs, cf, oq, osd, of, sl, tp, tr, resize = plan_orders_py(
            self.portfolio.cash, self._units, pending, self._target, bar.open, *venue.prev_bar(self.symbol),
            *self._plan_args, sl, tp, tr
        )
        if cq > 0.0:
            events += venue.submit(self._order(cs, cq, cf, None), ts)
        if oq > 0.0:
            bracket = Bracket(sl, tp, tr) if (sl == sl or tp == tp or tr == tr) else None
            events += venue.submit(self._order(osd, oq, of, bracket, resize), ts)
        if events:
            self._dispatch(events)

    def _order(self, side: int, qty: float, fee: float, bracket: Bracket | None, resize: bool = False) -> Order:
        self._order_no += 1
        return Order(f"{self.symbol}-{self._order_no}", self.symbol, int(side), qty, bracket=bracket,
                     fixed_fee=fee, resize=resize)

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
    strategy: StrategySpec | str,
    params: Mapping[str, Any] | None,
    series: Bars,
    config: ExecutionConfig = ExecutionConfig(),
    brackets: BracketSpec = NO_BRACKETS,
    initial_cash: float = 100_000.0,
    bus: MessageBus | None = None,
    funding: FundingRates | None = None,
) -> EventEngine:
    """The replay's run through the event engine (precomputed causal decisions); ``funding``: a
    perpetual's funding events."""
    engine = EventEngine(series.symbol, PrecomputedDecider(strategy, params, series), config, brackets, initial_cash,
                         bus=bus, funding=funding)
    return engine.run(series)


__all__ = ["EventEngine", "PrecomputedDecider", "TargetsDecider", "StreamingDecider", "run_event_engine", "OrderEvent"]
