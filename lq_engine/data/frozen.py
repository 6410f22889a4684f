"""Frozen datasets: one universe (symbols, timeframe, date range) as contiguous read-only arrays.

On disk: ``frozen/<name>/<hash16>/`` holding ``ts.npy`` (int64 ns), ``open/high/low/close/volume.npy``
(float64), ``offsets.npy`` (int64, symbol k owns rows ``offsets[k]:offsets[k+1]``) and
``manifest.json``; a universe of perpetuals also carries its funding rates (``funding_ts.npy``,
``funding_rate.npy``, ``funding_offsets.npy``: symbol k owns events ``funding_offsets[k]:[k+1]``,
those within its bars' span; in the hash only when present), so a replay of it is reproducible.
Rows are sorted by (symbol, ts), symbols sorted. The folder is built under a temporary name and
renamed into place, so it is complete or absent; arrays load memory-mapped read-only. Nothing is
fsynced: the folder is a cache of the lake (see ``build_frozen``). The content hash is sha256 over
the spec and the canonical bytes of every array (never over wall-clock time): identical inputs give
the identical hash, which is the Dagster data version.

Where they live: built into the local ``frozen/`` folder of the machine that freezes; with the lake
on an object store the folder is also published to the lake (``frozen/<name>/<hash16>/``, the
manifest last, so a manifest in the lake means the arrays are all there). ``open_frozen`` gives a
worker the dataset by name and hash: from its local cache if present, else downloaded from the lake
into a temporary folder, verified against the hash, and renamed into the cache before it is
memory-mapped.
"""

from __future__ import annotations

import logging
import hashlib
import json
import os
import shutil
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from lq_engine.data.bars import FIELDS as BAR_FIELDS, Bars
from lq_engine.data.funding import funding_arrays
from lq_engine.data.funding_rates import FundingRates
from lq_engine.data.guards import freeze
from lq_engine.data.lake import read_symbol_frames
from lq_engine.data.paths import DataPaths
from lq_engine.data.schema import NS_PER_SECOND, canonical_timeframe, format_ns
from lq_engine.errors import InputError, LQError, NotFoundError

ARRAY_NAMES = ("ts", "open", "high", "low", "close", "volume")
FILES = tuple(f"{n}.npy" for n in ("offsets", *ARRAY_NAMES))
FUNDING_NAMES = ("funding_offsets", "funding_ts", "funding_rate")  # present for a universe with funding rates
FUNDING_FILES = tuple(f"{n}.npy" for n in FUNDING_NAMES)


def _files(folder: Path) -> tuple[str, ...]:
    """The array files of a dataset folder: the bars', and the funding rates' when it has them."""
    return FILES + (FUNDING_FILES if (folder / FUNDING_FILES[0]).exists() else ())


FORMAT_VERSION = 1


class FrozenMissingError(LQError, FileNotFoundError):
    """A frozen dataset recorded in the instance is not on disk or in the lake (deleted data folder)."""


class FrozenCorruptError(LQError, ValueError):
    """A frozen dataset's files do not match what was recorded when it was built (the file is named)."""


@dataclass(frozen=True)
class UniverseSpec:
    """``start``/``end``: inclusive UTC days 'YYYY-MM-DD' (None: everything in the lake)."""

    name: str
    symbols: tuple[str, ...]
    timeframe: str
    start: str | None = None
    end: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(sorted(set(self.symbols))))
        object.__setattr__(self, "timeframe", canonical_timeframe(self.timeframe))
        if not self.symbols:
            raise InputError(f"universe {self.name!r}: no symbols")

    def bounds_ns(self) -> tuple[int | None, int | None]:
        """[start, end) in ns: the end day is included."""
        def day(s: str) -> int:
            d = date.fromisoformat(s)
            return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()) * NS_PER_SECOND
        lo = day(self.start) if self.start else None
        hi = day(self.end) + 86400 * NS_PER_SECOND if self.end else None
        return lo, hi

    def canonical(self) -> dict:
        return {"name": self.name, "symbols": list(self.symbols), "timeframe": self.timeframe,
                "start": self.start, "end": self.end}


@dataclass(frozen=True)
class FrozenArrays:
    symbols: tuple[str, ...]
    offsets: np.ndarray
    arrays: dict[str, np.ndarray]
    funding: dict[str, np.ndarray] = field(default_factory=dict)  # FUNDING_NAMES -> array, or empty

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])


def with_funding(fa: FrozenArrays, rates: dict[str, tuple[np.ndarray, np.ndarray]]) -> FrozenArrays:
    """``fa`` carrying the funding events of its symbols (symbol -> (ts, rate)) that fall in each
    symbol's bar span (first open, last open]: the only ones a replay of it applies; ``fa`` itself
    when none do."""
    offsets = np.zeros(len(fa.symbols) + 1, dtype=np.int64)
    ts_parts, rate_parts = [], []
    for k, sym in enumerate(fa.symbols):
        t, r = rates.get(sym, (np.empty(0, dtype=np.int64), np.empty(0)))
        a, b = int(fa.offsets[k]), int(fa.offsets[k + 1])
        keep = (t > fa.arrays["ts"][a]) & (t <= fa.arrays["ts"][b - 1]) if b > a else np.zeros(t.shape, bool)
        ts_parts.append(np.asarray(t, dtype=np.int64)[keep])
        rate_parts.append(np.asarray(r, dtype=np.float64)[keep])
        offsets[k + 1] = offsets[k] + int(keep.sum())
    if offsets[-1] == 0:
        return fa
    arrays = {"funding_offsets": offsets, "funding_ts": np.concatenate(ts_parts),
              "funding_rate": np.concatenate(rate_parts)}
    for a in arrays.values():
        a.setflags(write=False)
    return FrozenArrays(fa.symbols, fa.offsets, fa.arrays, arrays)


def freeze_frames(parts: list[tuple[str, pl.DataFrame]]) -> FrozenArrays:
    """Per-symbol frames (ts, open..volume) to read-only contiguous arrays sorted by (symbol, ts).

    The in-memory builder: each column is copied once into its final array. The six arrays are
    rows of one allocation (a single big block: far fewer page faults than six, and eligible
    for transparent huge pages). A frame out of ts order is sorted; a repeated timestamp within
    a symbol raises ValueError.
    """
    parts = sorted(parts, key=lambda p: p[0])
    symbols = tuple(s for s, _ in parts)
    if len(set(symbols)) != len(symbols):
        raise InputError(f"freeze_frames: a symbol appears twice in {list(symbols)}")
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([df.height for _, df in parts], out=offsets[1:])
    n = int(offsets[-1])
    block = np.empty((len(ARRAY_NAMES), n), dtype=np.float64)
    arrays = {c: block[j].view(np.int64) if c == "ts" else block[j] for j, c in enumerate(ARRAY_NAMES)}
    for k, (sym, df) in enumerate(parts):
        missing = [c for c in ARRAY_NAMES if c not in df.columns]
        if missing:
            raise InputError(f"freeze_frames: {sym}: missing columns {missing}")
        if not df["ts"].is_sorted():
            df = df.sort("ts")
        a, b = offsets[k], offsets[k + 1]
        arrays["ts"][a:b] = ts_ns(df["ts"])
        for c in ARRAY_NAMES[1:]:
            arrays[c][a:b] = df[c].to_numpy()
    for arr in arrays.values():
        arr.setflags(write=False)
    fa = FrozenArrays(symbols, freeze(offsets), arrays)
    ok = _steps_ok(fa)
    if not ok.all():
        i = int(np.argmin(ok)) + 1
        k = int(np.searchsorted(offsets, i, side="right") - 1)
        raise InputError(f"freeze_frames: duplicate timestamp {format_ns(arrays['ts'][i])} for {symbols[k]}")
    return fa


def ts_ns(ts: pl.Series) -> np.ndarray:
    """int64 ns of a ts column (a zero-copy view for ns datetimes)."""
    if isinstance(ts.dtype, pl.Datetime):
        if ts.dtype.time_unit == "ns" and ts.dtype.time_zone is None and not ts.null_count():
            return ts.to_numpy().view(np.int64)
        ts = ts.dt.epoch("ns")
    return ts.to_numpy()


def freeze_frame(df: pl.DataFrame) -> FrozenArrays:
    """Bars (symbol, ts, open..volume) in one frame to frozen arrays (see ``freeze_frames``)."""
    missing = [c for c in ("symbol", *ARRAY_NAMES) if c not in df.columns]
    if missing:
        raise InputError(f"freeze_frame: missing columns {missing}")
    groups = df.partition_by("symbol", as_dict=True, maintain_order=True)
    return freeze_frames([(sym, part) for (sym,), part in groups.items()])


def _steps_ok(fa: FrozenArrays) -> np.ndarray:
    ts = fa.arrays["ts"]
    ok = ts[1:] > ts[:-1]
    cut = fa.offsets[1:-1] - 1  # steps that cross from one symbol to the next
    ok[cut[(cut >= 0) & (cut < ok.shape[0])]] = True
    return ok


def content_hash(spec: UniverseSpec, fa: FrozenArrays) -> str:
    h = hashlib.sha256()
    h.update(f"lq-frozen-v{FORMAT_VERSION}\0".encode())
    h.update(json.dumps(spec.canonical(), sort_keys=True, separators=(",", ":")).encode() + b"\0")
    h.update(json.dumps(list(fa.symbols)).encode() + b"\0")
    for name, a in (("offsets", fa.offsets), *((n, fa.arrays[n]) for n in ARRAY_NAMES)):
        le = a.astype(a.dtype.newbyteorder("<"), copy=False)
        h.update(f"{name}:{le.dtype.str}:{le.shape[0]}\0".encode())
        h.update(memoryview(np.ascontiguousarray(le)).cast("B"))
    for name in FUNDING_NAMES if fa.funding else ():  # a universe without funding keeps its hash
        le = fa.funding[name].astype(fa.funding[name].dtype.newbyteorder("<"), copy=False)
        h.update(f"{name}:{le.dtype.str}:{le.shape[0]}\0".encode())
        h.update(memoryview(np.ascontiguousarray(le)).cast("B"))
    return h.hexdigest()


@dataclass(frozen=True)
class FrozenDataset:
    folder: Path
    name: str
    content_hash: str
    symbols: tuple[str, ...]
    timeframe: str
    offsets: np.ndarray
    arrays: dict[str, np.ndarray] = field(repr=False)
    spec: UniverseSpec = field(repr=False)
    funding_arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # FUNDING_NAMES, or empty

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    def __getattr__(self, name: str) -> np.ndarray:
        if name in ARRAY_NAMES:
            return self.arrays[name]
        raise AttributeError(name)

    def index(self, symbol: str) -> int:
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise NotFoundError(f"{symbol!r} is not in frozen dataset {self.name} (has {list(self.symbols)})") from None

    def series(self, symbol: str) -> Bars:
        """One symbol's rows as ``Bars`` of read-only contiguous views (no copy, no scan: a consumer
        that needs the rules checked, such as ``replay``, runs ``validated()`` on them once)."""
        k = self.index(symbol)
        a, b = int(self.offsets[k]), int(self.offsets[k + 1])
        return Bars(*(self.arrays[n][a:b] for n in BAR_FIELDS), symbol=symbol)

    def funding(self, symbol: str) -> FundingRates | None:
        """The symbol's funding events (a perpetual), None when the dataset carries none for it."""
        k = self.index(symbol)
        f = self.funding_arrays
        if not f:
            return None
        a, b = int(f["funding_offsets"][k]), int(f["funding_offsets"][k + 1])
        return FundingRates(f["funding_ts"][a:b], f["funding_rate"][a:b], symbol) if b > a else None

    def symbol_span(self, symbol: str) -> tuple[str, str]:
        """(first bar, last bar) as ISO-8601 UTC text."""
        s = self.series(symbol)
        return format_ns(int(s.ts[0])), format_ns(int(s.ts[-1]))


def _write_arrays(tmp: Path, fa: FrozenArrays) -> None:
    tmp.mkdir(parents=True)
    for name, a in (("offsets", fa.offsets), *((n, fa.arrays[n]) for n in ARRAY_NAMES), *fa.funding.items()):
        with open(tmp / f"{name}.npy", "wb") as f:
            np.save(f, np.ascontiguousarray(a), allow_pickle=False)


def file_checksums(folder: Path) -> dict[str, int]:
    """crc32 of each array file (3-4 GB/s here, about 3.5x sha256: cheap enough to check on every
    first load in a process, and it names the file that changed)."""
    out = {}
    for name in _files(folder):
        with open(folder / name, "rb") as f:
            crc = 0
            while chunk := f.read(1 << 24):
                crc = zlib.crc32(chunk, crc)
        out[name] = crc
    return out


def _write_manifest(tmp: Path, spec: UniverseSpec, fa: FrozenArrays, digest: str) -> None:
    manifest = {
        "checksums": file_checksums(tmp),
        "format_version": FORMAT_VERSION,
        "content_hash": digest,
        "spec": spec.canonical(),
        "symbols": list(fa.symbols),
        "n_rows": fa.n_rows,
        "arrays": {n: str(fa.arrays[n].dtype) for n in ARRAY_NAMES},
        **({"funding_events": int(fa.funding["funding_offsets"][-1])} if fa.funding else {}),
        "first_ts": format_ns(int(fa.arrays["ts"].min())) if fa.n_rows else None,
        "last_ts": format_ns(int(fa.arrays["ts"].max())) if fa.n_rows else None,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _same_arrays(ds: FrozenDataset, fa: FrozenArrays) -> bool:
    return ds.symbols == fa.symbols and np.array_equal(ds.offsets, fa.offsets) and all(
        np.array_equal(ds.arrays[n], fa.arrays[n], equal_nan=n != "ts") for n in ARRAY_NAMES
    ) and set(ds.funding_arrays) == set(fa.funding) and all(
        np.array_equal(ds.funding_arrays[n], fa.funding[n]) for n in fa.funding)


def build_frozen(paths: DataPaths, spec: UniverseSpec) -> FrozenDataset:
    """Read the universe from the lake and freeze it (reusing the folder if the hash exists).

    Durability without fsync: the folder is a cache of the lake, built under a temporary name and
    renamed into place (a crash before the rename leaves only a temporary folder, removed by the
    next build). A power loss after the rename could leave a torn folder behind a manifest, so an
    existing folder is reused only if its arrays equal the freshly read ones; otherwise it is
    rebuilt. ``load_frozen(verify=True)`` re-hashes it for any other reader.
    """
    lo, hi = spec.bounds_ns()
    parts = read_symbol_frames(paths, spec.timeframe, list(spec.symbols), lo, hi)
    absent = sorted(set(spec.symbols) - {s for s, _ in parts})
    if absent:
        raise InputError(f"universe {spec.name!r}: no {spec.timeframe} bars in the lake for {absent}")
    fa = with_funding(freeze_frames(parts), funding_arrays(paths, spec.symbols))
    base = paths.frozen / spec.name
    base.mkdir(parents=True, exist_ok=True)
    _clean_stale_temps(base)
    tmp = base / f".tmp-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lq-frozen-hash") as pool:
        hashing = pool.submit(content_hash, spec, fa)  # hashlib and file writes release the GIL
        try:
            _write_arrays(tmp, fa)  # before the hash is known: wasted only if the folder exists
            digest = hashing.result()
            final = base / digest[:16]
            ds = _reusable(final, base, digest, fa)
            if ds is not None:
                publish_frozen(paths, ds)
                return ds
            _write_manifest(tmp, spec, fa, digest)
            _publish_folder(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    ds = load_frozen(final, verify=False)
    mark_verified(ds)
    publish_frozen(paths, ds)
    return ds


STALE_TEMP_SECONDS = 3600  # a temporary folder this old was left by a killed build


def _clean_stale_temps(base: Path) -> None:
    """Concurrent builders share ``base``, so only temporary folders old enough to be abandoned go."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for stale in base.glob(".tmp-*"):
        try:
            if stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale, ignore_errors=True)
        except FileNotFoundError:
            pass


def _publish_folder(tmp: Path, final: Path) -> None:
    """Rename a completed dataset folder into place; a concurrent twin that got there first is fine."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not (final / "manifest.json").exists():  # not a concurrent twin: a real failure
            raise


def _reusable(final: Path, base: Path, digest: str, fa: FrozenArrays) -> FrozenDataset | None:
    """The existing folder of this hash if its arrays are intact; a torn one is discarded."""
    if not (final / "manifest.json").exists():
        return None
    try:
        ds = load_frozen(final, verify=False)
        if ds.content_hash == digest and _same_arrays(ds, fa):
            mark_verified(ds)
            return ds
    except (OSError, ValueError, KeyError):
        pass
    _discard(final, base)
    return None


def _discard(folder: Path, base: Path) -> None:
    """Move a torn folder aside (atomically) and delete it."""
    trash = base / f".tmp-torn-{uuid.uuid4().hex}"
    try:
        os.rename(folder, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


_VERIFIED: dict[tuple, str] = {}  # (folder, files' size and mtime) -> content hash verified in this process


def _signature(folder: Path) -> tuple:
    sig = [str(folder.resolve())]
    for name in (*_files(folder), "manifest.json"):
        st = (folder / name).stat()
        sig += [st.st_size, st.st_mtime_ns]
    return tuple(sig)


def verify_frozen(folder: Path) -> str:
    """Check every array file against the manifest (crc32 per file; for a manifest without
    checksums, the sha256 content hash); returns the verified content hash or raises
    FrozenCorruptError naming the file(s)."""
    folder = Path(folder)
    m = json.loads((folder / "manifest.json").read_text())
    recorded = m.get("checksums")
    if recorded:
        found = file_checksums(folder)
        bad = [n for n in sorted(set(found) | set(recorded), key=(*FILES, *FUNDING_FILES).index)
               if found.get(n) != recorded.get(n)]
        if bad:
            raise FrozenCorruptError(
                f"{folder / bad[0]}: checksum mismatch (crc32 recorded {recorded.get(bad[0])}, "
                f"found {found.get(bad[0])})"
                + (f", and {', '.join(bad[1:])}" if bad[1:] else "")
                + f": frozen dataset {m['spec']['name']} {m['content_hash'][:16]} was modified or corrupted")
        return m["content_hash"]
    ds = load_frozen(folder, verify=False)
    actual = content_hash(ds.spec, FrozenArrays(ds.symbols, ds.offsets, ds.arrays, ds.funding_arrays))
    if actual != m["content_hash"]:
        raise FrozenCorruptError(f"{folder}: content hash mismatch (manifest {m['content_hash'][:16]}, arrays "
                                 f"{actual[:16]}): frozen dataset {m['spec']['name']} was modified or corrupted")
    return actual


def load_frozen(folder: Path, *, verify: bool | None = None) -> FrozenDataset:
    """Open a frozen dataset folder; arrays are memory-mapped read-only.

    ``verify``: None (default) checks the files once per process (again if they change on disk);
    True always; False never (the builder, which has just hashed them). A mismatch raises
    FrozenCorruptError naming the file.
    """
    folder = Path(folder)
    try:
        m = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        raise FrozenMissingError(f"{folder}: not a frozen dataset (no manifest.json)") from None
    if verify is not False:
        sig = _signature(folder)
        if verify or _VERIFIED.get(sig) != m["content_hash"]:
            _VERIFIED.pop(sig, None)
            _VERIFIED[sig] = verify_frozen(folder)
    arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r", allow_pickle=False) for n in ARRAY_NAMES}
    offsets = np.load(folder / "offsets.npy", mmap_mode="r", allow_pickle=False)
    funding = {n: np.load(folder / f"{n}.npy", allow_pickle=False) for n in FUNDING_NAMES} \
        if m.get("funding_events") else {}
    for a in funding.values():
        a.setflags(write=False)
    s = m["spec"]
    spec = UniverseSpec(s["name"], tuple(s["symbols"]), s["timeframe"], s["start"], s["end"])
    return FrozenDataset(folder, spec.name, m["content_hash"], tuple(m["symbols"]), spec.timeframe,
                         offsets, arrays, spec, funding)


def mark_verified(ds: "FrozenDataset") -> None:
    """Record that ``ds``'s files were just hashed by this process (the builder)."""
    _VERIFIED[_signature(ds.folder)] = ds.content_hash

LAKE_PREFIX = "frozen"


def _lake_prefix(name: str, digest: str) -> str:
    return f"{LAKE_PREFIX}/{name}/{digest[:16]}"


def publish_frozen(paths: DataPaths, ds: FrozenDataset) -> str | None:
    """Copy a local frozen folder to an object-store lake (arrays first, manifest last); a no-op
    for a local lake or if the lake already has it. Returns the lake prefix."""
    if not paths.remote:
        return None
    store, prefix = paths.store, _lake_prefix(ds.name, ds.content_hash)
    if store.exists(f"{prefix}/manifest.json"):
        return prefix
    for name in ("offsets", *ARRAY_NAMES, *ds.funding_arrays):
        store.write_bytes(f"{prefix}/{name}.npy", (ds.folder / f"{name}.npy").read_bytes())
    store.write_bytes(f"{prefix}/manifest.json", (ds.folder / "manifest.json").read_bytes())
    return prefix


def open_frozen(paths: DataPaths, name: str, digest: str) -> FrozenDataset:
    """The frozen dataset ``name`` with content hash ``digest``, memory-mapped from this machine's
    cache; on first use on this machine it is fetched from the lake and verified first."""
    final = paths.frozen / name / digest[:16]
    if (final / "manifest.json").exists():
        try:
            return load_frozen(final)
        except FrozenCorruptError as e:
            return _rebuild(paths, final, digest, e)
    if not paths.remote:
        raise FrozenMissingError(f"{final}: frozen dataset {name} {digest[:16]} is not on disk (re-materialize "
                                "frozen_dataset)")
    store, prefix = paths.store, _lake_prefix(name, digest)
    if not store.exists(f"{prefix}/manifest.json"):
        raise FrozenMissingError(f"{store.uri_of(prefix)}: frozen dataset {name} {digest[:16]} is not in the lake "
                                "(re-materialize frozen_dataset)")
    base = final.parent
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        manifest = store.read_bytes(f"{prefix}/manifest.json")
        extra = FUNDING_NAMES if json.loads(manifest).get("funding_events") else ()
        for f in ("offsets", *ARRAY_NAMES, *extra):
            (tmp / f"{f}.npy").write_bytes(store.read_bytes(f"{prefix}/{f}.npy"))
        (tmp / "manifest.json").write_bytes(manifest)
        ds = load_frozen(tmp, verify=True)
        if ds.content_hash != digest:
            raise FrozenCorruptError(f"{store.uri_of(prefix)}: manifest hash {ds.content_hash[:16]} "
                                     f"is not {digest[:16]}")
        del ds
        _publish_folder(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_frozen(final)


def _rebuild(paths: DataPaths, final: Path, digest: str, error: FrozenCorruptError) -> FrozenDataset:
    """A corrupt folder is moved aside and the dataset made again: fetched from an object-store
    lake, or rebuilt from the lake's bars; it must come back with the hash it was asked for."""
    logging.getLogger("lq_engine").warning(f"{error}; rebuilding it from the lake")
    m = json.loads((final / "manifest.json").read_text())
    _discard(final, final.parent)
    if paths.remote:
        return open_frozen(paths, m["spec"]["name"], digest)
    s = m["spec"]
    ds = build_frozen(paths, UniverseSpec(s["name"], tuple(s["symbols"]), s["timeframe"], s["start"], s["end"]))
    if ds.content_hash != digest:
        raise FrozenCorruptError(f"{error}; the lake now gives hash {ds.content_hash[:16]}, not {digest[:16]}: "
                                 "re-materialize frozen_dataset") from None
    return ds
