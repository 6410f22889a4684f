"""Backend selection: benchmark every available backend on a fixed workload, adopt only those whose
outputs match the python reference within ``PARITY_TOL``, pick the fastest.

Environment overrides (names kept from the original):
- ``LQ_NATIVE_BACKEND``: auto (default) | python | numba | c | rust -- force one backend.
- ``LQ_NATIVE_AUTO_SELECT``: 1 (default) benchmark and pick; 0 use numba without benchmarking.
- ``LQ_NATIVE_MIN_SPEEDUP``: a native backend must beat numba by this factor (default 1.05).
- ``LQ_NATIVE_BENCH_LOOPS``: timed repeats per backend (median; default 3).
- ``LQ_NATIVE_METRICS_DLL``: explicit shared library for a native backend (see backends.native).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from lq_engine.data.bars import Bars
from lq_engine.errors import EnvVarError
from lq_engine.kernels import metrics as M
from lq_engine.kernels.backends import BACKENDS, availability, metric_batch, run_sweep
from lq_engine.progress import Progress, Report
from lq_engine.strategies.registry import grid
from lq_engine.strategies.sweep import compile_sweep

log = logging.getLogger("lq_engine")


class BackendUnavailableError(EnvVarError, RuntimeError):
    """``LQ_NATIVE_BACKEND`` forces a backend this machine cannot build or that fails the parity check."""

PARITY_TOL = 1e-9  # max |a - b| / max(1, |b|) over every metric of every set, vs the reference
NATIVE = ("c", "rust")
# the fixed workload: MA cross on 4,000 synthetic one-minute bars (seed 42)
WORKLOAD_BARS = 4_000
WORKLOAD_FAST = range(5, 51, 5)
WORKLOAD_SLOW = range(20, 201, 20)
REFERENCE_SETS = 6  # the python reference runs on the first sets only (it is slow)


@dataclass(frozen=True)
class BackendRow:
    backend: str
    available: bool
    reason: str
    max_parity_error: float  # NaN when not measured
    evals_per_sec: float  # strategy-sweep parameter sets per second on the fixed workload
    chosen: bool


@dataclass(frozen=True)
class Selection:
    rows: tuple[BackendRow, ...]
    chosen: str
    mode: str  # "auto" | "forced" | "default"
    tolerance: float = PARITY_TOL

    def records(self) -> list[dict]:
        return [asdict(r) for r in self.rows]

    def row(self, backend: str) -> BackendRow:
        return next(r for r in self.rows if r.backend == backend)


def _env_float(name: str, default: float) -> float:
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    try:
        return float(v)
    except ValueError:
        raise EnvVarError(f"{name} must be a number, got {v!r}") from None


def workload():
    """The fixed sweep (compiled) used to benchmark and check backends."""
    close = 100 * np.exp(np.cumsum(np.random.default_rng(42).normal(0.0, 0.001, WORKLOAD_BARS)))
    params = grid("ma_cross", {"fast": WORKLOAD_FAST, "slow": WORKLOAD_SLOW, "side": ("long", "both")})
    return compile_sweep("ma_cross", params, Bars.from_close(close))


def parity_error(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for name in M.METRIC_NAMES:
        a, b = np.asarray(got[name], dtype=np.float64), np.asarray(ref[name], dtype=np.float64)
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        if np.any(~same & ~(np.isfinite(a) & np.isfinite(b))):
            return math.inf
        fin = ~same
        if fin.any():
            worst = max(worst, float(np.max(np.abs(a[fin] - b[fin]) / np.maximum(1.0, np.abs(b[fin])))))
    return worst


def _metric_parity(name: str, equity: np.ndarray, ref: np.ndarray) -> float:
    got = metric_batch(name, equity, 2)
    return float(np.max(np.abs(got - ref) / np.maximum(1.0, np.abs(ref))))


def select_backend(loops: int | None = None, min_speedup: float | None = None,
                   backends: tuple[str, ...] = BACKENDS, report: Report | None = None) -> Selection:
    """Benchmark and check every backend; env overrides as in the module docstring. ``report``:
    where progress lines go (``lq_engine.progress``): a cold start compiles the kernels (numba,
    C, Rust) and takes a minute or more."""
    forced = os.environ.get("LQ_NATIVE_BACKEND", "auto").strip().lower() or "auto"
    if forced != "auto" and forced not in BACKENDS:
        raise EnvVarError(f"LQ_NATIVE_BACKEND must be auto or one of {BACKENDS}, got {forced!r}")
    auto = os.environ.get("LQ_NATIVE_AUTO_SELECT", "1").strip() not in ("0", "false", "no")
    loops = loops if loops is not None else int(_env_float("LQ_NATIVE_BENCH_LOOPS", 3))
    if loops < 1:
        raise EnvVarError(f"LQ_NATIVE_BENCH_LOOPS must be >= 1, got {loops}")
    min_speedup = min_speedup if min_speedup is not None else _env_float("LQ_NATIVE_MIN_SPEEDUP", 1.05)

    with Progress("backend_benchmark", total=1 + len(backends), unit="steps", report=report).ticking() as progress:
        rows = _measure(backends, loops, progress)
    usable = {r.backend: r for r in rows if r.available}
    if forced != "auto":
        if forced not in usable:
            why = next((r.reason for r in rows if r.backend == forced), "not benchmarked")
            raise BackendUnavailableError(f"LQ_NATIVE_BACKEND={forced} is not usable: {why}")
        chosen, mode = forced, "forced"
    elif not auto:
        chosen, mode = ("numba" if "numba" in usable else "python"), "default"
    else:
        mode = "auto"
        base = usable.get("numba")
        chosen = "numba" if base else "python"
        best = base.evals_per_sec if base else usable["python"].evals_per_sec
        for name in NATIVE:
            r = usable.get(name)
            if r and r.evals_per_sec >= best * (min_speedup if base else 1.0):
                chosen, best = name, r.evals_per_sec
    rows = [BackendRow(**{**asdict(r), "chosen": r.backend == chosen}) for r in rows]
    sel = Selection(tuple(rows), chosen, mode)
    log.info("backend selection (%s): chose %s; %s", mode, chosen,
             ", ".join(f"{r.backend}={r.evals_per_sec:.0f}/s" for r in rows if r.available))
    return sel


def _measure(backends: tuple[str, ...], loops: int, progress: Progress) -> list[BackendRow]:
    """Parity and speed of each backend on the fixed workload (compiling what is not cached)."""
    progress.note = "compiling the workload"
    sw = workload()
    cost, ppy = 0.001, 525_600.0
    k = REFERENCE_SETS
    ref = run_sweep("python", sw.bank, sw.rets, sw.ip[:k], sw.fp[:k], cost, ppy)
    equity = np.cumprod(1 + np.random.default_rng(42).normal(0.0, 0.001, 2_000)) * 10_000
    mref = metric_batch("python", equity, 1)
    progress.advance(note=backends[0] if backends else "")

    rows = []
    for n, name in enumerate(backends):
        ok, reason = availability(name)
        err, speed = math.nan, math.nan
        if ok:
            try:
                sub = run_sweep(name, sw.bank, sw.rets, sw.ip[:k], sw.fp[:k], cost, ppy)
                err = max(parity_error(sub, ref), _metric_parity(name, equity, mref))
                ip, fp = (sw.ip[:k], sw.fp[:k]) if name == "python" else (sw.ip, sw.fp)
                times = []
                for _ in range(1 if name == "python" else loops):
                    t0 = time.perf_counter()
                    run_sweep(name, sw.bank, sw.rets, ip, fp, cost, ppy)
                    times.append(time.perf_counter() - t0)
                speed = ip.shape[0] / float(np.median(times))
            except Exception as e:  # a backend that crashes is reported, not fatal
                ok, reason = False, f"{type(e).__name__}: {e}"
            if ok and not err <= PARITY_TOL:
                ok, reason = False, f"parity error {err:.3g} exceeds {PARITY_TOL:g}; not adopted"
        rows.append(BackendRow(name, ok, reason, err, speed, False))
        progress.advance(note=backends[n + 1] if n + 1 < len(backends) else "selecting")
    return rows


_resolved: str | None = None


def resolve_backend() -> str:
    """The backend for ``backend='auto'`` calls in this process (selected once, then cached)."""
    global _resolved
    forced = os.environ.get("LQ_NATIVE_BACKEND", "auto").strip().lower() or "auto"
    if forced != "auto":
        if forced not in BACKENDS:
            raise EnvVarError(f"LQ_NATIVE_BACKEND must be auto or one of {BACKENDS}, got {forced!r}")
        return forced
    if _resolved is None:
        _resolved = select_backend().chosen
    return _resolved
