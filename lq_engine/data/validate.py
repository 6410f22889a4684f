"""The validity rules of bars, checked vectorized over a whole frame in file order.

Valid: ts strictly increasing per (symbol, timeframe); every value finite; every price > 0;
low <= min(open, close); high >= max(open, close); volume >= 0; and sane: no price above
``MAX_PRICE`` and no close more than ``MAX_JUMP`` times (or less than 1/``MAX_JUMP`` of) the previous
close of the same series: a number that large, or such a jump, is a unit or typing error, and it
breaks every return statistic computed over it (a price of 1e308 made every Sharpe 0). The error
names the first failing row (1-based, in file order), the field, the values, and how many rows fail
any rule.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from lq_engine.data.errors import IngestError
from lq_engine.data.schema import PRICE_COLUMNS, VALUE_COLUMNS, format_ns

_c = pl.col
MAX_PRICE = 1e12  # no traded instrument is quoted this high; squares of larger values overflow soon
MAX_JUMP = 1000.0  # close over previous close (or its inverse) within one series


def _rules(multi: bool) -> list[tuple[str, pl.Expr]]:
    prev = _c("ts").shift(1)
    prev = prev.over("symbol", "timeframe") if multi else prev
    rules: list[tuple[str, pl.Expr]] = []
    for c in VALUE_COLUMNS:
        rules.append((f"{c}:finite", ~_c(c).is_finite().fill_null(False)))
    for c in PRICE_COLUMNS:
        rules.append((f"{c}:positive", _c(c) <= 0))
        rules.append((f"{c}:absurd", _c(c) > MAX_PRICE))
    prev_close = _c("close").shift(1)
    prev_close = prev_close.over("symbol", "timeframe") if multi else prev_close
    ratio = _c("close") / prev_close
    rules.append(("close:jump", (ratio > MAX_JUMP) | (ratio < 1.0 / MAX_JUMP)))
    rules += [
        ("high:below_low", _c("high") < _c("low")),
        ("low:above_body", _c("low") > pl.min_horizontal("open", "close")),
        ("high:below_body", _c("high") < pl.max_horizontal("open", "close")),
        ("volume:negative", _c("volume") < 0),
        ("ts:duplicate", _c("ts") == prev),
        ("ts:order", _c("ts") < prev),
    ]
    return rules


def _describe(rule: str, row: dict, prev_ts: int | None) -> tuple[str, str]:
    field, kind = rule.split(":")
    v = row.get(field)
    if kind == "finite":
        what = "missing" if v is None else ("NaN" if v != v else str(v))
        return field, f"{field} is {what}; values must be finite numbers"
    if kind == "positive":
        return field, f"{field} {v} is not a positive price"
    if kind == "absurd":
        return field, f"{field} {v} is not a sane price (above {MAX_PRICE:g})"
    if kind == "jump":
        return field, (f"close {v} is more than {MAX_JUMP:g} times away from the previous close of "
                       f"{row['symbol']} {row['timeframe']} (a unit or typing error?)")
    if kind == "below_low":
        return field, f"high {row['high']} is below low {row['low']}"
    if kind == "above_body":
        return field, f"low {row['low']} is above min(open, close) {min(row['open'], row['close'])}"
    if kind == "below_body":
        return field, f"high {row['high']} is below max(open, close) {max(row['open'], row['close'])}"
    if kind == "negative":
        return field, f"volume {v} is negative"
    if kind == "duplicate":
        return field, f"duplicate timestamp {format_ns(v)} for {row['symbol']} {row['timeframe']}"
    if kind == "order":
        return field, (f"timestamp {format_ns(v)} is before the previous bar {format_ns(prev_ts)} of "
                       f"{row['symbol']} {row['timeframe']} (timestamps must increase)")
    raise AssertionError(rule)


def is_constant(s: pl.Series) -> bool:
    """Every value equals the first (no nulls): much cheaper than ``n_unique() == 1`` on text."""
    return len(s) > 0 and s.null_count() == 0 and bool((s == s[0]).all())


def validate_bars(file: str | Path, df: pl.DataFrame, row_offset: int = 0) -> None:
    """Raise IngestError for the first invalid row of ``df`` (bar schema, file order)."""
    if df.height == 0:
        raise IngestError(file, "no data rows")
    multi = not (is_constant(df["symbol"]) and is_constant(df["timeframe"]))
    rules = _rules(multi)
    flags = [e.fill_null(False).alias(name) for name, e in rules]
    totals = df.select(f.sum() for f in flags).row(0)
    if not any(totals):
        return
    bad = df.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("i"), pl.any_horizontal(flags).alias("_any"), *flags
    ).filter("_any")
    n_bad = bad.height
    first = bad.row(0, named=True)
    i = first["i"]
    rule = next(name for name, _ in rules if first[name])
    row = df.row(i, named=True)
    prev_ts = None
    if rule.startswith("ts"):
        same = df.head(i).filter((_c("symbol") == row["symbol"]) & (_c("timeframe") == row["timeframe"]))
        prev_ts = same["ts"][-1] if same.height else None
    field, reason = _describe(rule, row, prev_ts)
    raise IngestError(file, reason, row=row_offset + i + 1, field=field, rows_affected=n_bad)
