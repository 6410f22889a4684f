"""Funding rates of perpetual futures in the lake, beside the bars.

Landing files (the contract ``lq fetch`` writes and a user may write by hand): CSV, names ending
``.funding.csv``, header exactly ``symbol,ts,funding_rate``; ``ts`` ISO-8601 UTC
(``2024-01-01T08:00:00Z``, fractional seconds allowed), ``funding_rate`` the fraction of the
position's value paid per funding interval (positive: longs pay shorts). A file is recognised by its
header (or its name: a ``.funding.csv`` with another header is rejected, not read as bars), validated
whole (a bad row raises ``IngestError`` naming the file, the row and the field; the file goes to
quarantine, nothing changes), then merged: the lake holds one file per symbol,
``funding/symbol=<SYMBOL>/data.parquet`` with ``ts`` (int64 ns UTC, sorted, unique) and
``funding_rate`` (float64); a later file wins for the same ts. On a local lake all of one file's
symbols become visible together (``journal.transaction``); on an object store each symbol's object
is one atomic PUT, as the bars' partitions are.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from lq_engine.data.errors import IngestError
from lq_engine.data.journal import recover, transaction
from lq_engine.data.locks import file_lock
from lq_engine.data.paths import DataPaths
from lq_engine.data.quarantine import quarantine_file
from lq_engine.data.schema import SYMBOL_RE
from lq_engine.data.store import write_parquet_to
from lq_engine.data.funding_rates import FundingRates

HEADER = "symbol,ts,funding_rate"
SUFFIX = ".funding.csv"
FUNDING = "funding"  # the prefix in the lake
COLUMNS = {"ts": pl.Int64, "funding_rate": pl.Float64}
MAX_ABS_RATE = 1.0  # a rate of 100% of the position per interval is a unit mistake (percent, bps), not data


def funding_key(symbol: str) -> str:
    """The symbol's object key in the lake."""
    return f"{FUNDING}/symbol={symbol}/data.parquet"


def is_funding_file(path: Path) -> bool:
    """A funding landing file: by name (``.funding.csv``) or by its first line (the header)."""
    path = Path(path)
    if path.name.lower().endswith(SUFFIX):
        return True
    if path.suffix.lower() not in (".csv", ".txt"):
        return False
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError:
        return False
    return _first_line(first) == HEADER


def _first_line(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")


def _parse_ts(s: str) -> int | None:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            d = datetime.strptime(s, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        return (int(d.replace(microsecond=0).timestamp()) * 1_000_000 + d.microsecond) * 1000
    return None


def read_funding_file(path: Path, data: bytes | None = None) -> pl.DataFrame:
    """Parse and validate a funding landing file: (symbol, ts, funding_rate) rows, or IngestError."""
    path = Path(path)
    raw = data if data is not None else path.read_bytes()
    text = raw.decode("utf-8", "strict") if _utf8(raw, path) else ""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0] != HEADER:
        got = lines[0][:80] if lines else "nothing"
        raise IngestError(path, f"a funding file's header must be exactly '{HEADER}', got '{got}'")
    syms: list[str] = []
    tss: list[int] = []
    rates: list[float] = []
    seen: dict[tuple[str, int], int] = {}
    for row, rec in enumerate(csv.reader(io.StringIO("\n".join(lines[1:]))), start=1):
        if not rec:
            continue
        if len(rec) != 3:
            raise IngestError(path, f"expected 3 fields (symbol, ts, funding_rate), got {len(rec)}", row=row)
        sym, ts_s, rate_s = (x.strip() for x in rec)
        if not SYMBOL_RE.match(sym):
            raise IngestError(path, f"'{sym}' is not a symbol (letters, digits, '.', '_', '-')", row=row,
                              field="symbol")
        ts = _parse_ts(ts_s)
        if ts is None:
            raise IngestError(path, f"'{ts_s}' is not an ISO-8601 UTC time like 2024-01-01T08:00:00Z", row=row,
                              field="ts")
        try:
            rate = float(rate_s)
        except ValueError:
            rate = math.nan
        if not math.isfinite(rate) or abs(rate) >= MAX_ABS_RATE:
            raise IngestError(path, f"'{rate_s}' is not a funding rate (a finite fraction per interval, |rate| < "
                              f"{MAX_ABS_RATE:g}: 0.0001 for 0.01%)", row=row, field="funding_rate")
        first = seen.setdefault((sym, ts), row)
        if first != row:
            raise IngestError(path, f"{sym} at {ts_s} is also in row {first}; one rate per symbol and time", row=row,
                              field="ts")
        syms.append(sym)
        tss.append(ts)
        rates.append(rate)
    if not syms:
        raise IngestError(path, "a funding file with a header and no rows")
    return pl.DataFrame({"symbol": syms, "ts": tss, "funding_rate": rates},
                        schema={"symbol": pl.String, **COLUMNS})


def _utf8(raw: bytes, path: Path) -> bool:
    try:
        raw.decode("utf-8", "strict")
    except UnicodeDecodeError as e:
        raise IngestError(path, f"not UTF-8 text (byte {e.start})") from None
    return True


def read_funding(paths: DataPaths, symbol: str) -> pl.DataFrame | None:
    """The symbol's stored funding rates (ts, funding_rate), sorted; None when it has none."""
    key = funding_key(symbol)
    store = paths.store
    if not store.exists(key):
        return None
    return store.read_parquet(key).select(list(COLUMNS)).cast(COLUMNS)


def funding_rates(paths: DataPaths, symbol: str, start_ns: int | None = None,
                  end_ns: int | None = None) -> FundingRates:
    """The symbol's funding events as the drivers take them, optionally within [start_ns, end_ns]."""
    df = read_funding(paths, symbol)
    if df is None:
        return FundingRates.empty(symbol)
    if start_ns is not None:
        df = df.filter(pl.col("ts") >= start_ns)
    if end_ns is not None:
        df = df.filter(pl.col("ts") <= end_ns)
    return FundingRates(df["ts"].to_numpy(), df["funding_rate"].to_numpy(), symbol)


def last_funding_ns(paths: DataPaths, symbol: str) -> int | None:
    """The newest funding time stored for ``symbol`` (ns UTC), None when none is: where a fetch resumes."""
    df = read_funding(paths, symbol)
    if df is None or df.height == 0:
        return None
    return int(df["ts"].max())


def funding_symbols(paths: DataPaths) -> list[str]:
    """Symbols with stored funding rates."""
    keys = paths.store.list(f"{FUNDING}/", "data.parquet")
    return sorted(k.split("symbol=", 1)[1].split("/", 1)[0] for k in keys if "symbol=" in k)


def _merged(old: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    new = new.select(list(COLUMNS))
    if old is None:
        return new.sort("ts")
    return pl.concat([old, new]).unique("ts", keep="last", maintain_order=True).sort("ts")


def write_funding(paths: DataPaths, rows: pl.DataFrame) -> dict[str, int]:
    """Merge (symbol, ts, funding_rate) rows into the lake (later rows win per ts); returns the
    rows stored per symbol. Local lake: one transaction for all symbols; object store: one PUT each."""
    parts = {s: rows.filter(pl.col("symbol") == s) for s in sorted(rows["symbol"].unique().to_list())}
    out: dict[str, int] = {}
    store = paths.store
    with ExitStack() as locks:
        for sym in parts:
            locks.enter_context(file_lock(paths.locks / f"funding__{sym}.lock"))
        if store.remote:
            for sym, new in parts.items():
                df = _merged(read_funding(paths, sym), new)
                store.write_parquet(funding_key(sym), df)
                out[sym] = df.height
            return out
        recover(paths)
        with transaction(paths) as tx:
            for sym, new in parts.items():
                df = _merged(read_funding(paths, sym), new)
                target = paths.lake / funding_key(sym)
                target.parent.mkdir(parents=True, exist_ok=True)
                tx.stage(lambda f, df=df: write_parquet_to(df, f), target)
                out[sym] = df.height
            tx.commit()
    return out


def ingest_funding_files(files: Iterable[Path], paths: DataPaths, *, raise_on_reject: bool = True) -> list[dict]:
    """Validate and merge funding landing files in the order given; a rejected file is quarantined
    (with its reason) and, with ``raise_on_reject``, its IngestError raised after the others are in.
    Returns one summary per file merged: file, sha256, symbols, rows, first_ts, last_ts."""
    done, errors = ingest_funding(files, paths)
    if errors and raise_on_reject:
        e = errors[0]
        if len(errors) > 1:
            e.add_note(f"{len(errors) - 1} more funding file(s) rejected")
        raise e
    return done


def ingest_funding(files: Iterable[Path], paths: DataPaths) -> tuple[list[dict], list[IngestError]]:
    """``ingest_funding_files`` returning the errors of the rejected files instead of raising."""
    done: list[dict] = []
    errors: list[IngestError] = []
    for f in files:
        f = Path(f)
        data = f.read_bytes()
        try:
            rows = read_funding_file(f, data)
        except IngestError as e:
            quarantine_file(f, paths, e, sha256=hashlib.sha256(data).hexdigest())
            errors.append(e)
            continue
        write_funding(paths, rows)
        done.append({"file": str(f), "sha256": hashlib.sha256(data).hexdigest(),
                     "symbols": tuple(sorted(rows["symbol"].unique().to_list())), "rows": rows.height,
                     "first_ts": int(rows["ts"].min()), "last_ts": int(rows["ts"].max())})
    return done, errors


def funding_arrays(paths: DataPaths, symbols: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(ts, funding_rate) arrays of every symbol that has stored funding rates (for a frozen dataset)."""
    out = {}
    for s in symbols:
        df = read_funding(paths, s)
        if df is not None and df.height:
            out[s] = (df["ts"].to_numpy(), df["funding_rate"].to_numpy())
    return out
