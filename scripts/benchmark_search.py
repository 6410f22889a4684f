"""Search beyond grids (BENCHMARKS.md section 6): TPE and random search against the exhaustive grid.

    uv run python scripts/benchmark_search.py [--bars 20000] [--budget 0.01] [--seeds 1,2,3]
        [--repeats 1] [--tpe-history N] [--truth-cache FILE.npz] [--json]

MA cross written with the public API (scripts/strategies/ma_cross_api.py), fast in 2..400 and slow
in 5..2000 with fast < slow (its declared search space, about 718k sets), over the section-2 prices
(``sweep_bars``). The score of a set is stage 1's window score (annualized Sharpe minus the
thin-trading penalty, OptimizeConfig defaults) over the whole series.

1. Ground truth: every set of the space scored (in chunks, same kernel; ``--truth-cache`` keeps it
   in a file between invocations).
2. TPE and random search (the batch-native samplers, through ``run_search`` exactly as stage 1 runs
   them) with ``budget`` x the space's size in evaluations each, for every seed; ``--repeats``
   runs each search again (it must propose the same sets) and takes the median of its times.
3. Figures: ``tpe_best_quantile`` / ``random_best_quantile``, the fraction of all sets scoring
   strictly better than the method's best (median over seeds; target TPE <= 0.001 and below random),
   and ``sampler_time_share``, TPE's time in the sampler (set-up, ask and tell) over the total time
   of its search (median over seeds; target <= 0.25). Per-seed values are printed too.
   ``--tpe-history`` bounds the trials TPE's "above" estimator holds (default
   ``lq_engine.optimize.tpe.HISTORY``; 0: the whole history, to measure what the bound saves).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=20_000)
    ap.add_argument("--budget", type=float, default=0.01, help="evaluations per method, as a share of the space")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--batch", type=int, default=None, help="sets per sampler batch (default: stage 1's rule)")
    ap.add_argument("--methods", default="tpe,random")
    ap.add_argument("--tpe-history", type=int, default=None,
                    help="trials TPE's above estimator holds at most (0: all; default: tpe.HISTORY)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs of each search (same seed, same trials: checked); times are their medians")
    ap.add_argument("--truth-cache", default=None,
                    help="an .npz file keeping the ground truth between invocations (written when missing or made "
                         "for other --bars)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    from lq_engine.kernels.threads import configure_threads

    cfg_threads = configure_threads()
    from lq_engine.prefilter.bench import emit, sweep_bars
    from lq_engine.prefilter.evaluate import Costs, evaluate_grid
    from lq_engine.optimize.config import OptimizeConfig
    from lq_engine.optimize.objectives import window_score
    from lq_engine.optimize import tpe
    from lq_engine.optimize.search import BatchScores, resolve_search, run_search
    from lq_engine.strategies.registry import load_file

    if a.tpe_history is not None:
        tpe.HISTORY = a.tpe_history if a.tpe_history > 0 else sys.maxsize
    spec = load_file(ROOT / "scripts" / "strategies" / "ma_cross_api.py")
    bars = sweep_bars(a.bars)
    costs = Costs(fee=0.001)
    base = OptimizeConfig()

    def scores(sets: list[dict]) -> np.ndarray:
        m = evaluate_grid(bars, spec, sets, costs, backend="numba").metrics
        return window_score(m["sharpe"], m["trade_count"], base.min_trades, base.trade_penalty)

    # 1. ground truth: every (fast, slow) with fast < slow, chunked by fast
    t0 = time.perf_counter()
    fast_d, slow_d = spec.space.dims
    cache = Path(a.truth_cache).with_suffix(".npz") if a.truth_cache else None
    stored = np.load(cache) if cache is not None and cache.is_file() else None
    if stored is not None and int(stored["bars"]) == a.bars:
        truth = stored["truth"]
        cached = True
    else:
        truth = []
        for f0 in range(int(fast_d.low), int(fast_d.high) + 1, 16):
            chunk = [{"fast": f, "slow": s} for f in range(f0, min(f0 + 16, int(fast_d.high) + 1))
                     for s in range(max(f + 1, int(slow_d.low)), int(slow_d.high) + 1)]
            truth.append(scores(chunk))
        truth = np.concatenate(truth)
        cached = False
        if cache is not None:
            np.savez(cache, bars=a.bars, truth=truth)
    truth_s = time.perf_counter() - t0
    n_all = truth.size
    budget = max(1, int(round(a.budget * n_all)))

    figures: dict[str, object] = {"bars": a.bars, "space_sets": n_all, "budget": budget, "threads": cfg_threads.threads,
                                  "repeats": a.repeats, "ground_truth_s": truth_s, "ground_truth_cached": cached,
                                  "ground_truth_best": float(truth.max())}
    per: dict[str, dict[str, list[float]]] = {}
    for method in a.methods.split(","):
        rows = per.setdefault(method, {"quantile": [], "share": [], "seconds": [], "sampler_s": [], "evaluated": []})
        for seed in [int(s) for s in a.seeds.split(",")]:
            cfg = base.with_(search=method, trials=budget, seed=seed, batch_size=a.batch)
            settings = resolve_search(spec, cfg)
            runs = []
            for _ in range(max(1, a.repeats)):
                params, trace = run_search(spec, settings,
                                           lambda sets: BatchScores(v := scores(sets), np.zeros(v.size, bool)))
                if runs and params != runs[0][0]:
                    raise SystemExit(f"{method} seed {seed}: a repeat proposed other sets (not deterministic)")
                runs.append((params, trace))
            best = float(np.max(scores(params)))  # the same kernel: the values the search saw
            q = float(np.mean(truth > best))
            share = float(np.median([t.sampler_seconds / t.elapsed for _, t in runs]))
            elapsed = float(np.median([t.elapsed for _, t in runs]))
            sampler_s = float(np.median([t.sampler_seconds for _, t in runs]))
            rows["quantile"].append(q)
            rows["share"].append(share)
            rows["seconds"].append(elapsed)
            rows["sampler_s"].append(sampler_s)
            rows["evaluated"].append(len(params))
            figures[f"{method}_seed{seed}_best_quantile"] = q
            figures[f"{method}_seed{seed}_sampler_time_share"] = share
            figures[f"{method}_seed{seed}_search_s"] = elapsed
        figures[f"{method}_batch_size"] = settings.batch_size
        figures[f"{method}_best_quantile"] = float(np.median(rows["quantile"]))
        figures[f"{method}_search_s"] = float(np.median(rows["seconds"]))
        figures[f"{method}_sampler_s"] = float(np.median(rows["sampler_s"]))
        figures[f"{method}_evaluated"] = int(np.median(rows["evaluated"]))
        figures[f"{method}_sampler_time_share"] = float(np.median(rows["share"]))
    if "tpe" in per:
        figures["tpe_history"] = tpe.HISTORY if tpe.HISTORY < sys.maxsize else 0
        figures["sampler_time_share"] = figures["tpe_sampler_time_share"]
        # per-unit costs: a proposal in the sampler vs scoring one set on this one 20k-bar series, and how
        # many such windows per set (folds x symbols in stage 1) bring the share to 0.25
        sampler_ms = 1e3 * figures["tpe_sampler_s"] / figures["tpe_evaluated"]
        eval_ms = 1e3 * (figures["tpe_search_s"] - figures["tpe_sampler_s"]) / figures["tpe_evaluated"]
        figures["tpe_sampler_ms_per_set"] = sampler_ms
        figures["tpe_evaluate_ms_per_set"] = eval_ms
        figures["windows_for_target_share"] = int(np.ceil(3 * sampler_ms / eval_ms)) if eval_ms > 0 else 0
        if "random" in per:
            figures["tpe_beats_random_seeds"] = int(sum(t < r for t, r in zip(per["tpe"]["quantile"],
                                                                               per["random"]["quantile"])))
    emit(figures, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
