"""Timestamps to int64 nanoseconds UTC.

Integer epochs: the unit is declared (``ts_unit`` = s, ms, us or ns) or read from magnitude. The
rule: each unit has a window of plausible values, the instants from 1971-01-01 to 2100-01-01
UTC expressed in that unit:

    s  [3.15e7,  4.10e9)     ms [3.15e10, 4.10e12)
    us [3.15e13, 4.10e15)    ns [3.15e16, 4.10e18)

The windows do not overlap, so the largest absolute value picks at most one unit; a value in a gap
between windows fits no unit and is rejected rather than guessed. Every other value must then lie
in the same window (otherwise the file mixes units or holds a bogus value, and the row is named).
A declared unit skips the windows. Floats that are whole numbers are treated as integers.

Text: ISO-8601 dates and date-times (``T`` or space, optional fraction). An offset or ``Z``
converts to UTC; naive text is UTC. Native datetimes (Parquet) are converted to UTC ns; naive
ones are UTC.
"""

from __future__ import annotations

from lq_engine.errors import LQError

import re

import polars as pl

UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_LO_S, _HI_S = 31_536_000, 4_102_444_800  # 1971-01-01, 2100-01-01
WINDOWS = {u: (_LO_S * 1_000_000_000 // f, _HI_S * 1_000_000_000 // f) for u, f in UNIT_NS.items()}

_ISO_FORMATS = [
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"), "%Y-%m-%d %H:%M:%S"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"), "%Y-%m-%dT%H:%M:%S"),
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"), "%Y-%m-%d %H:%M"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"), "%Y-%m-%dT%H:%M"),
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+$"), "%Y-%m-%d %H:%M:%S%.f"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+$"), "%Y-%m-%dT%H:%M:%S%.f"),
]
_TZ_SUFFIX = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


class TimestampError(LQError, ValueError):
    """Raised with the 0-based index of the first bad value and how many are bad."""

    def __init__(self, reason: str, index: int | None = None, count: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index
        self.count = count


def infer_epoch_unit(max_abs: int) -> str:
    for unit, (lo, hi) in WINDOWS.items():
        if lo <= max_abs < hi:
            return unit
    raise TimestampError(
        f"integer timestamp {max_abs} fits no epoch unit (s, ms, us, ns for dates 1971..2099); "
        "declare ts_unit if it is right"
    )


def _first_bad(mask: pl.Series) -> tuple[int, int]:
    idx = mask.arg_true()
    return int(idx[0]), len(idx)


def epoch_to_ns(values: pl.Series, unit: str | None = None) -> pl.Series:
    """Integer (or whole float) epochs to Int64 ns, by declared unit or the magnitude rule."""
    if values.dtype.is_float():
        frac = values.is_not_null() & ((values != values.floor()) | ~values.is_finite())
        if frac.any():
            i, n = _first_bad(frac)
            raise TimestampError(f"timestamp {values[i]} is not a whole-number epoch", i, n)
        values = values.cast(pl.Int64)
    else:
        values = values.cast(pl.Int64)
    nulls = values.is_null()
    if nulls.any():
        i, n = _first_bad(nulls)
        raise TimestampError("timestamp is missing", i, n)
    if unit is None:
        if len(values) == 0:
            return values
        unit = infer_epoch_unit(int(values.abs().max()))
        lo, hi = WINDOWS[unit]
        out_of = (values < lo) | (values >= hi)
        if out_of.any():
            i, n = _first_bad(out_of)
            raise TimestampError(
                f"timestamp {values[i]} is outside the {unit} epoch range the file's other values use "
                "(mixed units?); declare ts_unit if it is right",
                i,
                n,
            )
    elif unit not in UNIT_NS:
        raise TimestampError(f"ts_unit {unit!r} is not one of {list(UNIT_NS)}")
    f = UNIT_NS[unit]
    if f == 1:
        return values
    limit = (2**63 - 1) // f
    over = values.abs() > limit
    if over.any():
        i, n = _first_bad(over)
        raise TimestampError(f"timestamp {values[i]} in {unit} overflows int64 nanoseconds", i, n)
    return values * f


# int64 nanoseconds hold 1677-09-21 .. 2262-04-11; polars wraps a text date outside silently when it
# parses to ns (year 2600 became 2015), so the year is checked before any conversion.
NS_RANGE_TEXT = "1678-01-01 .. 2261-12-31"
_MIN_YEAR, _MAX_YEAR = 1678, 2261


def _check_years(values: pl.Series) -> None:
    year = values.str.strip_chars().str.slice(0, 4)
    year = year.cast(pl.Int32, strict=False).fill_null(_MIN_YEAR)  # not a year: left to the parser
    bad = (year < _MIN_YEAR) | (year > _MAX_YEAR)
    if bad.any():
        i, n = _first_bad(bad)
        raise TimestampError(f"timestamp {values[i]!r} is outside the range a bar time can hold "
                             f"({NS_RANGE_TEXT}, int64 nanoseconds)", i, n)


def strings_to_ns(values: pl.Series) -> pl.Series:
    """ISO-8601 text to Int64 ns UTC; the format is chosen from the first value and applied strictly
    (a row that does not parse is an error, not a guess)."""
    present = values.drop_nulls()
    if len(present) == 0:
        raise TimestampError("timestamp is missing", 0, len(values))
    _check_years(values)
    sample = present[0].strip()
    fmt = None
    if _TZ_SUFFIX.search(sample):
        parsed = values.str.strip_chars().str.to_datetime(time_unit="ns", time_zone="UTC", strict=False)
    else:
        fmt = next((f for rx, f in _ISO_FORMATS if rx.match(sample)), None)
        if fmt is None:
            try:
                parsed = values.str.strip_chars().str.to_datetime(time_unit="ns", strict=False)
            except pl.exceptions.PolarsError:
                raise TimestampError(f"timestamp {sample!r} is not a recognised date-time", 0, None) from None
        else:
            parsed = values.str.strptime(pl.Datetime("ns"), fmt, strict=False, cache=False)
    bad = parsed.is_null()
    if bad.any():
        i, n = _first_bad(bad)
        raw = values[i]
        if raw is None:
            reason = "timestamp is missing"
        else:
            reason = f"timestamp {raw!r} cannot be parsed as a date-time"
            if fmt is not None:
                reason += f" (expected format {fmt!r}, taken from the first row)"
        raise TimestampError(reason, i, n)
    return _datetime_to_ns(parsed)


def _datetime_to_ns(s: pl.Series) -> pl.Series:
    dt = s.dtype
    if isinstance(dt, pl.Datetime) and dt.time_unit != "ns":
        year = s.dt.year()
        bad = (year < _MIN_YEAR) | (year > _MAX_YEAR)
        if bad.any():
            i, n = _first_bad(bad.fill_null(False))
            raise TimestampError(f"timestamp {s[i]} is outside the range a bar time can hold "
                                 f"({NS_RANGE_TEXT}, int64 nanoseconds)", i, n)
    if isinstance(dt, pl.Datetime) and dt.time_zone is not None:
        s = s.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return s.cast(pl.Datetime("ns")).dt.epoch("ns")


def to_ns(values: pl.Series, unit: str | None = None) -> pl.Series:
    """Any supported timestamp column to Int64 ns UTC."""
    dt = values.dtype
    if dt.is_integer() or dt.is_float():
        return epoch_to_ns(values, unit)
    if isinstance(dt, pl.Datetime):
        if values.null_count():
            i, n = _first_bad(values.is_null())
            raise TimestampError("timestamp is missing", i, n)
        return _datetime_to_ns(values)
    if isinstance(dt, pl.Date):
        return _datetime_to_ns(values.cast(pl.Datetime("ns")))
    if dt == pl.String:
        return strings_to_ns(values)
    raise TimestampError(f"timestamp column has type {dt}, expected integers, text or datetimes")
