"""A freshly read frame to the bar schema: timestamps to ns, symbol and timeframe resolved.

Symbol: a symbol column, else the declared value, else the file name. Timeframe: a timeframe
column, else the declared value, else the file name, else inferred from the timestamp spacing.
File names like ``BTCUSDT-1m-2024-01.csv`` (Binance dumps) or ``AAPL_1d.csv`` give both; any other
stem is taken whole as the symbol. Inference takes the most common positive spacing between
consecutive bars of a symbol (ties go to the smallest), which must be a whole number of seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from lq_engine.data.errors import IngestError
from lq_engine.data.schema import BAR_COLUMNS, SYMBOL_RE, VALUE_COLUMNS, canonical_timeframe, ns_to_timeframe
from lq_engine.data.timestamps import TimestampError, to_ns

_STEM_RE = re.compile(r"^([A-Za-z0-9.]+)[-_]([1-9][0-9]*[smhdw])(?:[-_].*)?$")


def names_from_file(path: Path) -> tuple[str, str | None]:
    """(symbol, timeframe or None) from a file name."""
    stem = Path(path).stem
    m = _STEM_RE.match(stem)
    if m:
        return m.group(1), canonical_timeframe(m.group(2))
    return stem, None


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
) -> pl.DataFrame:
    """``df`` with canonical names (as read) -> the bar schema in file order.

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
    file_sym, file_tf = names_from_file(file)
    if "symbol" in df.columns:
        cols.append(df["symbol"].cast(pl.String).str.strip_chars().alias("symbol"))
    else:
        cols.append(pl.Series("symbol", [symbol or file_sym], pl.String).new_from_index(0, df.height))
    out = pl.DataFrame(cols)
    _check_symbols(file, out)
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
    return out.select([c for c in BAR_COLUMNS if c in out.columns])
