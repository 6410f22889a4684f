"""Two-stage walk-forward optimizer: prefilter the whole grid, replay the best, audit, report.

Public API
----------
``optimize(dataset, strategy, config=OptimizeConfig(), runner=None) -> OptimizeResult``
    ``dataset`` is a ``FrozenDataset`` (``lq_engine.data.frozen``); ``strategy`` a registry name.
    Steps: folds on the dataset clock -> stage 1 (the grid, or a seeded sampler's batches
    over the strategy's declared space: ``search``; batched kernel, every set x training window x
    symbol) -> stage 2 (full replays of the top k on train + validation) -> winner -> audit replays
    -> overfitting figures -> the winner replayed ONCE per symbol on the holdout. Every replay
    attaches ``config.brackets`` (stop-loss / take-profit / trailing) to each entry; stage 1
    cannot and ranks without them.
``OptimizeResult``: ``.summary()`` (one flat dict), ``.tables()`` (name -> polars DataFrame, ready
    for DuckDB: prefilter_scores [every evaluation], prefilter_rankings, replay_windows,
    replay_candidates, winner_windows, winner_trades, fidelity, summary), ``.winner``,
    ``.overfitting`` (dsr, n_trials, pbo ...), ``.fidelity`` (spearman, top-k recall),
    ``.holdout`` / ``.selection_detail`` (tables, trades, equity segments), ``.timings``.
``OptimizeConfig`` / ``OptimizeConfig.from_mapping(dict)`` (``ConfigError`` names the field).
``make_folds(n, config) -> FoldPlan``; ``build_report(results, folder) -> ReportBuild`` (index.html, a page
per result, rebuilt only when its inputs changed) and ``write_report(results, folder) -> Path`` (the index);
``heatmap_png(result, path)`` and ``equity_png(segments, path, title)`` -> Path;
``spearman(a, b)``; ``dataset_from_frame(df, name)`` (in-memory frozen dataset for tests/benchmarks).

Stated objectives (details in ``objectives``)
---------------------------------------------
window score = Sharpe (annualized) - trade_penalty * max(0, 1 - trades / min_trades);
stage 1 ranks by the mean window score over all training windows (folds x symbols);
stage 2 picks the top-k candidate with the best median validation score minus
dispersion_penalty x scaled MAD; ties go to the better stage-1 rank.

Guarantees
----------
- The holdout is never handed to selection: stage 1, stage 2 and the audit take windows from
  ``FoldPlan.selection_windows()`` through ``check_selection_window`` (``HoldoutLeakError``);
  only ``replay_stage.score_holdout`` reads it, after the winner is fixed.
- Same inputs and config give identical tables and winners for any ``workers`` (1 runs in
  process; more use spawned processes, one task per symbol, merged in symbol order).
- Every window is evaluated standalone (indicators warm up inside it, fresh cash), in both stages.
"""

from __future__ import annotations

import importlib

# name -> defining module; imported on first use so that a spawned worker importing
# ``lq_engine.optimize.tasks`` does not pull in polars or matplotlib before its thread setup
_EXPORTS = {
    "ConfigError": "config", "OptimizeConfig": "config",
    "FoldPlan": "folds", "HoldoutLeakError": "folds", "Window": "folds", "check_selection_window": "folds",
    "make_folds": "folds",
    "dataset_from_frame": "inputs", "is_synthetic": "inputs",
    "rankdata": "objectives", "spearman": "objectives", "top_k_recall": "objectives",
    "TaskRunner": "pool",
    "run_stage1": "stages", "run_stage2": "stages", "save_stage1": "stages", "load_stage1": "stages",
    "save_result": "stages", "load_result": "stages", "stage1_heatmap_png": "stages",
    "Fidelity": "run", "OptimizeResult": "run", "Winner": "run", "optimize": "run",
    "write_report": "report", "build_report": "report", "ReportBuild": "report", "heatmap_png": "report",
    "equity_png": "report",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lq_engine.optimize' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lq_engine.optimize.{_EXPORTS[name]}"), name)
