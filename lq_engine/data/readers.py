"""Reading landing files (CSV, Parquet, or a zip holding one CSV) into frames with canonical column names.

Files are recognised by content, never by their name: the first 64 KiB decide whether a file is
empty, binary, a zip, Parquet or delimited text, which separator it uses, whether it has a header
(and if not, whether it is the 12-column Binance kline layout or plain
``ts,open,high,low,close,volume``), and which columns map to the bar fields. For a big file the
first chunk (1 MiB) is then parsed and validated, so garbage is rejected before the file is read
whole (files up to 32 MiB are read at once). Column names are matched case-insensitively against
the aliases below.

Binance klines are recognised with or without their header row: spot dumps have none (12 numeric
columns), USD-M futures dumps start with ``open_time,open,high,low,close,volume,close_time,...``.
A zip (Binance's public dumps on data.binance.vision, ``BTCUSDT-1m-2024-01.zip``) must hold exactly
one CSV; it is unpacked in memory and its member's CRC is checked, so the member cannot be cut
short. A file with an adjusted-close column (Yahoo Finance's ``Adj Close``) has it read with the
close, and ``normalize`` adjusts the prices by it.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from lq_engine.data.errors import IngestError

SNIFF_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
# Files up to this size are read whole at once; bigger ones have their first chunk validated first.
FULL_READ_BYTES = 32 * 1024 * 1024

ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "datetime", "open_time", "opentime", "time", "date", "date_time",
           "timestamp_utc", "time_utc", "t"),
    "open": ("open", "o", "open_price", "openprice"),
    "high": ("high", "h", "high_price", "highprice"),
    "low": ("low", "l", "low_price", "lowprice"),
    "close": ("close", "c", "close_price", "closeprice", "last"),
    "volume": ("volume", "vol", "v", "base_volume", "volume_base", "qty"),
    "symbol": ("symbol", "ticker", "pair", "instrument", "sym", "asset"),
    "timeframe": ("timeframe", "interval", "tf", "resolution", "bar_interval"),
    # the close adjusted for dividends (and splits): Yahoo Finance's "Adj Close"
    "adj_close": ("adj_close", "adjclose", "adjusted_close", "close_adj", "close_adjusted"),
}
REQUIRED = ("ts", "open", "high", "low", "close", "volume")
BINANCE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
                   "trades", "taker_buy_base", "taker_buy_quote", "ignore")
# How a Binance kline header starts (USD-M futures dumps have one: ..., count, taker_buy_volume, ...).
BINANCE_HEADER_START = BINANCE_COLUMNS[:7]
# A zip member bigger than this is refused rather than unpacked in memory.
MAX_UNZIPPED_BYTES = 4 * 1024**3
_SEPARATORS = (",", ";", "\t", "|")
_INT_RE = re.compile(r"^\s*-?\d+\s*$")
_FLOAT_RE = re.compile(r"^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().strip('"').lower())


def map_columns(names: list[str]) -> dict[str, str]:
    """canonical field -> source column name (first alias in priority order wins)."""
    by_norm: dict[str, str] = {}
    for n in names:
        by_norm.setdefault(_norm(n), n)
    out = {}
    for canon, aliases in ALIASES.items():
        for a in aliases:
            if a in by_norm:
                out[canon] = by_norm[a]
                break
    return out


def require_columns(file: Path, colmap: dict[str, str], names: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in colmap]
    if missing:
        shown = ", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "")
        raise IngestError(
            file,
            f"missing column(s) {', '.join(repr(m) for m in missing)} (found: {shown})",
            field=missing[0],
        )


@dataclass
class Layout:
    """How to read one file: kind, CSV options and the column mapping."""

    kind: str  # "csv" | "parquet"
    colmap: dict[str, str]  # canonical -> source column name
    has_header: bool = True
    separator: str = ","
    all_columns: list[str] = field(default_factory=list)  # header names, or column_1.. if headerless
    ts_dtype: pl.DataType = field(default_factory=pl.String)
    binance: bool = False  # Binance klines, by content (12-column layout, or its header)
    small: bool = False  # the first chunk is the whole file
    early_check: bool = False  # big file: validate the first chunk before reading it all
    member: str | None = None  # the CSV inside a zip, by name
    content: bytes | None = field(default=None, repr=False)  # that member's bytes (read instead of the file)

    @property
    def adjusted(self) -> bool:
        """Prices are adjusted by an adjusted-close column (``normalize``)."""
        return "adj_close" in self.colmap

    @property
    def format(self) -> str:
        """What the file was recognised as, in words (for messages and summaries)."""
        what = "Binance klines" if self.binance else "Parquet" if self.kind == "parquet" else "CSV"
        if self.kind == "csv" and not self.binance and not self.has_header:
            what += " (no header)"
        if self.adjusted:
            what += f", prices adjusted by {self.colmap['adj_close']!r}"
        return f"{what} in zip ({self.member})" if self.member else what


_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 12, 13))


def _looks_binary(head: bytes) -> bool:
    """NUL bytes, or more than 1% control bytes / invalid UTF-8."""
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL))
    invalid = head.decode("utf-8", errors="replace").count("\ufffd")
    return controls + invalid > max(2, len(head) // 100)


def sniff(path: Path, data: bytes | None = None) -> Layout:
    """``data``: the file's bytes if already read whole (then the file is not touched)."""
    path = Path(path)
    if data is not None:
        size, head = len(data), data[:SNIFF_BYTES]
    else:
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(SNIFF_BYTES)
        except OSError as e:
            raise IngestError(path, f"cannot read file: {e.strerror or e}") from None
    if size == 0:
        raise IngestError(path, "file is empty")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _sniff_zip(path, data)
    if head[:4] == b"PAR1":
        return _sniff_parquet(path)
    if _looks_binary(head):
        raise IngestError(path, "binary file: neither CSV text nor Parquet")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    nl = head.find(b"\n")
    if nl < 0 and size > len(head):
        raise IngestError(path, f"no line break in the first {SNIFF_BYTES // 1024} KiB: not a CSV file")
    first = head[: nl if nl >= 0 else len(head)].decode("utf-8", errors="replace").rstrip("\r")
    if not first.strip():
        raise IngestError(path, "first line is empty: expected a header or a data row", row=None)
    sep = max(_SEPARATORS, key=first.count)
    if first.count(sep) == 0:
        raise IngestError(path, "cannot find a column separator (, ; tab |) in the first line")
    raw_cells = [c[1:-1] if len(c) >= 2 and c[0] == c[-1] == '"' else c for c in first.split(sep)]
    cells = [c.strip() for c in raw_cells]
    headerless = all(_FLOAT_RE.match(c) for c in cells if c) and bool(cells[0])
    if headerless:
        if len(cells) == len(BINANCE_COLUMNS):  # Binance spot dumps: no header
            names = list(BINANCE_COLUMNS)
            binance = True
        elif len(cells) == 6:
            names = list(REQUIRED)
            binance = False
        else:
            raise IngestError(
                path,
                f"headerless file with {len(cells)} columns: expected a header row, the 12-column "
                "Binance kline layout or 6 columns ts,open,high,low,close,volume",
            )
        positional = [f"column_{i + 1}" for i in range(len(names))]
        colmap = {c: positional[names.index(src)] for c, src in map_columns(names).items()}
        ts_dtype = pl.Int64 if _INT_RE.match(cells[0]) else pl.Float64
        layout = Layout("csv", colmap, has_header=False, separator=sep, all_columns=positional,
                        ts_dtype=ts_dtype, binance=binance)
    else:
        colmap = map_columns(raw_cells)
        require_columns(path, colmap, cells)
        binance = tuple(_norm(c) for c in raw_cells[: len(BINANCE_HEADER_START)]) == BINANCE_HEADER_START
        layout = Layout("csv", colmap, has_header=True, separator=sep, all_columns=raw_cells, binance=binance)
    layout.small = size <= CHUNK_BYTES
    layout.early_check = size > FULL_READ_BYTES
    return layout


def _sniff_zip(path: Path, data: bytes | None) -> Layout:
    """A zip holding one CSV (Binance's public dumps): the member is unpacked in memory (its CRC
    checked) and sniffed; the layout carries its bytes."""
    try:
        with zipfile.ZipFile(io.BytesIO(data) if data is not None else path) as z:
            members = _zip_members(z)
            if len(members) != 1:
                names = ", ".join(repr(i.filename) for i in members[:5]) or "nothing"
                raise IngestError(path, f"a zip must hold exactly one CSV file; this one holds {len(members)}: "
                                        f"{names}")
            info = members[0]
            if info.file_size > MAX_UNZIPPED_BYTES:
                raise IngestError(path, f"zip member {info.filename!r} unpacks to {info.file_size} bytes, more "
                                        f"than {MAX_UNZIPPED_BYTES} read in memory: unzip it and ingest the CSV")
            content = z.read(info)
    except IngestError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, OSError) as e:
        raise IngestError(path, f"not a readable zip file: {e}") from None
    if content[:4] in (b"PAR1", b"PK\x03\x04"):
        raise IngestError(path, f"zip member {info.filename!r} is not CSV text: unzip it and ingest it directly")
    try:
        layout = sniff(path, content)
    except IngestError as e:
        raise IngestError(path, f"zip member {info.filename!r}: {e.reason}", row=e.row, field=e.field,
                          rows_affected=e.rows_affected) from None
    layout.member, layout.content = info.filename, content
    return layout


def _zip_members(z: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The files of a zip, without folders and the metadata macOS adds (``__MACOSX/``, dot files)."""
    return [i for i in z.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
            and not Path(i.filename).name.startswith(".")]


def zip_member_name(path: Path) -> str | None:
    """The name of the single file inside a zip (None: not a zip, unreadable, or not one file)."""
    try:
        with zipfile.ZipFile(path) as z:
            members = _zip_members(z)
    except (zipfile.BadZipFile, OSError, EOFError):
        return None
    return members[0].filename if len(members) == 1 else None


def _sniff_parquet(path: Path) -> Layout:
    try:
        schema = pq.read_schema(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise IngestError(path, f"not a readable Parquet file: {e}") from None
    colmap = map_columns(list(schema.names))
    require_columns(path, colmap, list(schema.names))
    return Layout("parquet", colmap)


def _csv_options(layout: Layout, wanted: list[str], ts_dtype: pl.DataType) -> dict:
    src = [layout.colmap[c] for c in wanted]
    dtypes = {layout.colmap[c]: (ts_dtype if c == "ts" else pl.String if c in ("symbol", "timeframe") else pl.Float64)
              for c in wanted}
    opts = dict(separator=layout.separator, has_header=layout.has_header, columns=src, raise_if_empty=False)
    if layout.has_header:
        opts.update(schema_overrides=dtypes, infer_schema=False)
    else:
        opts["schema"] = {c: dtypes.get(c, pl.String) for c in layout.all_columns}
    return opts


def _text_options(layout: Layout, wanted: list[str]) -> dict:
    opts = _csv_options(layout, wanted, pl.String)
    if layout.has_header:
        opts["schema_overrides"] = {layout.colmap[c]: pl.String for c in wanted}
    else:
        opts["schema"] = {c: pl.String for c in layout.all_columns}
    return opts


def first_chunk(path: Path, whole: bytes | None = None) -> bytes:
    if whole is not None:
        data, more = whole[:CHUNK_BYTES], len(whole) > CHUNK_BYTES
    else:
        with open(path, "rb") as f:
            data = f.read(CHUNK_BYTES)
            more = f.read(1)
    if more:
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut > 0 else data
    return data


def _decide_ts_dtype(path: Path, layout: Layout, chunk: bytes) -> pl.DataType:
    """Integer epochs, float epochs or text, from the ts column of the first rows."""
    if not layout.has_header:
        return layout.ts_dtype
    col = layout.all_columns.index(layout.colmap["ts"])
    lines = chunk[:SNIFF_BYTES].decode("utf-8", errors="replace").splitlines()[1:200]
    if len(lines) > 1 and len(chunk) > SNIFF_BYTES:
        lines = lines[:-1]  # the last line may be cut
    vals = []
    for row in csv.reader(lines, delimiter=layout.separator):
        if len(row) > col and row[col].strip():
            vals.append(row[col])
    if vals and all(_INT_RE.match(v) for v in vals):
        return pl.Int64
    if vals and all(_FLOAT_RE.match(v) for v in vals):
        return pl.Float64
    return pl.String


def read_frame(
    path: Path, layout: Layout, wanted: list[str], *, chunk: bytes | None = None, data: bytes | None = None
) -> pl.DataFrame:
    """The ``wanted`` canonical columns present in the file (from ``chunk`` bytes if given, else
    from ``data``, the whole file's bytes, if given). The adjusted close comes with the close.
    A zip's member bytes (``layout.content``) are read in place of the file's."""
    if "close" in wanted and layout.adjusted and "adj_close" not in wanted:
        wanted = [*wanted, "adj_close"]
    wanted = [c for c in wanted if c in layout.colmap]
    if layout.content is not None:
        data = layout.content
    if layout.kind == "parquet":
        try:
            df = pl.read_parquet(io.BytesIO(data) if data is not None else path,
                                 columns=[layout.colmap[c] for c in wanted])
        except Exception as e:
            raise IngestError(path, f"not a readable Parquet file: {e}") from None
        return df.rename({layout.colmap[c]: c for c in wanted})
    src = io.BytesIO(chunk) if chunk is not None else io.BytesIO(data) if data is not None else path
    opts = _csv_options(layout, wanted, layout.ts_dtype)
    try:
        df = pl.read_csv(src, **opts)
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, pl.exceptions.NoDataError,
            pl.exceptions.ShapeError, pl.exceptions.InvalidOperationError) as e:
        raise _locate_csv_error(path, layout, wanted, src, e) from None
    # the whole file was read: its end must be a line end (a zip member's CRC already proves it whole)
    if (chunk is None or layout.small) and layout.content is None:
        _check_line_end(path, layout, _tail(path, chunk if chunk is not None else data), df.height)
    return df.rename({layout.colmap[c]: c for c in wanted})


def _tail(path: Path, whole: bytes | None, size: int = 64 * 1024) -> bytes:
    """The last bytes of the file (of ``whole`` when its bytes are at hand)."""
    if whole is not None:
        return whole[-size:]
    with open(path, "rb") as f:
        f.seek(0, io.SEEK_END)
        f.seek(max(0, f.tell() - size))
        return f.read()


def _check_line_end(path: Path, layout: Layout, tail: bytes, rows: int) -> None:
    """Refuse a CSV whose last line has no line end: a copy or download cut short ends that way,
    and a number cut inside (``887.53`` -> ``88``) still parses, so the bar would be stored wrong.
    Names the row and the field the cut falls in."""
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    cells = next(csv.reader([last], delimiter=layout.separator), [])
    k = max(len(cells), 1)
    column = layout.all_columns[min(k, len(layout.all_columns)) - 1]
    field = next((c for c, name in layout.colmap.items() if name == column), column)
    raise IngestError(path, f"the last line ends without a line break, so the file may be cut short: its "
                            f"value {cells[-1] if cells else ''!r} in column {column!r} may be incomplete; if the "
                            "file is whole, end it with a newline",
                      row=max(rows, 1), field=field)


def _locate_csv_error(path: Path, layout: Layout, wanted: list[str], src, err: Exception) -> IngestError:
    """Re-read as text to name the first cell that does not parse as its type."""
    if isinstance(src, io.BytesIO):
        src.seek(0)
    try:
        raw = pl.read_csv(src, **_text_options(layout, wanted))
    except Exception:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return IngestError(path, f"cannot parse as CSV: {first[:300]}")
    raw = raw.rename({layout.colmap[c]: c for c in wanted})
    for c in wanted:
        if c in ("symbol", "timeframe"):
            continue
        s = raw[c]
        target = layout.ts_dtype if c == "ts" else pl.Float64
        if target == pl.String:
            continue
        bad = s.is_not_null() & s.str.strip_chars().cast(target, strict=False).is_null()
        if bad.any():
            idx = bad.arg_true()
            i = int(idx[0])
            what = "an integer epoch" if (c == "ts" and target == pl.Int64) else "a number"
            return IngestError(path, f"{c} {s[i]!r} is not {what}", row=i + 1, field=c,
                               rows_affected=len(idx))
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return IngestError(path, f"cannot parse as CSV: {first[:300]}")


def prepare(path: Path, data: bytes | None = None) -> tuple[Layout, bytes | None]:
    """Sniff, decide the timestamp type and return the first chunk (CSV) for early validation.
    ``data``: the file's bytes if already read whole."""
    layout = sniff(path, data)
    if layout.kind != "csv":
        return layout, None
    chunk = first_chunk(path, layout.content if layout.content is not None else data)
    layout.ts_dtype = _decide_ts_dtype(path, layout, chunk)
    return layout, chunk
