"""The Parquet lake: one file per (timeframe, symbol, month) partition.

Layout: ``bars/timeframe=<tf>/symbol=<sym>/month=YYYY-MM/data.parquet`` (LZ4) under the lake's
store (a local folder or ``s3://bucket/prefix``, see ``store``), holding the columns ts, open,
high, low, close, volume sorted by ts; symbol, timeframe and month live in the path. Writes are
atomic (``Store.write_parquet``): a reader sees the old or the new object, never a partial one;
locally the folder's fsync, which makes the rename durable, can be batched (``dirs_to_sync``).
Each read-merge-write holds the partition's lock (a file lock on this machine: on a cluster one
partition is written by one step at a time, as Dagster schedules it), and stale temporary files
left by a killed writer are removed by the next writer of that partition (and by the next ingest's
sweep, ``journal.sweep``). An ingest into a local lake stages all of a file's partitions
(``stage_merge``) and publishes them together (``journal``).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lq_engine.data.locks import file_lock
from lq_engine.data.paths import DataPaths
from lq_engine.data.schema import BAR_COLUMNS, PARTITION_COLUMNS, PARTITION_SCHEMA, PartitionKey, month_of_ns
from lq_engine.data.store import (
    fsync_staged, PART_FILE, stage_parquet, Staged, Store, TMP_PREFIX,
)

BARS = "bars"  # the bars' prefix in the lake
READ_THREADS = max(1, min(4, os.cpu_count() or 1))


def bars_root(paths: DataPaths) -> Path:
    """The local folder of the bars (local lakes only)."""
    return paths.lake / BARS


def partition_key_path(key: PartitionKey) -> str:
    """The partition's object key in the lake."""
    return f"{BARS}/timeframe={key.timeframe}/symbol={key.symbol}/month={key.month}/{PART_FILE}"


def partition_file(paths: DataPaths, key: PartitionKey) -> Path:
    """The partition's local file (local lakes only)."""
    return paths.lake / partition_key_path(key)


def lock_path(paths: DataPaths, key: PartitionKey) -> Path:
    return paths.locks / f"{key.timeframe}__{key.symbol}__{key.month}.lock"


def clean_stale_temps(d: Path) -> int:
    """Remove leftover temporary files in ``d`` (call with the partition lock held)."""
    n = 0
    for p in d.glob(f"{TMP_PREFIX}*"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def write_atomic(df: pl.DataFrame, target: Path, *, dirs_to_sync: set[Path] | None = None) -> None:
    """Write ``df`` as Parquet to a local ``target`` via temp file + fsync + rename (see ``store``)."""
    Store(str(target.parent)).write_parquet(target.name, df, sync=dirs_to_sync)


@dataclass(frozen=True)
class MergeCounts:
    new: int
    replaced: int
    unchanged: int
    written: bool


def merge_partition(
    paths: DataPaths, key: PartitionKey, rows: pl.DataFrame, *, dirs_to_sync: set[Path] | None = None
) -> MergeCounts:
    """Merge ``rows`` (partition columns, sorted by ts) into the partition; the incoming rows win.

    The file is rewritten only if its content changes. ``dirs_to_sync``: see ``write_atomic``.
    """
    store, obj = paths.store, partition_key_path(key)
    with file_lock(lock_path(paths, key)):
        if not store.remote and store.local_path(obj).parent.exists():
            clean_stale_temps(store.local_path(obj).parent)
        old = store.read_parquet(obj) if store.exists(obj) else None
        counts, merged = _merged(old, rows)
        if merged is not None:
            store.write_parquet(obj, merged, sync=dirs_to_sync)
        return counts


def _merged(old: pl.DataFrame | None, rows: pl.DataFrame) -> tuple[MergeCounts, pl.DataFrame | None]:
    """The counts of merging ``rows`` into ``old`` (None: no partition yet) and the new content
    (None if unchanged)."""
    if old is None:
        return MergeCounts(rows.height, 0, 0, True), rows
    if old.equals(rows):
        return MergeCounts(0, 0, rows.height, False), None
    j = rows.join(old, on="ts", how="left", suffix="_old")
    present = j["open_old"].is_not_null()
    same = present
    for c in PARTITION_COLUMNS[1:]:
        same = same & (j[c] == j[f"{c}_old"])
    n_present = int(present.sum())
    n_same = int(same.sum())
    n_new = rows.height - n_present
    n_replaced = n_present - n_same
    if n_new == 0 and n_replaced == 0:
        return MergeCounts(0, 0, n_same, False), None
    merged = pl.concat([old.join(rows.select("ts"), on="ts", how="anti"), rows]).sort("ts")
    return MergeCounts(n_new, n_replaced, n_same, True), merged


def stage_merge(
    paths: DataPaths, key: PartitionKey, rows: pl.DataFrame, txid: str
) -> tuple[MergeCounts, Staged | None]:
    """Merge ``rows`` into a local partition as a staged file of transaction ``txid`` (see
    ``journal``; fsynced, not yet visible), or None if the content would not change.

    Call with the partition's lock held and after ``journal.recover``: any temporary file left in
    its folder is then abandoned and removed."""
    target = paths.store.local_path(partition_key_path(key))
    if target.parent.exists():
        clean_stale_temps(target.parent)
    old = paths.store.read_parquet(partition_key_path(key)) if target.is_file() else None
    counts, merged = _merged(old, rows)
    if merged is None:
        return counts, None
    staged = stage_parquet(merged, target, txid=txid)
    try:
        fsync_staged(staged)
    except BaseException:
        staged.discard()
        raise
    return counts, staged


def bar_objects(paths: DataPaths) -> list[str]:
    """Every bar partition object a reader of the lake can see (what the catalog's glob matches),
    sorted by timeframe, symbol, month."""
    return [k for k in paths.store.list(BARS, ".parquet") if k.count("/") == 4]


def visible_parquet_files(paths: DataPaths) -> list[Path]:
    """``bar_objects`` as local files (local lakes only)."""
    return [paths.store.local_path(k) for k in bar_objects(paths)]


def _key_of(obj: str) -> PartitionKey:
    _, tf, sym, month, _ = obj.split("/")
    return PartitionKey(tf.split("=", 1)[1], sym.split("=", 1)[1], month.split("=", 1)[1])


def list_partitions(paths: DataPaths) -> list[PartitionKey]:
    return sorted({_key_of(f) for f in bar_objects(paths)})


def last_bar_ts(paths: DataPaths, symbol: str, timeframe: str) -> int | None:
    """The last bar time (ns) of ``symbol`` at ``timeframe`` in the lake, or None: the largest ts of its
    latest month partition (one object read)."""
    objs = [k for k in paths.store.list(f"{BARS}/timeframe={timeframe}/symbol={symbol}/", ".parquet")
            if k.count("/") == 4]
    if not objs:
        return None
    ts = paths.store.read_parquet(max(objs))["ts"]  # month=YYYY-MM: the largest key is the latest month
    return int(ts.max()) if len(ts) else None


def lake_fingerprint(paths: DataPaths) -> str:
    """sha256 over the relative paths and bytes of every visible bar partition."""
    h = hashlib.sha256()
    store = paths.store
    for obj in bar_objects(paths):
        h.update(obj.removeprefix(BARS + "/").encode() + b"\0")
        h.update(store.read_bytes(obj))
    return h.hexdigest()


def read_symbol_frames(
    paths: DataPaths,
    timeframe: str,
    symbols: list[str] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> list[tuple[str, pl.DataFrame]]:
    """(symbol, partition columns sorted by ts) per symbol of one timeframe, symbols sorted.

    Month partitions are disjoint and read in order, so no sort is needed. ``end_ns`` exclusive.
    """
    lo = month_of_ns(start_ns) if start_ns is not None else None
    hi = month_of_ns(end_ns) if end_ns is not None else None
    want = set(symbols) if symbols is not None else None
    by_symbol: dict[str, list[str]] = {}
    for f in bar_objects(paths):  # sorted: symbol, then month
        k = _key_of(f)
        if k.timeframe != timeframe or (want is not None and k.symbol not in want):
            continue
        if (lo is not None and k.month < lo) or (hi is not None and k.month > hi):
            continue
        by_symbol.setdefault(k.symbol, []).append(f)
    symbols = sorted(by_symbol)
    files = [f for sym in symbols for f in by_symbol[sym]]
    frames = iter(_read_files(paths, files))
    out = []
    for sym in symbols:
        df = pl.concat([next(frames) for _ in by_symbol[sym]])
        if start_ns is not None or end_ns is not None:
            cond = pl.lit(True)
            if start_ns is not None:
                cond = cond & (pl.col("ts") >= start_ns)
            if end_ns is not None:
                cond = cond & (pl.col("ts") < end_ns)
            df = df.filter(cond)
        if df.height:
            out.append((sym, df))
    return out


def _read_files(paths: DataPaths, files: list[str]) -> list[pl.DataFrame]:
    """Parquet objects read on a few threads (polars and pyarrow release the GIL), in the given
    order; a read error names the object."""
    store = paths.store
    workers = min(READ_THREADS * (4 if store.remote else 1), len(files))
    if workers <= 1:
        return [store.read_parquet(f) for f in files]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lq-lake-read") as pool:
        return list(pool.map(store.read_parquet, files))


def read_bars(
    paths: DataPaths,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> pl.DataFrame:
    """Bars from the lake in the bar schema, sorted by (symbol, timeframe, ts); ``end_ns`` exclusive."""
    tfs = [timeframe] if timeframe is not None else sorted({k.timeframe for k in list_partitions(paths)})
    frames = [
        df.with_columns(pl.lit(sym).alias("symbol"), pl.lit(tf).alias("timeframe"))
        for tf in tfs
        for sym, df in read_symbol_frames(paths, tf, symbols, start_ns, end_ns)
    ]
    if not frames:
        return pl.DataFrame(schema={c: (pl.String if c in ("symbol", "timeframe") else PARTITION_SCHEMA[c])
                                    for c in BAR_COLUMNS})
    return pl.concat(frames).select(BAR_COLUMNS).sort("symbol", "timeframe", "ts", maintain_order=True)
