"""Landing files into the lake: read, validate the whole file, then apply it as one transaction.

Merge rule. The key of a bar is (symbol, timeframe, ts). Files are applied in order, and the bars of
the file ingested last win for the same key: a later file is a correction. Keys the file does not
carry are left as they are. ``ingest_files`` orders its files by modification time then name, so
the newest file wins. Re-ingesting a file that is already in the lake changes nothing: each
partition's new content is compared with the stored one and the Parquet file is not rewritten
when they are equal.

Rejection. A file is validated completely before anything is written (a first chunk first, so
garbage is rejected without reading a large file). A rejected file moves to the quarantine folder
(a file from outside the landing folder is copied there) with a reason report and neither the lake
nor the catalog changes.

Atomicity is per file (local lake: ``journal``). A file's new partition files, its raw-archive
entry (``archive``: ``<sha256>/<name>``, the file's identity is its content) and its ingest-log row
are staged under temporary names, then made visible together by one journal and a few renames. A
process killed before the journal is written leaves nothing but temporary files, which the next
ingest removes; killed after it, the next ingest (or any writer of those partitions) finishes the
renames. So every partition of a file is old or new together, and a file is in the archive and the
log exactly when its data is in the lake. A full disk fails while staging: the temporary files are
removed, the error names the file being written, and nothing changed. On an object store each
partition is one atomic PUT (per-partition atomicity; the archive and the log follow the partitions).

Logging and durability. Each staged file is fsynced, and the folders holding them, before the
journal is written; the folders the renames changed are fsynced before the journal is removed. So
the log never names data a power loss could take back, and an ingest never opens the DuckDB
catalog (its ``ingest_log`` view reads the log files).
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from lq_engine.data.archive import stage_entry
from lq_engine.data.errors import IngestError, short_name
from lq_engine.data.funding import ingest_funding, is_funding_file
from lq_engine.data.ingest_log import ingest_log_dir, maybe_compact, record_ingests, stage_ingest_log
from lq_engine.data.journal import journal_dir, recover, sweep, transaction
from lq_engine.data.lake import bars_root, lock_path, merge_partition, stage_merge
from lq_engine.data.locks import file_lock
from lq_engine.data.normalize import normalize
from lq_engine.data.paths import DataPaths
from lq_engine.data.quarantine import file_sha256, quarantine_file
from lq_engine.data.integrity import LakeCorruptError, require_readable
from lq_engine.data.store import fsync_staged, write_failed, WriteFailedError
from lq_engine.data.readers import FULL_READ_BYTES, Layout, prepare, read_frame
from lq_engine.data.schema import (BAR_COLUMNS, PARTITION_COLUMNS, PartitionKey, format_ns, month_code_expr,
                                   month_code_of_ns, month_code_text, month_start_ns)
from lq_engine.data.validate import is_constant, validate_bars
from lq_engine.progress import Progress, Report

__all__ = [
    "IngestError", "FileScan", "IngestReport", "scan_file", "load_bars", "ingest_file", "ingest_files",
    "reingest_landing", "landing_files",
]

LANDING_SUFFIXES = (".csv", ".parquet", ".pq", ".txt", ".zip")  # .zip: one CSV inside (Binance dumps)
# Files read and validated ahead of the (ordered) merges in ingest_files.
READ_AHEAD = max(1, min(2, os.cpu_count() or 1))
# Partition merges in flight at once (mostly waiting on fsync, so more than the cores).
MERGE_THREADS = 4
_KEY_COLUMNS = ["ts", "symbol", "timeframe"]
_ALL_COLUMNS = list(BAR_COLUMNS)


@dataclass(frozen=True)
class FileScan:
    file: str
    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]
    months: tuple[str, ...]
    rows: int
    partitions: tuple[PartitionKey, ...]

    @property
    def timeframe(self) -> str:
        """The file's timeframe (the first, if it holds several)."""
        return self.timeframes[0]


@dataclass
class IngestReport:
    file: str
    sha256: str
    rows_read: int
    rows_new: int = 0
    rows_replaced: int = 0
    rows_unchanged: int = 0
    partitions: list[PartitionKey] = field(default_factory=list)
    partitions_written: int = 0
    requested_at: datetime | None = None  # see ingest_log.INTENT_SCHEMA
    format: str = ""  # what the file was read as (``readers.Layout.format``)
    symbols: tuple[str, ...] = ()
    timeframes: tuple[str, ...] = ()
    first_ts: int | None = None  # ns, the file's first and last bar
    last_ts: int | None = None

    def summary(self) -> str:
        """One line for the user: what the file was understood as (format, symbols, timeframe,
        rows, first and last bar in ISO UTC) and what the merge did. Duplicate timestamps inside a
        file reject it; "duplicates dropped" are its rows already in the lake with the same values."""
        syms = ", ".join(self.symbols[:5]) + (f" +{len(self.symbols) - 5} more" if len(self.symbols) > 5 else "")
        span = f"{format_ns(self.first_ts)} .. {format_ns(self.last_ts)}" if self.first_ts is not None else "no bars"
        return (f"{Path(self.file).name}: {self.format or '?'}, {syms or '?'}, {', '.join(self.timeframes) or '?'}, "
                f"{self.rows_read} rows {span}; {self.rows_new} new, {self.rows_replaced} replaced, "
                f"{self.rows_unchanged} duplicates dropped")


def _month_code(ts: pl.Expr) -> pl.Expr:
    return month_code_expr(ts).alias("_month")


_month_text = month_code_text


def _partition_keys(df: pl.DataFrame) -> pl.DataFrame:
    keys = df.select("timeframe", "symbol", _month_code(pl.col("ts"))).unique()
    return keys.select("timeframe", "symbol",
                       pl.col("_month").map_elements(_month_text, return_dtype=pl.String).alias("month"))


def scan_file(
    path: Path, *, symbol: str | None = None, timeframe: str | None = None, ts_unit: str | None = None
) -> FileScan:
    """A cheap peek (key columns only, values unchecked): symbols, timeframes, months, rows."""
    path = Path(path)
    layout, chunk = prepare(path)
    df = read_frame(path, layout, _KEY_COLUMNS, chunk=chunk if layout.small else None)
    if df.height == 0:
        raise IngestError(path, "no data rows")
    keys = normalize(path, df, symbol=symbol, timeframe=timeframe, ts_unit=ts_unit, layout=layout)
    parts = _partition_keys(keys).sort("timeframe", "symbol", "month")
    pk = tuple(PartitionKey(*r) for r in parts.iter_rows())
    return FileScan(
        file=str(path),
        symbols=tuple(sorted(set(parts["symbol"].to_list()))),
        timeframes=tuple(sorted(set(parts["timeframe"].to_list()))),
        months=tuple(sorted(set(parts["month"].to_list()))),
        rows=keys.height,
        partitions=pk,
    )


def load_bars(
    path: Path,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    ts_unit: str | None = None,
    data: bytes | None = None,
) -> pl.DataFrame:
    """The whole file as validated bars (bar schema, file order), or IngestError.

    ``data``: the file's bytes, if already read whole (they are parsed instead of the file)."""
    return _read_bars(path, symbol=symbol, timeframe=timeframe, ts_unit=ts_unit, data=data)[0]


def _read_bars(
    path: Path, *, symbol: str | None, timeframe: str | None, ts_unit: str | None, data: bytes | None
) -> tuple[pl.DataFrame, Layout]:
    """``load_bars`` and how the file was read (its ``Layout``, for the ingest summary)."""
    path = Path(path)
    layout, chunk = prepare(path, data)
    if chunk is not None and layout.early_check:
        head = read_frame(path, layout, _ALL_COLUMNS, chunk=chunk)
        if head.height:
            head = normalize(path, head, symbol=symbol, timeframe=timeframe, ts_unit=ts_unit, resolve_timeframe=False,
                             layout=layout)
            validate_bars(path, head)
    df = read_frame(path, layout, _ALL_COLUMNS, chunk=chunk if layout.small else None, data=data)
    if df.height == 0:
        raise IngestError(path, "no data rows")
    bars = normalize(path, df, symbol=symbol, timeframe=timeframe, ts_unit=ts_unit, layout=layout)
    validate_bars(path, bars)
    return bars, layout


def _wanted(only_partitions: Iterable | None):
    """Predicate over PartitionKey from PartitionKeys and/or (symbol, month) pairs."""
    if only_partitions is None:
        return lambda k: True
    exact, pairs = set(), set()
    for p in only_partitions:
        if isinstance(p, PartitionKey):
            exact.add(p)
        else:
            sym, month = p
            pairs.add((sym, month))
    return lambda k: k in exact or (k.symbol, k.month) in pairs


def _split(bars: pl.DataFrame) -> list[tuple[PartitionKey, pl.DataFrame]]:
    """(partition, its rows) in partition order."""
    if is_constant(bars["symbol"]) and is_constant(bars["timeframe"]) and bars["ts"].is_sorted():
        return _split_sorted(bars)
    bars = bars.with_columns(_month_code(pl.col("ts")))
    groups = bars.partition_by(["timeframe", "symbol", "_month"], as_dict=True, maintain_order=True)
    out = [(PartitionKey(tf, sym, _month_text(m)), part) for (tf, sym, m), part in groups.items()]
    return sorted(out, key=lambda kp: kp[0])


def _split_sorted(bars: pl.DataFrame) -> list[tuple[PartitionKey, pl.DataFrame]]:
    """One symbol and timeframe, ts sorted: months are contiguous slices, cut by binary search
    (no per-row date arithmetic)."""
    tf, sym = bars["timeframe"][0], bars["symbol"][0]
    ts = bars["ts"].to_numpy()
    first, last = month_code_of_ns(ts[0]), month_code_of_ns(ts[-1])
    cuts = [0, *(int(np.searchsorted(ts, month_start_ns(m))) for m in range(first + 1, last + 1)), len(ts)]
    return [
        (PartitionKey(tf, sym, _month_text(m)), bars.slice(a, b - a))
        for m, a, b in zip(range(first, last + 1), cuts[:-1], cuts[1:])
        if b > a
    ]


@dataclass
class _Loaded:
    path: Path
    sha256: str
    bars: pl.DataFrame | None
    error: IngestError | None
    data: bytes | None = None  # the file's bytes, if read whole (archived as read)
    layout: Layout | None = None  # how it was read


def _new_report(loaded: _Loaded, **kw) -> IngestReport:
    """A file's report with what was understood of it (format, symbols, timeframes, first and last bar)."""
    bars = loaded.bars
    ts = bars["ts"]
    one = is_constant(bars["symbol"]) and is_constant(bars["timeframe"])
    return IngestReport(
        file=str(loaded.path), sha256=loaded.sha256, rows_read=bars.height,
        format=loaded.layout.format if loaded.layout is not None else "",
        symbols=(bars["symbol"][0],) if one else tuple(sorted(bars["symbol"].unique().to_list())),
        timeframes=(bars["timeframe"][0],) if one else tuple(sorted(bars["timeframe"].unique().to_list())),
        first_ts=int(ts.min()), last_ts=int(ts.max()), **kw)


def _load(path: Path, symbol, timeframe, ts_unit) -> _Loaded:
    """Hash and parse a file. One that fits FULL_READ_BYTES is read once: the bytes hashed are
    the bytes parsed. A bigger one is hashed in blocks and read in a first chunk then whole."""
    path = Path(path)
    data = path.read_bytes() if path.stat().st_size <= FULL_READ_BYTES else None
    sha = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(path)
    try:
        bars, layout = _read_bars(path, symbol=symbol, timeframe=timeframe, ts_unit=ts_unit, data=data)
        return _Loaded(path, sha, bars, None, data, layout)
    except IngestError as e:
        return _Loaded(path, sha, None, e)


@dataclass
class _Merging:
    """A file's report while its partition merges run on the merge threads."""

    report: IngestReport
    merges: list[Future]


def _merge_after(prev: Future | None, paths: DataPaths, key: PartitionKey, rows: pl.DataFrame):
    """Merge one partition once the same partition's merge from an earlier file is done (files
    apply in order). Returns (MergeCounts, directories to fsync)."""
    if prev is not None:
        prev.result()
    dirs: set[Path] = set()
    return merge_partition(paths, key, rows, dirs_to_sync=dirs), dirs


def _submit(loaded: _Loaded, paths: DataPaths, keep, pool: ThreadPoolExecutor, last: dict) -> _Merging:
    """Queue the merges of a validated file's partitions; ``last`` maps each partition to its
    latest queued merge."""
    bars = loaded.bars
    report = _new_report(loaded)
    merges = []
    parts = [(key, part) for key, part in _split(bars) if keep(key)]
    for key, _ in parts:  # a damaged partition it would merge into: refuse the file before writing any
        if key not in last:
            require_readable(paths, key)
    for key, part in parts:
        rows = part.select(PARTITION_COLUMNS)
        if not rows["ts"].is_sorted():
            rows = rows.sort("ts")
        last[key] = pool.submit(_merge_after, last.get(key), paths, key, rows)
        merges.append(last[key])
        report.partitions.append(key)
    return _Merging(report, merges)


def _finish(m: _Merging, dirs_to_sync: set[Path]) -> IngestReport:
    r = m.report
    for fut in m.merges:
        c, dirs = fut.result()
        r.rows_new += c.new
        r.rows_replaced += c.replaced
        r.rows_unchanged += c.unchanged
        r.partitions_written += int(c.written)
        dirs_to_sync |= dirs
    return r


def _apply_file(loaded: _Loaded, paths: DataPaths, keep, pool: ThreadPoolExecutor) -> IngestReport:
    """One file as one transaction on a local lake (``journal``): its partitions, its archive
    entry and its log row become visible together, or nothing does (a full disk while staging:
    WriteFailedError naming the file, nothing changed). Raises LakeCorruptError, before writing
    anything, if a partition it would merge into is damaged."""
    bars = loaded.bars
    report = _new_report(loaded, requested_at=_requested_at(loaded.path, paths))
    parts = []
    for key, part in _split(bars):
        if keep(key):
            rows = part.select(PARTITION_COLUMNS)
            parts.append((key, rows if rows["ts"].is_sorted() else rows.sort("ts")))
    try:
        _transact(loaded, paths, parts, report, pool)
    except WriteFailedError as e:  # a full disk: say whose ingest it stopped and that nothing changed
        err = WriteFailedError(f"{short_name(loaded.path)} not ingested, nothing of it applied: {e}")
        err.errno = e.errno
        raise err from None
    return report


def _requested_at(path: Path, paths: DataPaths) -> datetime:
    """When the user asked for this ingest: a landing file's arrival there (its inode's change
    time: a copy or move into the folder), else now (``lq ingest`` of a file elsewhere)."""
    try:
        if path.resolve().parent == paths.landing.resolve():
            st = path.stat()
            return datetime.fromtimestamp(max(st.st_ctime, st.st_mtime), timezone.utc)
    except OSError:
        pass
    return datetime.now(timezone.utc)


def _transact(loaded: _Loaded, paths: DataPaths, parts: list, report: IngestReport, pool: ThreadPoolExecutor) -> None:
    with ExitStack() as locks:
        for key, _ in sorted(parts, key=lambda kp: kp[0]):  # one global order: no deadlock
            try:
                locks.enter_context(file_lock(lock_path(paths, key)))
            except OSError as e:
                if isinstance(e, (TimeoutError, WriteFailedError)):
                    raise
                raise write_failed(lock_path(paths, key), e, "(a partition lock)") from None
        recover(paths)  # a dead transaction's renames land before its partitions are read
        for key, _ in parts:
            require_readable(paths, key)
        with transaction(paths) as tx:
            futures = [pool.submit(stage_merge, paths, key, rows, tx.txid) for key, rows in parts]
            first_error = None
            for (key, _), fut in zip(parts, futures):
                try:
                    c, staged = fut.result()
                except BaseException as e:  # the others still finish, so every staged file is known
                    first_error = first_error or e
                    continue
                if staged is not None:
                    tx.adopt(staged)
                report.rows_new += c.new
                report.rows_replaced += c.replaced
                report.rows_unchanged += c.unchanged
                report.partitions_written += int(c.written)
                report.partitions.append(key)
            if first_error is not None:
                raise first_error
            stage_entry(tx, loaded.path, loaded.sha256, loaded.data)
            log = stage_ingest_log(paths, [report], txid=tx.txid)
            tx.adopt(log)
            fsync_staged(log)
            tx.commit()


def _loaded_in_order(files: list[Path], symbol, timeframe, ts_unit, workers: int) -> Iterator[_Loaded]:
    """Files read and validated ahead on ``workers`` threads (at most that many in memory at once),
    yielded in the given order, so merges still apply in order."""
    if workers <= 1 or len(files) <= 1:
        for f in files:
            yield _load(f, symbol, timeframe, ts_unit)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lq-ingest") as pool:
        pending: deque = deque()
        it = iter(files)
        for f in it:
            pending.append(pool.submit(_load, f, symbol, timeframe, ts_unit))
            if len(pending) >= workers:
                break
        while pending:
            done = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(_load, nxt, symbol, timeframe, ts_unit))
            yield done


def ingest_file(
    path: Path,
    paths: DataPaths,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    ts_unit: str | None = None,
    only_partitions: Iterable | None = None,
) -> IngestReport:
    """Validate ``path`` and merge it into the lake; log it in the ingest log.

    ``only_partitions``: PartitionKeys and/or (symbol, month) pairs; other partitions of the file
    are left alone. Raises IngestError (after quarantining the file) if the file is invalid.
    """
    return ingest_files([path], paths, symbol=symbol, timeframe=timeframe, ts_unit=ts_unit,
                        only_partitions=only_partitions)[0]


def _readable(files: list[Path], symbol: str | None, timeframe: str | None, ts_unit: str | None,
              paths: DataPaths, errors: list) -> Iterator[_Loaded]:
    """The files that read and validated (``_loaded_in_order``, read ahead), in order; each other one
    is quarantined and its error appended to ``errors``."""
    for loaded in _loaded_in_order(files, symbol, timeframe, ts_unit, READ_AHEAD):
        if loaded.error is not None:
            quarantine_file(loaded.path, paths, loaded.error, sha256=loaded.sha256)
            errors.append(loaded.error)
            continue
        yield loaded


def ingest_files(
    files: Iterable[Path],
    paths: DataPaths,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    ts_unit: str | None = None,
    only_partitions: Iterable | None = None,
    raise_on_reject: bool = True,
    in_order: bool = False,
    report: Report | None = None,
) -> list[IngestReport]:
    """Ingest files oldest first (mtime, then name), so the newest wins.

    Files are read and validated ahead on a couple of threads. On a local lake each file is then
    one transaction (see the module docstring), its partitions merged and staged on merge threads
    at once (their fsyncs overlap), files strictly in order. On an object store partitions are
    merged across files on the merge threads, each partition's merges in file order, and one
    ingest-log file is written at the end. Either way the result does not depend on thread counts.

    Invalid files are quarantined and skipped; with ``raise_on_reject`` the first IngestError is
    raised after the other files are in. ``in_order``: apply the files in the order given (a
    replay of the archive in ingest-log order). ``report``: where progress lines go (files done of
    all, elapsed, ETA; ``lq_engine.progress``), besides the terminal of an ``lq`` command.
    """
    files = [Path(f) for f in files]
    if not in_order:
        files = sorted(files, key=lambda f: (f.stat().st_mtime_ns, f.name))
    funding = [f for f in files if is_funding_file(f)]  # perpetuals' funding rates: ``data.funding``
    reports, funding_errors = _funding_reports(funding, paths) if funding else ([], [])
    if funding:
        files = [f for f in files if f not in set(funding)]
    keep = _wanted(list(only_partitions) if only_partitions is not None else None)
    with Progress("ingest", total=len(files), unit="files", report=report).ticking() as progress:
        reports += _ingest(files, paths, symbol, timeframe, ts_unit, keep, raise_on_reject, progress)
    return _raise_first(funding_errors, raise_on_reject, reports)


def _funding_reports(files: list[Path], paths: DataPaths) -> tuple[list[IngestReport], list[IngestError]]:
    done, errors = ingest_funding(files, paths)
    return [IngestReport(file=d["file"], sha256=d["sha256"], rows_read=d["rows"], rows_new=d["rows"],
                         format="funding", symbols=d["symbols"], first_ts=d["first_ts"], last_ts=d["last_ts"])
            for d in done], errors


def _ingest(files: list[Path], paths: DataPaths, symbol: str | None, timeframe: str | None, ts_unit: str | None,
            keep: Callable[[PartitionKey], bool], raise_on_reject: bool, progress: Progress) -> list[IngestReport]:
    reports: list[IngestReport] = []
    errors: list[IngestError | LakeCorruptError] = []
    if not paths.remote:
        _recover_and_sweep(paths)
        with ThreadPoolExecutor(max_workers=MERGE_THREADS, thread_name_prefix="lq-merge") as pool:
            for loaded in _readable(files, symbol, timeframe, ts_unit, paths, errors):
                try:
                    reports.append(_apply_file(loaded, paths, keep, pool))
                except LakeCorruptError as e:  # the lake's fault, not the file's: nothing of it written
                    errors.append(e)
                progress.advance(note=loaded.path.name)
        if reports:
            maybe_compact(paths)
        return _raise_first(errors, raise_on_reject, reports)
    dirs_to_sync: set[Path] = set()
    with ThreadPoolExecutor(max_workers=MERGE_THREADS, thread_name_prefix="lq-merge") as pool:
        last: dict[PartitionKey, Future] = {}
        merging: deque[_Merging] = deque()
        for loaded in _readable(files, symbol, timeframe, ts_unit, paths, errors):
            try:
                merging.append(_submit(loaded, paths, keep, pool, last))
            except LakeCorruptError as e:  # the lake's fault, not the file's: nothing of it written, not quarantined
                errors.append(e)
                continue
            while len(merging) > READ_AHEAD:  # bounded: a few files' bars in memory at once
                reports.append(_finish(merging.popleft(), dirs_to_sync))
                progress.advance(note=Path(reports[-1].file).name)
        while merging:
            reports.append(_finish(merging.popleft(), dirs_to_sync))
            progress.advance(note=Path(reports[-1].file).name)
    _archive(paths, reports)
    record_ingests(paths, reports, sync_first=dirs_to_sync)  # the partitions are durable before the log
    return _raise_first(errors, raise_on_reject, reports)


def _archive(paths: DataPaths, reports: list[IngestReport]) -> None:
    """Archive entries of files merged into a lake on an object store (before their log rows)."""
    for r in reports:
        with transaction(paths) as tx:
            stage_entry(tx, Path(r.file), r.sha256)
            tx.commit()


def _raise_first(errors: list, raise_on_reject: bool, reports: list[IngestReport]) -> list[IngestReport]:
    if errors and raise_on_reject:
        e = errors[0]
        if len(errors) > 1:
            e.add_note(f"{len(errors) - 1} more file(s) rejected: " + "; ".join(str(x) for x in errors[1:]))
        raise e
    return reports


def _recover_and_sweep(paths: DataPaths) -> None:
    """Before an ingest: finish transactions decided by a killed process, remove what killed ones
    left undecided (their temporary files), so nothing needs cleaning by hand."""
    recover(paths)
    sweep(paths, [bars_root(paths), paths.archive, ingest_log_dir(paths), journal_dir(paths)])


def landing_files(paths: DataPaths) -> list[Path]:
    if not paths.landing.is_dir():
        return []
    return sorted(  # bar files: funding files are ingested as they arrive, never re-scanned as bars
        f for f in paths.landing.iterdir()
        if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in LANDING_SUFFIXES
        and not is_funding_file(f)
    )


def reingest_landing(
    paths: DataPaths, symbols: Iterable[str] | None = None, months: Iterable[str] | None = None,
    report: Report | None = None,
) -> list[IngestReport]:
    """Re-ingest every landing file touching the given symbols x months (None: all), limited to
    those partitions. Idempotent. Files that cannot even be scanned are quarantined and skipped.
    ``report``: progress lines, as in ``ingest_files``."""
    syms = set(symbols) if symbols is not None else None
    mons = set(months) if months is not None else None
    touching: list[Path] = []
    wanted: set = set()
    for f in landing_files(paths):
        try:
            scan = scan_file(f)
        except IngestError as e:
            quarantine_file(f, paths, e)
            continue
        hits = [k for k in scan.partitions if (syms is None or k.symbol in syms) and (mons is None or k.month in mons)]
        if hits:
            touching.append(f)
            wanted.update(hits)
    return ingest_files(touching, paths, only_partitions=wanted, raise_on_reject=False, report=report)
