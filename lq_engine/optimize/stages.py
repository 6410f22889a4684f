"""The optimizer as two separately runnable stages, with stage 1 persisted in between.

The Dagster assets ``prefilter_rankings`` and ``replay_results`` run the stages in different runs,
possibly on different machines (stage 2 re-runs when only its settings change), so stage 1's
result is written to the lake (Parquet + JSON + NPZ, no pickle: ``store.Location``, or a local
folder) and read back. ``run.optimize`` is ``run_stage2(run_stage1(...))``.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lq_engine.data.store import Location, as_location
from lq_engine.optimize.config import OptimizeConfig
from lq_engine.optimize.pool import TaskRunner
from lq_engine.optimize.prefilter import Stage1Result
from lq_engine.strategies.registry import resolve

STAGE1_VERSION = 1


def run_stage1(dataset: Any, strategy: Any, config: OptimizeConfig = OptimizeConfig(),
               runner: TaskRunner | None = None) -> Stage1Result:
    """Score the whole grid (or its seeded sample) on every training window of every fold."""
    from lq_engine.optimize.run import prepare, stage1_of

    own = runner is None
    runner = runner or TaskRunner(config.workers)
    try:
        spec = resolve(strategy)
        view, plan, params, backend, _ = prepare(dataset, spec, config)
        return stage1_of(view, plan, params, backend, spec, config, runner)
    finally:
        if own:
            runner.close()


def run_stage2(dataset: Any, strategy: Any, stage1: Stage1Result, config: OptimizeConfig = OptimizeConfig(),
               runner: TaskRunner | None = None):
    """Replay the top k, pick the winner, audit stage 1, score the winner once on the holdout."""
    from lq_engine.optimize.run import finish, prepare

    own = runner is None
    runner = runner or TaskRunner(config.workers)
    try:
        t0 = time.perf_counter()
        spec = resolve(strategy)
        view, plan, params, _, timings = prepare(dataset, spec, config)
        if [json.dumps(p, sort_keys=True) for p in params] != [json.dumps(p, sort_keys=True) for p in stage1.params]:
            raise ValueError(f"stage 1 of {spec.name} was computed for another grid than the current config's; "
                             "rerun stage 1")
        timings["prepare"] = time.perf_counter() - t0
        return finish(view, plan, stage1, spec, config, runner, timings)
    finally:
        if own:
            runner.close()


def save_stage1(stage1: Stage1Result, where: Location | Path) -> Location | Path:
    """Write stage 1 to ``where`` (a lake Location or a local folder).

    The objects go under a new generation (``<where>/<generation>/``) and ``stage1.json``, written
    last, names it: a reader sees the old stage 1 or the new one, never a mix. Older generations
    are deleted afterwards.
    """
    loc = as_location(where)
    store = loc.store
    old = _generation(loc)
    gen = uuid.uuid4().hex[:16]
    g = loc / gen
    store.write_parquet((g / "scores.parquet").key, stage1.scores)
    store.write_parquet((g / "rankings.parquet").key, stage1.rankings)
    buf = io.BytesIO()
    np.savez(buf, objective=stage1.objective, order=stage1.order, trial_sharpes=stage1.trial_sharpes)
    store.write_bytes((g / "arrays.npz").key, buf.getvalue())
    meta = {"version": STAGE1_VERSION, "generation": gen, "backend": stage1.backend, "params": stage1.params}
    store.write_bytes((loc / "stage1.json").key, json.dumps(meta, default=_plain).encode())
    if old and old != gen:
        store.delete_prefix((loc / old).key)
    return where


def _generation(loc: Location) -> str | None:
    try:
        return json.loads(loc.store.read_bytes((loc / "stage1.json").key)).get("generation")
    except (FileNotFoundError, ValueError):
        return None


def load_stage1(where: Location | Path) -> Stage1Result:
    loc = as_location(where)
    store = loc.store
    try:
        meta = json.loads(store.read_bytes((loc / "stage1.json").key))
    except FileNotFoundError:
        raise FileNotFoundError(f"{loc}: no stage-1 result here (materialize prefilter_rankings first)") from None
    if meta.get("version") != STAGE1_VERSION:
        raise ValueError(f"{loc}: stage-1 format version {meta.get('version')} is not {STAGE1_VERSION}; rerun stage 1")
    g = loc / meta["generation"]
    arrays = np.load(io.BytesIO(store.read_bytes((g / "arrays.npz").key)), allow_pickle=False)
    return Stage1Result(
        params=meta["params"], scores=store.read_parquet((g / "scores.parquet").key),
        rankings=store.read_parquet((g / "rankings.parquet").key), objective=arrays["objective"],
        order=arrays["order"], trial_sharpes=arrays["trial_sharpes"], backend=meta["backend"],
    )


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


RESULT_VERSION = 1


RESULT_FILE = "result.pkl"


def save_result(result: Any, where: Location | Path) -> Location | Path:
    """Keep a whole OptimizeResult for the report (a pickle: written and read only by this code).

    The tables a person queries go to the lake's result tables; this object only lets a later
    run rebuild the report with its plots without replaying anything. Returns the object written.
    """
    import pickle

    loc = as_location(where) / RESULT_FILE
    loc.store.write_bytes(loc.key, pickle.dumps({"version": RESULT_VERSION, "result": result},
                                                protocol=pickle.HIGHEST_PROTOCOL))
    return loc if isinstance(where, Location) else Path(where) / RESULT_FILE


def load_result(where: Location | Path) -> Any:
    import pickle

    loc = as_location(where) / RESULT_FILE
    try:
        blob = pickle.loads(loc.store.read_bytes(loc.key))
    except FileNotFoundError:
        raise FileNotFoundError(f"{loc}: no optimization result (materialize replay_results first)") from None
    if not isinstance(blob, dict) or blob.get("version") != RESULT_VERSION:
        raise ValueError(f"{loc}: result format is not version {RESULT_VERSION}; rerun replay_results")
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
