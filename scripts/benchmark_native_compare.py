"""Metric workload and batched strategy sweep through every backend (python, numba, c, rust, auto).

    uv run python scripts/benchmark_native_compare.py --bars 20000 --evals 2000 [--dll PATH] [--repeats 3] [--json]

The python backend runs min(evals, 50) metric evals and 8 sweep sets (it is the slow reference);
rates are per second either way. ``*_per_cpu_sec_1thread``: one thread, timed by
its own CPU time (robust to other processes on a shared machine). Differences are absolute,
against the plain 3-pass reference.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=20_000)
    ap.add_argument("--evals", type=int, default=2_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dll", help="explicit native library (sets LQ_NATIVE_METRICS_DLL)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.dll:
        os.environ["LQ_NATIVE_METRICS_DLL"] = a.dll

    from lq_engine.kernels.threads import configure_threads

    cfg = configure_threads()
    import numba

    from lq_engine.kernels.backends import (
        BACKENDS, availability, metric_batch, numba_backend, run_accumulators, run_sweep,
    )
    from lq_engine.prefilter.bench import emit, ma_sweep, median_cpu_seconds, median_seconds, reference_curve
    from lq_engine.prefilter.selection import select_backend

    numba_backend.warmup()
    e = reference_curve(a.bars)
    ref = np.array(numba_backend.reference_three_pass(e, 252.0))
    sw = ma_sweep(a.bars)
    sel = select_backend()
    fig: dict[str, object] = {"bars": a.bars, "evals": a.evals, "threads": cfg.threads,
                              "native_backend_name": sel.chosen}
    for name in (*BACKENDS, "auto"):
        be = sel.chosen if name == "auto" else name
        ok, why = availability(be)
        if not ok:
            fig[f"{name}_available"] = 0
            fig[f"{name}_reason"] = why
            continue
        n_ev = min(a.evals, 50) if be == "python" else a.evals
        out = metric_batch(be, e, n_ev)
        fig[f"{name}_eval_per_sec"] = n_ev / median_seconds(lambda: metric_batch(be, e, n_ev), a.repeats)
        if name != "auto":
            for k, label in enumerate(("sharpe", "cagr", "max_drawdown")):
                fig[f"{name}_{label}_abs_diff"] = float(np.max(np.abs(out[:, k] - ref[k])))
        k_sets = 8 if be == "python" else sw.n_sets
        ip, fp = sw.ip[:k_sets], sw.fp[:k_sets]
        reps = 1 if be == "python" else a.repeats
        fig[f"{name}_sweep_evals_per_sec"] = k_sets / median_seconds(
            lambda: run_sweep(be, sw.bank, sw.rets, ip, fp, 0.001, 525_600.0), reps)
        if name != "auto" and be != "python":
            numba.set_num_threads(1)
            fig[f"{name}_sweep_evals_per_cpu_sec_1thread"] = sw.n_sets / median_cpu_seconds(
                lambda: run_accumulators(be, sw.bank, sw.rets, sw.ip, sw.fp, 0.001, n_threads=1), a.repeats)
            numba.set_num_threads(cfg.threads)
    emit(fig, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
