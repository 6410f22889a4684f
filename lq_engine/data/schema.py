"""The bar schema, partition keys and timeframe arithmetic.

A timeframe is ``<n><unit>`` with unit ``s``, ``m``, ``h``, ``d`` or ``w`` (``"1m"``, ``"15m"``,
``"1h"``, ``"1d"``). Canonical spelling uses the largest unit that divides the interval evenly, so
60 seconds is ``"1m"`` and 24 hours is ``"1d"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl

from lq_engine.settings import CALENDARS
from lq_engine.errors import InputError
# timeframes are parsed in the polars-free module the strategy layer reads (one definition)
from lq_engine.data.resample import (  # noqa: F401 (re-exported)
    _UNIT_NS, NS_PER_SECOND, canonical_timeframe, ns_to_timeframe, timeframe_to_ns,
)

BAR_COLUMNS: tuple[str, ...] = ("symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
VALUE_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
BAR_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "timeframe": pl.String(),
    "ts": pl.Int64(),
    **{c: pl.Float64() for c in VALUE_COLUMNS},
}
# What one lake partition file holds: symbol, timeframe and month live in the hive path.
PARTITION_COLUMNS: tuple[str, ...] = ("ts", *VALUE_COLUMNS)
PARTITION_SCHEMA: dict[str, pl.DataType] = {c: BAR_SCHEMA[c] for c in PARTITION_COLUMNS}

# Symbols become directory names in the lake, so they are restricted to a safe alphabet.
SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
_YEAR_NS = 365 * 86400 * NS_PER_SECOND
_EQUITY_DAYS = 252
_EQUITY_SESSION_NS = int(6.5 * 3600 * NS_PER_SECOND)


@dataclass(frozen=True, order=True)
class PartitionKey:
    timeframe: str
    symbol: str
    month: str  # 'YYYY-MM'

    def __str__(self) -> str:
        return f"{self.timeframe}/{self.symbol}/{self.month}"


def periods_per_year(timeframe: str, calendar: str) -> float:
    """Bars per year: 24/7 counts 365 days of 24 hours (1m -> 525600); equities count 252 sessions
    of 6.5 hours (1d -> 252, 1h -> 1638), and weekly bars 52."""
    tf = timeframe_to_ns(timeframe)
    if calendar == "24/7":
        return _YEAR_NS / tf
    if calendar == "equities":
        if tf >= _UNIT_NS["w"]:
            return 52.0 * _UNIT_NS["w"] / tf
        if tf >= _UNIT_NS["d"]:
            return _EQUITY_DAYS * _UNIT_NS["d"] / tf
        return _EQUITY_DAYS * _EQUITY_SESSION_NS / tf
    raise InputError(f"calendar {calendar!r} is not one of {CALENDARS}")


def month_of_ns(ts_ns: int) -> str:
    return month_code_text(month_code_of_ns(ts_ns))


def month_code_of_ns(ts_ns: int) -> int:
    """year * 12 + month - 1 of one ns epoch (whole seconds floored, so no float rounding)."""
    d = datetime.fromtimestamp(int(ts_ns) // NS_PER_SECOND, tz=timezone.utc)
    return d.year * 12 + d.month - 1


def month_start_ns(code: int) -> int:
    """The first instant (ns UTC) of a month code."""
    return int(datetime(code // 12, code % 12 + 1, 1, tzinfo=timezone.utc).timestamp()) * NS_PER_SECOND


def format_ns(ts_ns: int) -> str:
    """ISO-8601 UTC text of a nanosecond epoch (for messages and metadata)."""
    secs, ns = divmod(int(ts_ns), NS_PER_SECOND)
    base = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ns:09d}Z".replace(".000000000Z", "Z")


def month_code_expr(ts: pl.Expr) -> pl.Expr:
    """year * 12 + month - 1 of an int64 ns epoch column (cheaper than formatting text per row)."""
    d = pl.from_epoch(ts, time_unit="ns")
    return d.dt.year().cast(pl.Int32) * 12 + d.dt.month().cast(pl.Int32) - 1


def month_code_text(code: int) -> str:
    """The 'YYYY-MM' of a month code."""
    return f"{code // 12:04d}-{code % 12 + 1:02d}"
