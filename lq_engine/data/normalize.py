"""A freshly read frame to the bar schema: timestamps to ns, symbol and timeframe resolved, prices adjusted.

Symbol: a symbol column, else the declared value (``lq ingest --symbol``), else the file name. A
declared symbol and a symbol column must agree (a file holding other symbols is refused).
Timeframe: a timeframe column, else the declared value, else the file name, else inferred from the
timestamp spacing. File names like ``BTCUSDT-1m-2024-01.csv`` (Binance dumps, also their ``.zip``
and the CSV inside it) or ``AAPL_1d.csv`` give both; any other stem is taken whole as the symbol,
except for Binance klines (recognised by content): their rows carry no symbol, so a file whose name
does not say it is refused with a hint to pass ``--symbol``. Inference takes the most common
positive spacing between consecutive bars of a symbol (ties go to the smallest), which must be a
whole number of seconds.

Adjusted close (Yahoo Finance's ``Adj Close``): open, high, low and close are multiplied by
``factor = adj_close / close`` row by row, so the bars are adjusted like the bundled data and
returns across dividends are right. Volume is left as it is: Yahoo's volume is already on the
split-adjusted basis of its ``Close``, and the factor only carries dividends and distributions,
which do not change how many shares traded (dividing by it would invent volume). The raw close is
kept in the frame as ``close_raw``; the lake stores the bar schema only (its partition schema is
fixed), and the file itself stays byte for byte in the raw archive.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from lq_engine.data.errors import IngestError
from lq_engine.data.readers import Layout, sniff, zip_member_name
from lq_engine.data.schema import (BAR_COLUMNS, PRICE_COLUMNS, SYMBOL_RE, VALUE_COLUMNS, canonical_timeframe,
                                   ns_to_timeframe)
from lq_engine.data.timestamps import TimestampError, to_ns

# Binance's dump names: SYMBOL-INTERVAL-YYYY-MM[-DD] (COIN-M symbols carry an underscore: BTCUSD_PERP).
_BINANCE_RE = re.compile(r"^([A-Za-z0-9]+(?:_[A-Za-z0-9]+)?)-([1-9][0-9]*[smhdw])-\d{4}-\d{2}(?:-\d{2})?$")
_STEM_RE = re.compile(r"^([A-Za-z0-9.]+)[-_]([1-9][0-9]*[smhdw])(?:[-_].*)?$")
RAW_CLOSE = "close_raw"  # the close as the file had it, before adjustment (not stored in the lake)


def _names_from_stem(stem: str) -> tuple[str, str] | None:
    m = _BINANCE_RE.match(stem) or _STEM_RE.match(stem)
    return (m.group(1), canonical_timeframe(m.group(2))) if m else None


def _names_by_pattern(path: Path, layout: Layout | None) -> tuple[str, str] | None:
    """(symbol, timeframe) when the file name, or a zip's CSV inside, follows a known pattern."""
    found = _names_from_stem(path.stem)
    if found is None and path.suffix.lower() == ".zip":
        member = layout.member if layout is not None else zip_member_name(path)
        found = _names_from_stem(Path(member).stem) if member else None
    return found


def names_from_file(path: Path, layout: Layout | None = None) -> tuple[str, str | None]:
    """(symbol, timeframe or None) from a file name (a zip's, else the CSV's inside it); any other
    stem is the symbol. ``layout``: how the file was read, if known (its zip member is not looked up
    again)."""
    path = Path(path)
    return _names_by_pattern(path, layout) or (path.stem, None)


def symbol_from_name(path: Path, layout: Layout | None = None) -> bool:
    """Whether the file name says the symbol in a known pattern (not just a stem taken whole)."""
    return _names_by_pattern(Path(path), layout) is not None


def _is_binance(file: Path, layout: Layout | None) -> bool:
    if layout is not None:
        return layout.binance
    try:
        return sniff(file).binance
    except (IngestError, OSError):
        return False


def _require_known_symbol(file: Path, layout: Layout | None) -> None:
    """Binance klines carry no symbol: without --symbol the file name must say it."""
    if not symbol_from_name(file, layout) and _is_binance(file, layout):
        raise IngestError(
            file,
            "Binance klines carry no symbol and this file name does not say it (Binance names its dumps "
            "SYMBOL-INTERVAL-YYYY-MM[-DD], e.g. BTCUSDT-1m-2024-01.zip): pass --symbol SYMBOL to lq ingest, "
            "or rename the file",
            field="symbol",
        )


def _check_declared(file: Path, column: pl.Series, symbol: str) -> None:
    """A declared symbol (``--symbol``) and the file's symbol column must agree on every row."""
    other = column.is_null() | (column != symbol).fill_null(True)
    if other.any():
        i = int(other.arg_true()[0])
        raise IngestError(
            file,
            f"--symbol {symbol} was given, but the file's symbol column holds {column[i]!r}: --symbol is for "
            "single-symbol files whose name does not say the symbol; leave it out for this file",
            row=i + 1, field="symbol", rows_affected=int(other.sum()),
        )


def _adjust(file: Path, out: pl.DataFrame, adj: pl.Series) -> pl.DataFrame:
    """Open, high, low and close times ``adj_close / close``; the raw close kept as ``close_raw``."""
    if not (adj.dtype.is_float() or adj.dtype.is_integer() or adj.dtype.is_decimal()):
        raise IngestError(file, f"column 'adj_close' has type {adj.dtype}, expected numbers", field="adj_close")
    adj = adj.cast(pl.Float64)
    bad = ~((adj > 0) & adj.is_finite()).fill_null(False)
    if bad.any():
        i = int(bad.arg_true()[0])
        what = "is missing" if adj[i] is None else f"{adj[i]} is not a positive number"
        raise IngestError(file, f"adjusted close {what}", row=i + 1, field="adj_close", rows_affected=int(bad.sum()))
    close = pl.col("close")
    # a bad raw close is left for validation to name (factor 1 keeps the row as it is)
    factor = pl.when((close > 0) & close.is_finite()).then(pl.col("_adj") / close).otherwise(1.0)
    return (out.with_columns(adj.alias("_adj"), close.alias(RAW_CLOSE))
            .with_columns(*(pl.col(c) * factor for c in PRICE_COLUMNS))
            .drop("_adj"))


def _check_symbols(file: Path, df: pl.DataFrame) -> None:
    s = df["symbol"]
    if s.null_count():
        idx = s.is_null().arg_true()
        raise IngestError(file, "symbol is missing", row=int(idx[0]) + 1, field="symbol", rows_affected=len(idx))
    for sym in ([s[0]] if len(s) and bool((s == s[0]).all()) else s.unique().to_list()):
        if not SYMBOL_RE.match(sym):
            row = int((s == sym).arg_true()[0]) + 1
            raise IngestError(
                file,
                f"symbol {sym!r} is not a valid symbol (letters, digits, '.', '_', '-'; at most 64)",
                row=row, field="symbol",
            )


def _resolve_timeframe_column(file: Path, tf: pl.Series) -> pl.Series:
    if tf.null_count():
        idx = tf.is_null().arg_true()
        raise IngestError(file, "timeframe is missing", row=int(idx[0]) + 1, field="timeframe",
                          rows_affected=len(idx))
    mapping = {}
    for v in tf.unique().to_list():
        try:
            mapping[v] = canonical_timeframe(v)
        except ValueError as e:
            row = int((tf == v).arg_true()[0]) + 1
            raise IngestError(file, str(e), row=row, field="timeframe") from None
    return tf.replace_strict(mapping, return_dtype=pl.String)


def infer_timeframe(file: Path, df: pl.DataFrame) -> str:
    step = pl.col("ts").diff()
    if df["symbol"].n_unique() > 1:
        step = step.over("symbol")
    d = df.select(step.alias("d")).filter(pl.col("d") > 0)["d"]
    if len(d) == 0:
        raise IngestError(file, "cannot infer the timeframe (fewer than two distinct bar times per symbol); "
                          "declare the timeframe or add a timeframe column", field="timeframe")
    counts = d.value_counts(sort=False)
    best = counts.sort(["count", "d"], descending=[True, False])["d"][0]
    try:
        return ns_to_timeframe(int(best))
    except ValueError:
        raise IngestError(file, f"cannot infer the timeframe: the most common bar spacing is {best} ns, "
                          "not a whole number of seconds; declare the timeframe", field="timeframe") from None


def normalize(
    file: Path,
    df: pl.DataFrame,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    ts_unit: str | None = None,
    resolve_timeframe: bool = True,
    layout: Layout | None = None,
) -> pl.DataFrame:
    """``df`` with canonical names (as read) -> the bar schema in file order, plus ``close_raw`` when
    an adjusted close adjusted the prices. ``symbol``: the declared symbol (``lq ingest --symbol``).
    ``layout``: how ``df`` was read (``readers.prepare``); without it the file is looked at again
    (its header, a zip's member) where the name alone does not say the symbol.

    With ``resolve_timeframe=False`` (early check of a first chunk) an unresolved timeframe is left
    empty rather than inferred from a partial view.
    """
    file = Path(file)
    try:
        ts = to_ns(df["ts"], ts_unit)
    except TimestampError as e:
        row = None if e.index is None else e.index + 1
        raise IngestError(file, e.reason, row=row, field="ts", rows_affected=e.count) from None
    cols = [ts.alias("ts")]
    for c in VALUE_COLUMNS:
        if c not in df.columns:  # a key-only read (scan_file)
            continue
        s = df[c]
        if not (s.dtype.is_float() or s.dtype.is_integer() or s.dtype.is_decimal()):
            raise IngestError(file, f"column {c!r} has type {s.dtype}, expected numbers", field=c)
        cols.append(s.cast(pl.Float64).alias(c))
    file_sym, file_tf = names_from_file(file, layout)
    if "symbol" in df.columns:
        column = df["symbol"].cast(pl.String).str.strip_chars()
        if symbol:
            _check_declared(file, column, symbol)
        cols.append(column.alias("symbol"))
    else:
        if not symbol:
            _require_known_symbol(file, layout)
        cols.append(pl.Series("symbol", [symbol or file_sym], pl.String).new_from_index(0, df.height))
    out = pl.DataFrame(cols)
    _check_symbols(file, out)
    if "adj_close" in df.columns and "close" in out.columns:
        out = _adjust(file, out, df["adj_close"])
    if "timeframe" in df.columns:
        out = out.with_columns(_resolve_timeframe_column(file, df["timeframe"].cast(pl.String).str.strip_chars()))
    else:
        tf = timeframe or file_tf
        if tf is not None:
            try:
                tf = canonical_timeframe(tf)
            except ValueError as e:
                raise IngestError(file, str(e), field="timeframe") from None
        elif resolve_timeframe:
            tf = infer_timeframe(file, out)
        out = out.with_columns(pl.lit(tf or "", dtype=pl.String).alias("timeframe"))
    return out.select([c for c in (*BAR_COLUMNS, RAW_CLOSE) if c in out.columns])
