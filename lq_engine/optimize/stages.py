"""The optimizer as two separately runnable stages, with stage 1 persisted in between.

The Dagster assets ``prefilter_rankings`` and ``replay_results`` run the stages in different runs,
possibly on different machines (stage 2 re-runs when only its settings change), so stage 1's
result and the final result are written to the lake as JSON + Parquet + .npy (``data.objects``,
never pickle) and read back. Stage 1 carries its contract (dataset hash, strategy version, grid):
stage 2 refuses a stage 1 that does not match what it is given (``StageContractError``).
``run.optimize`` is ``run_stage2(run_stage1(...))``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from lq_engine.data.objects import load_meta, load_object, save_object
from lq_engine.data.store import Location, as_location
from lq_engine.errors import InputError, LQError
from lq_engine.optimize.config import OptimizeConfig
from lq_engine.optimize.inputs import is_synthetic
from lq_engine.optimize.pool import TaskRunner
from lq_engine.optimize.prefilter import parameter_grid, Stage1Result
from lq_engine.optimize.report import heatmap_png
from lq_engine.optimize.run import finish, prepare, stage1_of
from lq_engine.optimize.search import SearchSettings
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.spec import StrategySpec

STAGE1_VERSION = 4  # 2: pruned flags, search settings and trace; 3: stored by data.objects, with its contract
# 4: per-group return sums for PBO over every trial (kernels.groups)


class StageContractError(LQError, ValueError):
    """Stage 2 given a stage 1 of other data, another grid or another version of the strategy."""


def check_stage1(stage1: Stage1Result, dataset_hash: str, strategy: StrategySpec | str,
                 params: list[dict] | None = None) -> None:
    """Stage 1 scored this dataset, this strategy version and (if given) this grid, or a clear error."""
    name = getattr(strategy, "name", strategy)
    if stage1.dataset_hash and stage1.dataset_hash != dataset_hash:
        raise StageContractError(f"stage 1 of {name} was computed on dataset hash {stage1.dataset_hash[:16]}, "
                                 f"stage 2 was given {dataset_hash[:16]}: rerun stage 1 (prefilter_rankings)")
    if params is not None and [json.dumps(p, sort_keys=True) for p in params] != \
            [json.dumps(p, sort_keys=True) for p in stage1.params]:
        raise StageContractError(f"stage 1 of {name} was computed for another grid than the current config's; "
                                 "rerun stage 1")
    version = getattr(strategy, "version", "")
    if stage1.strategy_version and version and stage1.strategy_version != version:
        raise StageContractError(f"stage 1 of {name} was computed for strategy version {stage1.strategy_version}, "
                                 f"now {version} (the strategy's source or grid changed): rerun stage 1")


def run_stage1(dataset: Any, strategy: StrategySpec | str, config: OptimizeConfig = OptimizeConfig(),
               runner: TaskRunner | None = None) -> Stage1Result:
    """Score the grid (or its seeded sample), or run the configured sampler, on every training window."""
    own = runner is None
    runner = runner or TaskRunner(config.workers)
    try:
        spec = resolve(strategy)
        view, plan, search, backend, _ = prepare(dataset, spec, config)
        return stage1_of(view, plan, search, backend, spec, config, runner)
    finally:
        if own:
            runner.close()


def run_stage2(dataset: Any, strategy: StrategySpec | str, stage1: Stage1Result,
               config: OptimizeConfig = OptimizeConfig(), runner: TaskRunner | None = None):
    """Replay the top k, pick the winner, audit stage 1, score the winner once on the holdout."""
    own = runner is None
    runner = runner or TaskRunner(config.workers)
    try:
        t0 = time.perf_counter()
        spec = resolve(strategy)
        view, plan, search, _, timings = prepare(dataset, spec, config)
        if search.sampler or (stage1.search is not None and stage1.search.sampler):
            if stage1.search != search:
                raise StageContractError(f"stage 1 of {spec.name} was computed with another search "
                                         f"({_text(stage1.search)}) than the current config's ({search.text()}); "
                                         "rerun stage 1")
            check_stage1(stage1, view.content_hash, spec)
        else:
            check_stage1(stage1, view.content_hash, spec, parameter_grid(spec, config, search.trials))
        timings["prepare"] = time.perf_counter() - t0
        return finish(view, plan, stage1, spec, config, runner, timings)
    finally:
        if own:
            runner.close()


def save_stage1(stage1: Stage1Result, where: Location | Path) -> Location | Path:
    """Write stage 1 to ``where`` (a lake Location or a local folder), its contract in the pointer."""
    save_object(stage1, where, meta={"version": STAGE1_VERSION, "dataset_hash": stage1.dataset_hash,
                                     "strategy_version": stage1.strategy_version, "backend": stage1.backend})
    return where


def stage1_contract(where: Location | Path) -> dict:
    """The saved stage 1's dataset hash, strategy version and backend, without loading it."""
    return load_meta(where)


def load_stage1(where: Location | Path) -> Stage1Result:
    loc = as_location(where)
    try:
        meta = load_meta(loc)
    except FileNotFoundError:
        raise FileNotFoundError(f"{loc}: no stage-1 result here (materialize prefilter_rankings first)") from None
    if meta.get("version") != STAGE1_VERSION:
        raise StageContractError(f"{loc}: stage-1 format version {meta.get('version')} is not {STAGE1_VERSION}; "
                                 "rerun stage 1")
    s1 = load_object(loc)
    if not isinstance(s1, Stage1Result):
        raise StageContractError(f"{loc}: holds a {type(s1).__name__}, not a stage-1 result")
    return s1


def _text(search: SearchSettings | None) -> str:
    return search.text() if search is not None else "a grid"


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


RESULT_VERSION = 2
RESULT_DIR = "result"


def save_result(result: Any, where: Location | Path) -> Location | Path:
    """Keep a whole OptimizeResult for the report (JSON + Parquet + .npy, see ``data.objects``).

    The tables a person queries go to the lake's result tables; this object lets a later run
    rebuild the report with its plots without replaying anything. Returns where it went.
    """
    loc = as_location(where) / RESULT_DIR
    save_object(result, loc, meta={"version": RESULT_VERSION, "dataset_hash": result.dataset_hash,
                                   "strategy": result.strategy})
    return loc if isinstance(where, Location) else Path(where) / RESULT_DIR


def load_result(where: Location | Path) -> Any:
    """The OptimizeResult saved under ``where`` (the folder given to ``save_result``, or its result/)."""
    loc = as_location(where)
    if loc.name != RESULT_DIR:
        loc = loc / RESULT_DIR
    try:
        meta = load_meta(loc)
    except FileNotFoundError:
        raise FileNotFoundError(f"{loc}: no optimization result (materialize replay_results first)") from None
    if meta.get("version") != RESULT_VERSION:
        raise InputError(f"{loc}: result format is not version {RESULT_VERSION}; rerun replay_results")
    return load_object(loc)


def stage1_heatmap_png(stage1: Stage1Result, dataset: Any, strategy: StrategySpec | str, path: Path) -> Path | None:
    """The report's parameter heatmap for stage 1 alone (other parameters fixed at the stage-1 best)."""

    best = stage1.params[int(stage1.order[0])]
    spec = resolve(strategy)
    stand_in = SimpleNamespace(strategy=spec.name, param_names=spec.param_names, stage1=stage1,
                               winner=SimpleNamespace(params=best),
                               dataset=dataset.name, synthetic=is_synthetic(dataset))
    return heatmap_png(stand_in, path)
