"""Runs launched in this process against the real instance (the CLI's path to the same jobs).

The UI, the daemon and these functions share one instance (``DAGSTER_HOME``), so everything
materialized here shows in the UI afterwards with its metadata.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from lq_assets.definitions import defs
from lq_assets.partitions import SYMBOLS, file_range_plan
from lq_assets.runs import own_tags, reap_dead_runs
from lq_engine.data.ingest import scan_file
from lq_engine.errors import RunFailedError

# Runs launched from the CLI log step failures and our own messages, not Dagster's event stream
# (the CLI sets CRITICAL unless -v: a failure is reported once, as one line; the event log keeps it all).
LOG_LEVEL = os.environ.get("LQ_RUN_LOG_LEVEL", "WARNING")


_reaped: set[int] = set()


def _reap_once(instance: dg.DagsterInstance) -> None:
    """Before the first run this process launches: runs left behind by killed `lq` processes fail."""
    if id(instance) in _reaped:
        return
    _reaped.add(id(instance))
    for line in reap_dead_runs(instance):
        print(f"[lq] {line}", flush=True)


def _run(job_name: str, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
    _reap_once(instance)
    job = defs.resolve_job_def(job_name)
    kwargs["tags"] = {**kwargs.get("tags", {}), **own_tags()}
    run_config = {**kwargs.pop("run_config", {}), "loggers": {"console": {"config": {"log_level": LOG_LEVEL}}}}
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config, **kwargs)
    if not result.success:
        errors = [
            _root_message(e.event_specific_data.error)  # type: ignore[union-attr]
            for e in result.all_events
            if e.is_step_failure and getattr(e.event_specific_data, "error", None)
        ]
        raise RunFailedError(f"run {result.run_id[:8]} of {job_name} failed: " + ("; ".join(errors) or "see the run log"))
    return result


def _root_message(error) -> str:
    """The user's exception message under Dagster's step-error wrappers."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()


def ingest_in_dagster(instance: dg.DagsterInstance, files: Iterable[Path]) -> list[dg.ExecuteInProcessResult]:
    """One market_bars run per file over the partitions it touches (as the landing sensor does)."""
    results = []
    for f in files:
        scan = scan_file(f)
        known = list(instance.get_dynamic_partitions(SYMBOLS.name))
        new, tags = file_range_plan(known, list(scan.symbols), list(scan.months))
        if new:
            instance.add_dynamic_partitions(SYMBOLS.name, new)
        results.append(
            _run(
                "ingest_market_bars",
                instance,
                run_config={"ops": {"market_bars": {"config": {"files": [str(f)]}}}},
                tags={**tags, "lq/landing_file": f.name, "lq/launched_by": "lq-cli"},
            )
        )
    return results


def freeze_in_dagster(instance: dg.DagsterInstance, universes: Iterable[str]) -> list[dg.ExecuteInProcessResult]:
    return [_run("freeze_datasets", instance, partition_key=u, tags={"lq/launched_by": "lq-cli"}) for u in universes]



def benchmark_in_dagster(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return _run("benchmark_backends", instance, tags={"lq/launched_by": "lq-cli"})


def optimize_in_dagster(instance: dg.DagsterInstance, dataset: str, strategies: Iterable[str],
                        settings: dict | None = None, progress=None) -> list[dg.ExecuteInProcessResult]:
    """Stage 1 and stage 2 of each (dataset, strategy) partition, then the report. ``progress``: a
    ``Stages`` of the CLI (a timed stage per strategy and one for the report), or None."""
    import contextlib
    from lq_assets.partitions import optimize_key, register_strategies

    from lq_assets.datasets.lookup import _latest

    register_strategies(instance)
    # one dataset hash for every strategy of this call, even if an ingest re-freezes meanwhile
    pinned = str(_latest(instance, dataset)["content_hash"].value)
    op_config = {"config": {**(settings or {}), "dataset_hash": pinned}}
    strategies = list(strategies)

    def stage(name: str, detail: str = ""):
        return progress(name, detail) if progress is not None else contextlib.nullcontext()

    results = []
    for i, s in enumerate(strategies, 1):
        with stage(f"  {s}", f"stage 1 + stage 2 ({i}/{len(strategies)})"):
            results.append(_run("optimize", instance, partition_key=str(optimize_key(dataset, s)),
                                run_config={"ops": {"prefilter_rankings": op_config, "replay_results": op_config}},
                                tags={"lq/launched_by": "lq-cli"}))
    with stage("  optimization_report", "the HTML report and the leaderboard"):
        results.append(_run("build_report", instance, tags={"lq/launched_by": "lq-cli"}))
    return results
