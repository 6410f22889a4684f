"""Feeds: where the paper trader's bars come from, behind one interface.

``ReplayFeed`` replays a frozen dataset or lake data at ``speed`` bars per second of wall time
(None: as fast as possible). ``CcxtFeed`` polls an exchange's closed bars through ccxt, an optional
dependency imported only when such a feed is built. A feed numbers its bars from 0, so a restart
resumes at a bar index.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from lq_engine.data.fetch import CcxtMissingError, require_ccxt
from lq_engine.data.frozen import load_frozen
from lq_engine.data.lake import read_bars
from lq_engine.data.paths import DataPaths
from lq_engine.errors import InputError
from lq_engine.live.credentials import Credentials, redact
from lq_engine.live.errors import FeedUnavailableError
from lq_engine.optimize.folds import clock_of
from lq_engine.data.bars import Bars
from lq_engine.strategies.panel import Panel


@dataclass(frozen=True, slots=True)
class FeedBar:
    index: int
    ts: int  # ns UTC, bar open
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class FeedGroup:
    """One clock bar of a universe: the bars of the symbols that have one, as
    (symbol, open, high, low, close, volume), in symbol order."""

    index: int
    ts: int
    bars: tuple[tuple[str, float, float, float, float, float], ...]


class Feed(Protocol):
    symbol: str

    @property
    def series(self) -> Bars | None:
        """The whole series when it is known in advance (replays), else None (live)."""
        ...

    def describe(self) -> str:
        """Identity of the source (stored in the run config; never holds secrets)."""
        ...

    def bars(self, start: int, stop: int | None) -> Iterator[FeedBar]:
        """Bars ``start`` .. ``stop - 1`` (None: until the feed ends), paced as the feed paces them."""
        ...

    def latest_index(self) -> int:
        """Index of the newest bar available now (-1: none yet)."""
        ...


class ReplayFeed:
    def __init__(self, series: Bars, speed: float | None = None, source: str = "memory",
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise InputError(f"replay feed: speed must be > 0 bars per second or None, got {speed!r}")
        self.symbol = series.symbol
        self._series = series.validated()
        self.speed = speed
        self.source = source
        self._clock, self._sleep = clock, sleep
        self._t0: float | None = None
        self._start = 0
        self._stop = series.n

    @property
    def series(self) -> Bars:
        return self._series

    def describe(self) -> str:
        return self.source

    def bars(self, start: int, stop: int | None) -> Iterator[FeedBar]:
        s = self._series
        stop = s.n if stop is None else min(stop, s.n)
        self._t0, self._start, self._stop = self._clock(), start, stop
        cols = [a.tolist() for a in (s.ts, s.open, s.high, s.low, s.close, s.volume)]
        for i in range(start, stop):
            if self.speed is not None:
                due = self._t0 + (i - start + 1) / self.speed  # bar i is closed 1/speed s after bar i-1
                wait = due - self._clock()
                if wait > 0:
                    self._sleep(wait)
            yield FeedBar(i, *(c[i] for c in cols))

    def latest_index(self) -> int:
        last = self._stop - 1  # bars past a run's stop are not offered
        if self.speed is None or self._t0 is None:
            return last
        return min(last, self._start - 1 + int((self._clock() - self._t0) * self.speed))

    @classmethod
    def from_frozen(cls, folder: Path, symbol: str, speed: float | None = None) -> ReplayFeed:
        ds = load_frozen(Path(folder))
        series = ds.series(symbol).validated()
        return cls(series, speed, source=f"frozen:{ds.name}@{ds.content_hash[:16]}:{symbol}")

    @classmethod
    def from_lake(cls, paths: DataPaths, symbol: str, timeframe: str, speed: float | None = None,
                  start_ns: int | None = None, end_ns: int | None = None) -> ReplayFeed:
        df = read_bars(paths, [symbol], timeframe, start_ns, end_ns)
        if df.height == 0:
            raise InputError(f"lake {paths.lake}: no {timeframe} bars for {symbol!r}"
                             + (f" in [{start_ns}, {end_ns})" if start_ns or end_ns else ""))
        series = Bars.from_arrays(symbol, *(df[c].to_numpy() for c in ("ts", "open", "high", "low", "close",
                                                                         "volume")))
        return cls(series, speed, source=f"lake:{timeframe}:{symbol}:{int(series.ts[0])}-{int(series.ts[-1])}")


class PanelFeed:
    """A universe's bars replayed clock bar by clock bar (a ``FeedGroup`` each): what a portfolio
    strategy's paper run reads. ``panel`` is the whole universe, known in advance."""

    series = None

    def __init__(self, panel: Panel, speed: float | None = None, source: str = "memory",
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise InputError(f"replay feed: speed must be > 0 bars per second or None, got {speed!r}")
        self.panel = panel
        self.symbols = panel.symbols
        self.symbol = ",".join(panel.symbols)
        self.speed, self.source = speed, source
        self._clock, self._sleep = clock, sleep
        self._t0: float | None = None
        self._start, self._stop = 0, panel.n

    def describe(self) -> str:
        return self.source

    def bars(self, start: int, stop: int | None) -> Iterator[FeedGroup]:
        p = self.panel
        stop = p.n if stop is None else min(stop, p.n)
        self._t0, self._start, self._stop = self._clock(), start, stop
        cols = [a.tolist() for a in (p.open, p.high, p.low, p.close, p.volume)]
        mask = p.mask.tolist()
        ts = p.ts.tolist()
        for i in range(start, stop):
            if self.speed is not None:
                wait = self._t0 + (i - start + 1) / self.speed - self._clock()
                if wait > 0:
                    self._sleep(wait)
            yield FeedGroup(i, ts[i], tuple((s, *(c[k][i] for c in cols)) for k, s in enumerate(self.symbols)
                                            if mask[k][i]))

    def latest_index(self) -> int:
        last = self._stop - 1
        if self.speed is None or self._t0 is None:
            return last
        return min(last, self._start - 1 + int((self._clock() - self._t0) * self.speed))

    @classmethod
    def from_frozen(cls, folder: Path, speed: float | None = None) -> PanelFeed:
        ds = load_frozen(Path(folder))
        series = [ds.series(s) for s in ds.symbols]
        panel = Panel.from_series(series, clock_of([s.ts for s in series]))
        return cls(panel, speed, source=f"frozen:{ds.name}@{ds.content_hash[:16]}:{','.join(panel.symbols)}")


class CcxtFeed:
    """Closed bars of one market from an exchange, from ``since_ns`` on (bar index 0 = first bar).

    ``exchange`` may be given (any object with ccxt's ``fetch_ohlcv``); otherwise ccxt is imported
    here and the exchange built with ``credentials`` (which are passed on, never stored).
    """

    series = None

    def __init__(self, exchange_id: str, symbol: str, timeframe: str, since_ns: int,
                 credentials: Credentials | None = None, exchange: Any = None, poll_seconds: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.exchange_id, self.symbol, self.timeframe, self.since_ns = exchange_id, symbol, timeframe, int(since_ns)
        self._credentials = credentials
        self._poll, self._sleep = poll_seconds, sleep
        self._seen: list[FeedBar] = []
        if exchange is None:
            try:
                ccxt = require_ccxt("the live exchange feed")
            except CcxtMissingError as e:
                raise FeedUnavailableError(f"{e}; or replay lake/frozen data instead") from None
            cls = getattr(ccxt, exchange_id, None)
            if cls is None:
                raise FeedUnavailableError(f"ccxt has no exchange {exchange_id!r}")
            exchange = cls({"enableRateLimit": True, **(credentials.ccxt_options() if credentials else {})})
        self._exchange = exchange

    def describe(self) -> str:
        return f"ccxt:{self.exchange_id}:{self.timeframe}:{self.symbol}:{self.since_ns}"

    def _fetch(self) -> None:
        since_ms = (self._seen[-1].ts // 1_000_000 + 1) if self._seen else self.since_ns // 1_000_000
        try:
            rows = self._exchange.fetch_ohlcv(self.symbol, self.timeframe, since=since_ms)
        except Exception as e:  # ccxt's network/auth errors; the message may echo request details
            raise FeedUnavailableError(f"exchange {self.exchange_id} unreachable or refused "
                                       f"({type(e).__name__}: {redact(str(e), self._credentials)})") from None
        closed = rows[:-1]  # the last candle is still forming
        for r in closed:
            ts = int(r[0]) * 1_000_000
            if self._seen and ts <= self._seen[-1].ts:
                continue
            self._seen.append(FeedBar(len(self._seen), ts, *(float(v) for v in r[1:6])))

    def bars(self, start: int, stop: int | None) -> Iterator[FeedBar]:
        i = start
        while stop is None or i < stop:
            while len(self._seen) <= i:
                before = len(self._seen)
                self._fetch()
                if len(self._seen) == before:
                    self._sleep(self._poll)
            yield self._seen[i]
            i += 1

    def latest_index(self) -> int:
        return len(self._seen) - 1

