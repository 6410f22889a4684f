"""Dataset build benchmark (BENCHMARKS.md section 1).

    uv run python scripts/benchmark_dataset_build.py --symbols 6 --rows 50000 [--repeats 5] [--json]

Workload: per symbol an in-memory polars frame of ``rows`` one-second bars (open = close =
100 + 0.01 i, high + 0.1, low - 0.1, volume 1000) turned into frozen arrays: time in ns, close,
returns, 32-bar rolling mean and std, per-symbol index.

- reference: the original's plain way, per symbol: polars pct_change / rolling_mean / rolling_std,
  to_numpy, then concatenate and index.
- ours: the frozen builder path: ``freeze_frames`` (each column copied once into read-only
  contiguous arrays + offsets)
  and the compiled ``bar_features``. Checked equal to the reference (ts, close, returns exactly;
  rolling mean / std within 1e-9 relative, the two differ only in summation order).
- ingest: the same rows written as CSV files (ISO timestamps) into a temporary landing folder, then
  timed: ``ingest_files`` (sniff, parse with explicit types, validation, Parquet lake, ingest log;
  the DuckDB catalog is views over these files, so an ingest never opens it), ``build_frozen`` and
  the features. The stages are also printed (``ingest_files_ms``, ``build_frozen_ms``,
  ``features_ms``: medians) to show where the time goes.

Prints name=value lines (medians of the repeats) and, with --json, one JSON line.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from lq_engine.data.features import bar_features
from lq_engine.data.frozen import UniverseSpec, build_frozen, freeze_frames
from lq_engine.data.ingest import ingest_files
from lq_engine.data.paths import DataPaths
from figures import print_figures

WINDOW = 32
T0_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z


def make_frames(symbols: int, rows: int) -> list[tuple[str, pl.DataFrame]]:
    i = np.arange(rows, dtype=np.float64)
    px = 100.0 + 0.01 * i
    ts = pl.Series("ts", T0_NS + np.arange(rows, dtype=np.int64) * 10**9).cast(pl.Datetime("ns"))
    frames = []
    for k in range(symbols):
        frames.append((f"S{k:03d}", pl.DataFrame({"ts": ts, "open": px, "high": px + 0.1, "low": px - 0.1,
                                                  "close": px, "volume": np.full(rows, 1000.0)})))
    return frames


def reference(frames: list[tuple[str, pl.DataFrame]]) -> dict:
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("time_ns", "close", "returns", "roll_mean", "roll_std")}
    index: dict[str, tuple[int, int]] = {}
    pos = 0
    for sym, df in frames:
        d = df.sort("ts").select(
            pl.col("ts").dt.epoch("ns").alias("time_ns"),
            pl.col("close"),
            pl.col("close").pct_change().alias("returns"),
            pl.col("close").rolling_mean(WINDOW).alias("roll_mean"),
            pl.col("close").rolling_std(WINDOW).alias("roll_std"),
        )
        for k in cols:
            cols[k].append(d[k].to_numpy())
        index[sym] = (pos, pos + d.height)
        pos += d.height
    out = {k: np.concatenate(v) for k, v in cols.items()}
    out["index"] = index
    return out


def ours(frames: list[tuple[str, pl.DataFrame]]) -> dict:
    fa = freeze_frames(frames)
    feats = bar_features(fa.arrays["close"], fa.offsets, WINDOW)
    off = fa.offsets
    return {"time_ns": fa.arrays["ts"], "close": fa.arrays["close"], **feats,
            "index": {s: (int(off[k]), int(off[k + 1])) for k, s in enumerate(fa.symbols)}}


def check_equal(a: dict, b: dict) -> None:
    assert a["index"] == b["index"], "per-symbol index differs"
    for k in ("time_ns", "close", "returns"):
        assert np.array_equal(a[k], b[k], equal_nan=True), f"{k} differs"
    for k in ("roll_mean", "roll_std"):
        assert np.array_equal(np.isnan(a[k]), np.isnan(b[k])), f"{k} NaN layout differs"
        m = ~np.isnan(a[k])
        np.testing.assert_allclose(a[k][m], b[k][m], rtol=1e-9, atol=0, err_msg=k)


def write_csvs(frames, folder: Path) -> list[Path]:
    files = []
    for sym, df in frames:
        f = folder / f"{sym}_1s.csv"
        df.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S")).write_csv(f)
        files.append(f)
    return files


def ingest_once(frames, workdir: Path, stages: dict[str, list[float]]) -> tuple[float, dict]:
    paths = DataPaths(workdir / "data").ensure()
    files = write_csvs(frames, paths.landing)
    t0 = time.perf_counter()
    reports = ingest_files(files, paths)
    t1 = time.perf_counter()
    ds = build_frozen(paths, UniverseSpec("bench", [s for s, _ in frames], "1s"))
    t2 = time.perf_counter()
    feats = bar_features(ds.close, ds.offsets, WINDOW)
    t3 = time.perf_counter()
    for name, dt in (("ingest_files_ms", t1 - t0), ("build_frozen_ms", t2 - t1), ("features_ms", t3 - t2)):
        stages.setdefault(name, []).append(dt * 1000)
    assert sum(r.rows_new for r in reports) == ds.n_rows
    return t3 - t0, {"time_ns": ds.ts, "close": ds.close, **feats,
                "index": {s: (int(ds.offsets[k]), int(ds.offsets[k + 1])) for k, s in enumerate(ds.symbols)}}


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=6)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    frames = make_frames(args.symbols, args.rows)
    total = args.symbols * args.rows
    bar_features(np.ones(64), np.array([0, 64]), WINDOW)  # compile outside the timings
    ref_t, our_t, ing_t = [], [], []
    stages: dict[str, list[float]] = {}
    ref_out = our_out = None
    for _ in range(args.repeats):
        t, ref_out = timed(reference, frames)
        ref_t.append(t)
        t, our_out = timed(ours, frames)
        our_t.append(t)
    check_equal(ref_out, our_out)
    with tempfile.TemporaryDirectory(prefix="lq-bench-") as tmp:
        for r in range(args.repeats):
            t, ing_out = ingest_once(frames, Path(tmp) / f"run{r}", stages)
            ing_t.append(t)
        check_equal(ref_out, ing_out)
    res = {
        "symbols": args.symbols,
        "rows": args.rows,
        "reference_rows_per_sec": round(total / statistics.median(ref_t)),
        "rows_per_sec": round(total / statistics.median(our_t)),
        "ingest_rows_per_sec": round(total / statistics.median(ing_t)),
        "outputs_equal": True,
    }
    res["speedup"] = round(res["rows_per_sec"] / res["reference_rows_per_sec"], 2)
    res.update({k: round(statistics.median(v), 1) for k, v in stages.items()})
    print_figures(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
