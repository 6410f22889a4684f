"""Two-stage optimizer benchmark on SYNTHETIC 1-minute bars.

    uv run python scripts/benchmark_optimizer.py --symbols 10 --days 365 --folds 3 --top 20 [--workers 2] [--json]

Builds an in-memory frozen dataset from ``generate_synthetic``, optimizes the MA-cross and RSI
default grids (3 folds, top k replayed, audit sample, holdout once each), writes the report, and
prints the total wall time and each stage's time and share (prepare = backend selection with
'auto', folds) as ``name=value`` lines (plus one JSON
line with --json). Stage times are summed over both strategies.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from figures import print_figures  # noqa: E402  (scripts/ is on sys.path)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--audit", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--strategies", default="ma_cross,rsi")
    ap.add_argument("--report-dir", default=None, help="keep the report here (default: a temp folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from lq_engine.kernels.threads import configure_threads

    configure_threads(args.workers)
    from lq_engine.data.samples import generate_synthetic
    from lq_engine.optimize import OptimizeConfig, TaskRunner, dataset_from_frame, optimize, write_report

    t_all = time.perf_counter()
    t0 = time.perf_counter()
    ds = dataset_from_frame(generate_synthetic(args.symbols, args.days, seed=args.seed), "synthetic_bench")
    data_s = time.perf_counter() - t0

    cfg = OptimizeConfig(n_folds=args.folds, top_k_min=args.top, top_k_max=args.top, audit_size=args.audit,
                         workers=args.workers, backend=args.backend, seed=args.seed)
    stages = {"stage1": 0.0, "stage2": 0.0, "audit": 0.0, "holdout": 0.0, "prepare": 0.0}
    results, figures = [], {}
    with TaskRunner(args.workers) as runner:
        for strat in args.strategies.split(","):
            r = optimize(ds, strat, cfg, runner)
            results.append(r)
            for k, v in r.timings.items():
                stages[k] = stages.get(k, 0.0) + v
            windows = r.stage1.scores.select("fold", "symbol").unique().height
            bars = int(r.stage1.scores.select("fold", "symbol", "n_bars").unique()["n_bars"].sum())
            figures[f"{strat}_sets"] = r.stage1.n_sets
            figures[f"{strat}_stage1_bar_evals_per_sec"] = round(bars * r.stage1.n_sets / r.timings["stage1"])
            figures[f"{strat}_stage1_windows"] = windows
            figures[f"{strat}_winner"] = json.dumps(r.winner.params, sort_keys=True)
            figures[f"{strat}_holdout_mean_sharpe"] = round(r.holdout_summary.get("mean_sharpe", float("nan")), 4)
            figures[f"{strat}_dsr"] = round(r.overfitting.dsr, 4)
            figures[f"{strat}_pbo"] = round(r.overfitting.pbo, 4)
            figures[f"{strat}_spearman"] = round(r.fidelity.spearman_train, 4)
            figures[f"{strat}_top_k_recall"] = round(r.fidelity.top_k_recall, 4)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = write_report(results, Path(args.report_dir or tmp))
        report_s = time.perf_counter() - t0
    total = time.perf_counter() - t_all

    parts = {"data": data_s, "prepare": stages["prepare"], "stage1": stages["stage1"],
             "stage2": stages["stage2"] + stages["holdout"], "audit": stages["audit"], "report": report_s}
    summary: dict = {"total_seconds": round(total, 3), "symbols": args.symbols, "days": args.days,
                     "bars_per_symbol": int(ds.offsets[1] - ds.offsets[0]), "folds": args.folds, "top": args.top,
                     "workers": args.workers, "backend": results[0].stage1.backend}
    for k, v in parts.items():
        summary[f"{k}_seconds"] = round(v, 3)
        summary[f"{k}_share"] = round(v / total, 4)
    summary["other_seconds"] = round(total - sum(parts.values()), 3)
    summary.update(figures)
    if args.report_dir:
        summary["report"] = str(out)
    print_figures(summary, args.json, sort_keys=True)
    return summary


if __name__ == "__main__":
    main()
