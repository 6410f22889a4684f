"""The optimizer as two separately runnable stages, with stage 1 persisted in between.

The Dagster assets ``prefilter_rankings`` and ``replay_results`` run the stages in different runs
(stage 2 re-runs when only its settings change), so stage 1's result is written to a folder
(Parquet + JSON + NPZ, no pickle) and read back. ``run.optimize`` is ``run_stage2(run_stage1(...))``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lq_engine.optimize.config import OptimizeConfig
from lq_engine.optimize.pool import TaskRunner
from lq_engine.optimize.prefilter import Stage1Result
from lq_engine.optimize.search import SearchSettings, SearchTrace
from lq_engine.strategies.registry import resolve

STAGE1_VERSION = 2  # 2: pruned flags, search settings and trace


def run_stage1(dataset: Any, strategy: Any, config: OptimizeConfig = OptimizeConfig(),
               runner: TaskRunner | None = None) -> Stage1Result:
    """Score the grid (or its seeded sample), or run the configured sampler, on every training window."""
    from lq_engine.optimize.run import prepare, stage1_of

    own = runner is None
    runner = runner or TaskRunner(config.workers)
    try:
        spec = resolve(strategy)
        view, plan, search, backend, _ = prepare(dataset, spec, config)
        return stage1_of(view, plan, search, backend, spec, config, runner)
    finally:
        if own:
            runner.close()


def run_stage2(dataset: Any, strategy: Any, stage1: Stage1Result, config: OptimizeConfig = OptimizeConfig(),
               runner: TaskRunner | None = None):
    """Replay the top k, pick the winner, audit stage 1, score the winner once on the holdout."""
    from lq_engine.optimize.prefilter import parameter_grid
    from lq_engine.optimize.run import finish, prepare

    own = runner is None
    runner = runner or TaskRunner(config.workers)
    try:
        t0 = time.perf_counter()
        spec = resolve(strategy)
        view, plan, search, _, timings = prepare(dataset, spec, config)
        if search.sampler or (stage1.search is not None and stage1.search.sampler):
            if stage1.search != search:
                raise ValueError(f"stage 1 of {spec.name} was computed with another search ({_text(stage1.search)}) "
                                 f"than the current config's ({search.text()}); rerun stage 1")
        else:
            params = parameter_grid(spec, config, search.trials)
            if [json.dumps(p, sort_keys=True) for p in params] != [json.dumps(p, sort_keys=True) for p in stage1.params]:
                raise ValueError(f"stage 1 of {spec.name} was computed for another grid than the current config's; "
                                 "rerun stage 1")
        timings["prepare"] = time.perf_counter() - t0
        return finish(view, plan, stage1, spec, config, runner, timings)
    finally:
        if own:
            runner.close()


def save_stage1(stage1: Stage1Result, folder: Path) -> Path:
    """Write stage 1 into ``folder`` atomically (a temporary sibling renamed into place)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        stage1.scores.write_parquet(tmp / "scores.parquet")
        stage1.rankings.write_parquet(tmp / "rankings.parquet")
        pruned = stage1.pruned if stage1.pruned is not None else np.zeros(stage1.n_sets, dtype=bool)
        batch = stage1.trace.batch if stage1.trace is not None else np.zeros(stage1.n_sets, dtype=np.int64)
        np.savez(tmp / "arrays.npz", objective=stage1.objective, order=stage1.order,
                 trial_sharpes=stage1.trial_sharpes, pruned=pruned, batch=batch)
        trace = stage1.trace.as_dict() if stage1.trace is not None else None
        if trace is not None:
            trace.pop("settings")
        (tmp / "stage1.json").write_text(json.dumps(
            {"version": STAGE1_VERSION, "backend": stage1.backend, "params": stage1.params,
             "search": stage1.search.as_dict() if stage1.search is not None else None, "trace": trace},
            default=_plain))
        old = folder.with_name(f".{folder.name}.old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_stage1(folder: Path) -> Stage1Result:
    folder = Path(folder)
    try:
        meta = json.loads((folder / "stage1.json").read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: no stage-1 result here (materialize prefilter_rankings first)") from None
    if meta.get("version") != STAGE1_VERSION:
        raise ValueError(f"{folder}: stage-1 format version {meta.get('version')} is not {STAGE1_VERSION}; rerun stage 1")
    arrays = np.load(folder / "arrays.npz")
    search = SearchSettings(**meta["search"]) if meta.get("search") else None
    trace = None
    if meta.get("trace") and search is not None:
        trace = SearchTrace(settings=search, batch=arrays["batch"], **meta["trace"])
    return Stage1Result(
        params=meta["params"], scores=pl.read_parquet(folder / "scores.parquet"),
        rankings=pl.read_parquet(folder / "rankings.parquet"), objective=arrays["objective"],
        order=arrays["order"], trial_sharpes=arrays["trial_sharpes"], backend=meta["backend"],
        pruned=arrays["pruned"], search=search, trace=trace,
    )


def _text(search: SearchSettings | None) -> str:
    return search.text() if search is not None else "a grid"


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


RESULT_VERSION = 1


def save_result(result: Any, folder: Path) -> Path:
    """Keep a whole OptimizeResult for the report (a pickle: written and read only by this code).

    The tables a person queries go to DuckDB; this file only lets a later run rebuild the report
    with its plots without replaying anything.
    """
    import pickle

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "result.pkl"
    tmp = folder / ".result.pkl.tmp"
    with open(tmp, "wb") as f:
        pickle.dump({"version": RESULT_VERSION, "result": result}, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out)
    return out


def load_result(folder: Path) -> Any:
    import pickle

    path = Path(folder) / "result.pkl"
    try:
        with open(path, "rb") as f:
            blob = pickle.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no optimization result (materialize replay_results first)") from None
    if not isinstance(blob, dict) or blob.get("version") != RESULT_VERSION:
        raise ValueError(f"{path}: result format is not version {RESULT_VERSION}; rerun replay_results")
    return blob["result"]


def stage1_heatmap_png(stage1: Stage1Result, dataset: Any, strategy: Any, path: Path) -> Path | None:
    """The report's parameter heatmap for stage 1 alone (other parameters fixed at the stage-1 best)."""
    from types import SimpleNamespace

    from lq_engine.optimize.inputs import is_synthetic
    from lq_engine.optimize.report import heatmap_png

    best = stage1.params[int(stage1.order[0])]
    spec = resolve(strategy)
    stand_in = SimpleNamespace(strategy=spec.name, param_names=spec.param_names, stage1=stage1,
                               winner=SimpleNamespace(params=best),
                               dataset=dataset.name, synthetic=is_synthetic(dataset))
    return heatmap_png(stand_in, path)
