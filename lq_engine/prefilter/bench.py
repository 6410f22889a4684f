"""Benchmark workloads of BENCHMARKS.md sections 1-2 and the helpers the scripts share."""

from __future__ import annotations

import json
import time
from typing import Callable

import numpy as np

from lq_engine.data.bars import Bars
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.registry import default_grid
from lq_engine.strategies.sweep import Sweep, compile_sweep

EXPECTED_10K = {"sharpe": -0.16217684382677497, "cagr": -0.0027145605341435397, "max_drawdown": 0.11830659973881791}


def reference_curve(bars: int) -> np.ndarray:
    """equity = cumprod(1 + r) * 10000, r ~ N(0, 0.001), default_rng(42)."""
    r = np.random.default_rng(42).normal(0.0, 0.001, size=bars)
    e = np.cumprod(1 + r) * 10000
    e.setflags(write=False)
    return e


def sweep_bars(bars: int) -> Bars:
    """close = 100 * exp(cumsum(N(0, 0.001))), default_rng(42); open = previous close."""
    close = 100 * np.exp(np.cumsum(np.random.default_rng(42).normal(0.0, 0.001, bars)))
    return Bars.from_close(close)


def ma_sweep(bars: int) -> Sweep:
    return compile_sweep("ma_cross", default_grid("ma_cross"), sweep_bars(bars))


def rsi_sweep(bars: int) -> Sweep:
    return compile_sweep("rsi", default_grid("rsi"), sweep_bars(bars))


def synthetic_panel(n_symbols: int, bars: int, seed: int, cointegrated: bool = False):
    """A universe of ``n_symbols`` one-minute series of ``bars`` bars (open = previous close): random
    walks of N(0, 0.001) log steps, or, ``cointegrated``, one common walk plus N(0, 0.002) noise each
    (a pair that mean-reverts); ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    common = np.cumsum(rng.normal(0.0, 0.001, bars))
    ts = np.arange(bars, dtype=np.int64) * 60_000_000_000
    series = []
    for k in range(n_symbols):
        x = common + rng.normal(0.0, 0.002, bars) if cointegrated else np.cumsum(rng.normal(0.0, 0.001, bars))
        c = 100.0 * np.exp(x)
        o = np.r_[c[0], c[:-1]]
        series.append(Bars.from_arrays(f"S{k:03d}", ts, o, np.maximum(o, c), np.minimum(o, c), c,
                                         np.full(bars, 1e6)))
    return Panel.from_series(series)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def median_cpu_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU time of the calling thread: a single-thread figure that other processes' load on
    a shared machine distorts far less than wall time (run the kernel with one thread)."""
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return float(np.median(times))


def emit(figures: dict[str, object], as_json: bool) -> None:
    """One ``name=value`` per line, or a one-line JSON summary."""
    if as_json:
        print(json.dumps(figures, sort_keys=False, default=float))
        return
    for k, v in figures.items():
        print(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}")
