"""Round trips: a fills log read as trades, the way a trader reads a tearsheet.

A round trip of one symbol runs from the fill that leaves flat to the fill that returns to flat. A
fill that crosses zero closes the trip (its share of the fill) and opens the next one on the other
side with the rest. Adds raise the average entry price (weighted by quantity), reductions realize
PnL against it, as the account does (``execution.fillmath.apply_fill``). A trip still open at the
end is marked at the last close (``exit_reason`` "open"; the others: "signal", the strategy's own
decision, or a protective order: "stop_loss", "take_profit", "trailing_stop"). Each trip's ``pnl``
is its realized PnL net of every fee of its fills (a crossing fill's fee split by quantity), so the
trips of a run add up to its final equity minus its starting cash.

Perpetuals: given the run's funding (per bar, paid at the bar's start; negative = received), each
payment belongs to the trip open then: the trip shows ``funding_paid`` and ``funding_received``
(both >= 0) and its ``pnl`` is net of them too, so the trips still add up to the final equity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

OPEN = "open"  # exit_reason of a trip still open at the end (marked at the last close)
READABLE = {"market": "signal", "stop": "stop_loss"}  # fill reasons as a trader names an exit


@dataclass
class _Trip:
    symbol: str
    side: int  # +1 long, -1 short
    entry_ts: int
    entry_bar: int
    held: float = 0.0  # units held now (> 0)
    cost: float = 0.0  # held x average entry price
    bought: float = 0.0  # units entered in total (adds included)
    entered: float = 0.0  # their value at entry prices
    sold: float = 0.0  # units exited
    exited: float = 0.0  # their value at exit prices
    peak: float = 0.0  # largest position (units)
    pnl: float = 0.0  # realized, net of fees (and of funding)
    extra: dict = field(default_factory=dict)
    funding_paid: float | None = None  # perpetuals: funding paid / received while open (None: spot)
    funding_received: float | None = None

    def fund(self, paid: float) -> None:
        self.pnl -= paid
        if paid > 0.0:
            self.funding_paid = (self.funding_paid or 0.0) + paid
        elif paid < 0.0:
            self.funding_received = (self.funding_received or 0.0) - paid

    def add(self, q: float, price: float, fee: float) -> None:
        self.held += q
        self.cost += q * price
        self.bought += q
        self.entered += q * price
        self.peak = max(self.peak, self.held)
        self.pnl -= fee

    def reduce(self, q: float, price: float, fee: float) -> None:
        avg = self.cost / self.held
        self.pnl += self.side * q * (price - avg) - fee
        self.cost -= q * avg
        self.held -= q
        self.sold += q
        self.exited += q * price
        if self.held <= 1e-12 * self.peak:  # rounding residue: flat
            self.held, self.cost = 0.0, 0.0

    def row(self, exit_ts: int, exit_bar: int, reason: str) -> dict[str, Any]:
        entry_price = self.entered / self.bought
        return {"symbol": self.symbol, "side": "long" if self.side > 0 else "short",
                "entry_ts": self.entry_ts, "exit_ts": exit_ts, "entry_bar": self.entry_bar, "exit_bar": exit_bar,
                "bars": exit_bar - self.entry_bar, "entry_price": entry_price,
                "exit_price": self.exited / self.sold if self.sold > 0 else float("nan"),
                "quantity": self.peak, "pnl": self.pnl, "return": self.pnl / self.entered,
                "exit_reason": reason, **self.extra,
                **({} if self.funding_paid is None else {"funding_paid": self.funding_paid,
                                                         "funding_received": self.funding_received})}


def round_trips(symbol: Sequence[str], ts: np.ndarray, bar: np.ndarray, side: np.ndarray, quantity: np.ndarray,
                price: np.ndarray, fee: np.ndarray, reason: Sequence[str],
                marks: Mapping[str, tuple[int, int, float]], extra: Mapping[str, Any] | None = None,
                funding: Mapping[str, np.ndarray] | None = None) -> list[dict]:
    """The round trips of one run's fills (in fill order; ``marks``: symbol -> (ts, bar, close) at the
    end, for trips still open). ``extra`` columns are copied into every row. ``funding``: symbol ->
    funding paid per bar (a perpetual's ``ReplayResult.funding``); its trips get the funding columns."""
    trips: list[dict] = []
    live: dict[str, _Trip] = {}
    extra = dict(extra or {})
    funding = {sym: np.asarray(v, dtype=np.float64) for sym, v in (funding or {}).items()}
    done = dict.fromkeys(funding, 0)  # per symbol: funding of the bars before this one is booked

    def fund(sym: str, upto: int) -> None:  # the payments of bars < upto go to the trip open then
        paid = funding.get(sym)
        if paid is None:
            return
        trip = live.get(sym)
        for j in np.flatnonzero(paid[done[sym]:upto]) + done[sym]:
            if trip is not None:
                trip.fund(float(paid[j]))
        done[sym] = max(done[sym], upto)

    for k in range(len(ts)):
        sym, s, q, px, f = symbol[k], int(side[k]), float(quantity[k]), float(price[k]), float(fee[k])
        t, b = int(ts[k]), int(bar[k])
        if q <= 0.0:
            continue
        fund(sym, b + 1)  # funding is paid at the start of a bar, before its fills
        trip = live.get(sym)
        if trip is None:
            trip = live[sym] = _Trip(sym, s, t, b, extra=extra, **_spot_or_perp(sym in funding))
            trip.add(q, px, f)
            continue
        if s == trip.side:
            trip.add(q, px, f)
            continue
        closing = min(q, trip.held)
        trip.reduce(closing, px, f * closing / q)
        if trip.held == 0.0:
            trips.append(trip.row(t, b, READABLE.get(str(reason[k]), str(reason[k]))))
            del live[sym]
            rest = q - closing
            if rest > 1e-12 * q:  # crossed zero: the rest opens a trip on the other side
                nxt = live[sym] = _Trip(sym, s, t, b, extra=extra, **_spot_or_perp(sym in funding))
                nxt.add(rest, px, f * rest / q)
    for sym in funding:
        fund(sym, funding[sym].shape[0])
    for sym, trip in live.items():
        t, b, close = marks[sym]
        trip.reduce(trip.held, float(close), 0.0)
        trips.append(trip.row(int(t), int(b), OPEN))
    trips.sort(key=lambda r: (r["entry_ts"], r["symbol"]))
    return trips


def _spot_or_perp(perp: bool) -> dict[str, float | None]:
    return {"funding_paid": 0.0, "funding_received": 0.0} if perp else {}


SCHEMA = {"symbol": pl.String, "side": pl.String, "entry_time": pl.Datetime("ns", "UTC"),
          "exit_time": pl.Datetime("ns", "UTC"), "bars": pl.Int64,
          "duration": pl.Duration("ns"), "entry_price": pl.Float64, "exit_price": pl.Float64,
          "quantity": pl.Float64, "pnl": pl.Float64, "return": pl.Float64, "exit_reason": pl.String}


FUNDING_SCHEMA = {"funding_paid": pl.Float64, "funding_received": pl.Float64}


def trips_frame(rows: list[dict], extra_schema: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """Round-trip rows as a table with readable times (UTC) and the duration of each trip."""
    schema = {**(extra_schema or {}), **SCHEMA}
    if any("funding_paid" in r for r in rows):  # a perpetual's trips
        schema.update(FUNDING_SCHEMA)
    if not rows:
        return pl.DataFrame(schema=schema)
    df = pl.DataFrame(rows, infer_schema_length=None)
    df = df.with_columns(pl.col("entry_ts").cast(pl.Datetime("ns", "UTC")).alias("entry_time"),
                         pl.col("exit_ts").cast(pl.Datetime("ns", "UTC")).alias("exit_time"),
                         (pl.col("exit_ts") - pl.col("entry_ts")).cast(pl.Duration("ns")).alias("duration"))
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


def trade_stats(trips: pl.DataFrame) -> dict[str, float]:
    """Trades, win rate, best / worst / average trade return, average win and loss (returns),
    expectancy (the mean PnL per trade, in cash) and the mean length in bars."""
    r = trips["return"].to_numpy() if trips.height else np.empty(0)
    wins, losses = r[r > 0], r[r < 0]
    nan = float("nan")
    return {"trades": float(r.size), "win_rate": float(wins.size / r.size) if r.size else nan,
            "best_trade": float(r.max()) if r.size else nan, "worst_trade": float(r.min()) if r.size else nan,
            "average_trade": float(r.mean()) if r.size else nan,
            "average_win": float(wins.mean()) if wins.size else nan,
            "average_loss": float(losses.mean()) if losses.size else nan,
            "expectancy": float(trips["pnl"].mean()) if trips.height else nan,
            "average_bars": float(trips["bars"].mean()) if trips.height else nan}
