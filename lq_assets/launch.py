"""Runs launched in this process against the real instance (the CLI's path to the same jobs).

The UI, the daemon and these functions share one instance (``DAGSTER_HOME``), so everything
materialized here shows in the UI afterwards with its metadata.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import dagster as dg

from lq_assets.definitions import defs
from lq_assets.partitions import SYMBOLS, file_range_plan
from lq_assets.runs import own_tags, reap_dead_runs
from lq_assets.sqlite_speed import fast_sqlite_writes
from lq_engine.data.ingest import scan_file
from lq_engine.errors import LQError, RunFailedError

# Runs launched from the CLI log step failures and our own messages, not Dagster's event stream
# (the CLI sets CRITICAL unless -v: a failure is reported once, as one line; the event log keeps it all).
LOG_LEVEL = os.environ.get("LQ_RUN_LOG_LEVEL", "WARNING")
log = logging.getLogger("lq.launch")

# The runs of this process (and of the optimize worker, which imports this module) store their
# events in the local SQLite event log without an fsync and a checkpoint per event (issue 21 #7).
fast_sqlite_writes()


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
            step_reason(e.event_specific_data.error)  # type: ignore[union-attr]
            for e in result.all_events
            if e.is_step_failure and getattr(e.event_specific_data, "error", None)
        ]
        why = "; ".join(errors) or "see the run log"
        raise RunFailedError(f"run {result.run_id[:8]} of {job_name} failed: {why}")
    return result


def _root_message(error) -> str:
    """The message of the exception the step raised, under Dagster's step-error wrappers. Not the
    innermost cause: an ``LQError`` that says where a strategy failed (file, line, bar, parameters)
    chains the bare exception it explains ("ValueError: The truth value of an array ..."), and a
    worker process's error chains its remote traceback."""
    import re

    def dagster_own(e) -> bool:  # a wrapper (DagsterExecutionStepExecutionError, RetryRequested, ...)
        return str(getattr(e, "cls_name", "")).startswith("Dagster") or e.message.startswith("dagster.")

    while getattr(error, "cause", None) is not None and dagster_own(error):
        error = error.cause
    return re.sub(r"^lq_(engine|assets)(\.\w+)+: ", "", error.message.strip())  # ours say what they are


def step_reason(error) -> str:
    """``_root_message`` on one line (a leaderboard cell, the CLI's error line): "; " between lines
    (a strategy error's second line quotes the raising statement)."""
    return "; ".join(ln.strip() for ln in _root_message(error).splitlines() if ln.strip())


def ingest_in_dagster(
    instance: dg.DagsterInstance, files: Iterable[Path], symbol: str | None = None
) -> list[dg.ExecuteInProcessResult]:
    """One market_bars run per file over the partitions it touches (as the landing sensor does).
    ``symbol``: the symbol of single-symbol files whose name does not say it (``lq ingest --symbol``)."""
    results = []
    config: dict = {"symbol": symbol} if symbol else {}
    for f in files:
        scan = scan_file(f, symbol=symbol)
        known = list(instance.get_dynamic_partitions(SYMBOLS.name))
        new, tags = file_range_plan(known, list(scan.symbols), list(scan.months))
        if new:
            instance.add_dynamic_partitions(SYMBOLS.name, new)
        results.append(
            _run(
                "ingest_market_bars",
                instance,
                run_config={"ops": {"market_bars": {"config": {"files": [str(f)], **config}}}},
                tags={**tags, "lq/landing_file": f.name, "lq/launched_by": "lq-cli"},
            )
        )
    return results


def freeze_in_dagster(instance: dg.DagsterInstance, universes: Iterable[str]) -> list[dg.ExecuteInProcessResult]:
    return [_run("freeze_datasets", instance, partition_key=u, tags={"lq/launched_by": "lq-cli"}) for u in universes]



def benchmark_in_dagster(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return _run("benchmark_backends", instance, tags={"lq/launched_by": "lq-cli"})


class StoppedRun:
    """What the CLI reads of an optimize run that ran in the worker process (the run's
    materializations, from the instance's event log), in place of an ExecuteInProcessResult."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str):
        self.instance, self.run_id, self.success = instance, run_id, True

    def asset_materializations_for_node(self, node: str) -> list:
        recs = self.instance.get_records_for_run(self.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        return [r.event_log_entry.dagster_event.step_materialization_data.materialization for r in recs
                if r.event_log_entry.dagster_event.step_key == node]


HARD_LIMIT_GRACE_S = 60.0


def hard_limit(timeout: float | None) -> float | None:
    """Seconds a strategy's optimize run (lookahead gate, search, replays) may take when the search
    has ``timeout``: the sampler checks its timeout between batches only, so strategy code that never
    returns is stopped here (2 x timeout + 60 s). None: no limit (Ctrl-C and SIGTERM still stop it)."""
    return None if timeout is None else 2 * float(timeout) + HARD_LIMIT_GRACE_S


def _run_in_worker(job_name: str, kwargs: dict, page: tuple[str, str] | None = None) -> str:
    with dg.DagsterInstance.get() as instance:
        run_id = _run(job_name, instance, **kwargs).run_id
    if page is not None:
        write_report_page(*page)
    return run_id


def write_report_page(dataset: str, strategy: str) -> None:
    """The report page of an optimized (dataset, strategy), written as its run ends
    (``report.write_page``): `lq demo`'s two workers draw the pages while the strategies run, and the
    report run keeps each page whose inputs are still the same (``page_key``), so the pages are not
    drawn one after the other at the end. An error is left for the report run, which draws the page again."""
    from lq_assets.optimize.settings import stage_dir
    from lq_assets.resources import LakeResource
    from lq_engine.optimize import load_result
    from lq_engine.optimize.report import write_page

    try:
        paths = LakeResource().paths()
        write_page(load_result(stage_dir(paths, dataset, strategy)), paths.report)
    except Exception:  # noqa: BLE001  the report run builds (and reports) it
        log.debug("report page of %s/%s not written ahead", dataset, strategy, exc_info=True)


def prewarm(dataset: str, content_hash: str, strategy: str) -> float:
    """Run the optimization of ``strategy`` once on the frozen dataset with the numba backend and drop
    its result: it compiles (and caches on disk) numba's kernels for the array types the optimize runs
    pass, the lookahead gate's, the sweep's, the replays' and the metrics', shared by every strategy
    (on a cold cache about 40 s of the first strategy's optimization in `lq demo`). Nothing is written
    to the lake; an error is left for the run itself to report. Returns the seconds it took."""
    import time

    from lq_assets.optimize.settings import OptimizeSettings
    from lq_assets.resources import LakeResource, ProjectConfigResource
    from lq_engine.data.frozen import open_frozen
    from lq_engine.optimize import optimize

    t0 = time.perf_counter()
    try:
        ds = open_frozen(LakeResource().paths(), dataset, content_hash)
        optimize(ds, strategy, OptimizeSettings().resolve(ProjectConfigResource().load().optimize, "numba"))
    except Exception:  # noqa: BLE001  the optimize run of this strategy reports it, with its place
        log.debug("prewarm of %s failed; its optimize run will say why", strategy, exc_info=True)
    return time.perf_counter() - t0


def warm_imports() -> float:
    """What a worker's first task pays anyway, done ahead: unpickling this function imported this
    module (Dagster, the definitions, the engine); the optimizer's and the report's modules too.
    Compiles nothing. Returns the seconds it took in the task."""
    import time

    t0 = time.perf_counter()
    import lq_engine.optimize  # noqa: F401
    import lq_engine.optimize.report  # noqa: F401

    return time.perf_counter() - t0


class RunWorker:
    """One spawned process that runs this command's optimize runs, one at a time: compiled strategy
    code (numba) cannot be interrupted in the process running it, so that process is killed on
    Ctrl-C, SIGTERM or the hard limit, with every process it started, and its run is marked
    failed (issue 20 #9). Spawned once per command: its start (imports) is paid once."""

    def __init__(self):
        self._pool = None

    def _ensure_pool(self):
        import concurrent.futures as cf
        import multiprocessing as mp

        if self._pool is None:
            from logging.handlers import RotatingFileHandler

            from lq_assets.cli.children import worker_init

            log_file = next((h.baseFilename for h in logging.getLogger().handlers
                             if isinstance(h, RotatingFileHandler) and getattr(h, "_lq", False)), None)
            verbose = os.environ.get("LQ_RUN_LOG_LEVEL") == "INFO"
            self._pool = cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=worker_init,
                                                initargs=(os.getpid(), verbose, log_file))
        return self._pool

    def start(self):
        """Spawn the worker now and let it import what its runs need (``warm_imports``) while this
        process goes on (the demo's ingest): its first task finds the imports done. Returns the future."""
        return self._ensure_pool().submit(warm_imports)

    def prewarm(self, dataset: str, content_hash: str, strategy: str):
        """Start the worker now and let it compile what an optimization compiles (``prewarm``), while
        this process goes on (the demo's backend_benchmark): the two use the two cores, and the first
        optimize run finds numba's kernels compiled. A run submitted later waits for it (one worker).
        Returns its future."""
        return self._ensure_pool().submit(prewarm, dataset, content_hash, strategy)

    def run(self, instance: dg.DagsterInstance, job_name: str, limit_s: float | None, what: str,
            page: tuple[str, str] | None = None, **kwargs):
        """``job_name``'s run in the worker (``kwargs``: ``_run``'s); ``page``: (dataset, strategy) of an
        optimize run whose report page the worker then writes (``write_report_page``)."""
        import concurrent.futures as cf
        import time

        future = self._ensure_pool().submit(_run_in_worker, job_name, kwargs, page)
        start = time.monotonic()
        try:
            while True:
                try:
                    run_id = future.result(timeout=0.5)
                    return StoppedRun(instance, run_id)
                except cf.TimeoutError:
                    if limit_s is not None and time.monotonic() - start > limit_s:
                        self.kill(instance, f"stopped after {limit_s:g} s, the hard limit of --timeout")
                        raise RunFailedError(
                            f"{what} ran past {limit_s:g} s (2 x --timeout + {HARD_LIMIT_GRACE_S:g} s) and was "
                            "stopped: does the strategy's code return (a loop that never ends)?") from None
        except BaseException as e:  # Ctrl-C, SIGTERM (KeyboardInterrupt) or an error
            if not isinstance(e, (RunFailedError, cf.process.BrokenProcessPool)):
                self.kill(instance, "interrupted (Ctrl-C or SIGTERM of lq)")
            raise

    def kill(self, instance: dg.DagsterInstance, why: str) -> None:
        """Kill the worker and what it started; its run (tagged with its pid) is marked failed."""
        import signal

        from lq_assets.cli.backfill import descendants
        from lq_assets.runs import PID_TAG

        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list(getattr(pool, "_processes", {}).values())
        for p in procs:
            for pid in [*descendants(p.pid), p.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for p in procs:
            p.join(10)
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            for rec in instance.get_run_records(filters=dg.RunsFilter(
                    statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
                    tags={PID_TAG: str(p.pid)})):
                instance.report_run_failed(rec.dagster_run, f"run {rec.dagster_run.run_id[:8]}: {why}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def optimize_in_dagster(instance: dg.DagsterInstance, dataset: str, strategies: Iterable[str],
                        settings: dict | None = None, progress=None,
                        on_failure: Callable[[str, Exception], None] | None = None,
                        worker: RunWorker | None = None, ahead: RunWorker | None = None
                        ) -> list[dg.ExecuteInProcessResult]:
    """Stage 1 and stage 2 of each (dataset, strategy) partition, then the report. ``progress``: a
    ``Stages`` of the CLI (a timed stage per strategy and one for the report), or None.

    ``on_failure``: None, the first failing strategy stops the call (its ``RunFailedError``);
    given, a strategy's failure (an ``LQError``: its code raised, its stage contract, the hard limit
    of ``timeout``; or its worker process died) is passed to it with the strategy's name and the next
    strategy runs (issue 20 #18). The report then covers the strategies that succeeded; returned:
    their runs (in the order of ``strategies``), then the report's, or [] when every strategy failed
    (no report). Ctrl-C and SIGTERM (KeyboardInterrupt) still stop everything.

    ``ahead``: a second worker that runs the strategies from the last one backwards (a thread of this
    process waits on it) while ``worker`` runs them from the first: each strategy's run (its numba
    compile on a cold cache included) happens once, on whichever worker gets to it first, and the two
    use the two cores (`lq demo`). Each run is the same run either way (same partition, config and
    dataset hash: the same results)."""
    import contextlib
    import threading
    from collections import deque

    from lq_assets.datasets.lookup import _latest
    from lq_assets.partitions import optimize_key, register_strategies

    register_strategies(instance)
    # one dataset hash for every strategy of this call, even if an ingest re-freezes meanwhile
    pinned = str(_latest(instance, dataset)["content_hash"].value)
    op_config = {"config": {**(settings or {}), "dataset_hash": pinned}}
    strategies = list(strategies)

    def stage(name: str, detail: str = ""):
        return progress(name, detail) if progress is not None else contextlib.nullcontext()

    limit = hard_limit((settings or {}).get("timeout"))
    worker = worker or RunWorker()  # the strategies' code runs in a process we can kill (Ctrl-C, SIGTERM, limit)
    todo = deque(enumerate(strategies, 1))
    done: dict[str, object] = {}
    lock = threading.Lock()
    stopped: list[BaseException] = []  # the first error that stops the call (no on_failure, or a bug)

    def drain(w: RunWorker, backwards: bool) -> None:
        """Run the strategies left, from the front (or the back), on ``w`` until none is left."""
        while True:
            with lock:
                if not todo or stopped:
                    return
                i, s = todo.pop() if backwards else todo.popleft()
            try:
                with stage(f"  {s}", f"stage 1 + stage 2 ({i}/{len(strategies)})"):
                    run = w.run(instance, "optimize", limit, f"the optimization of {s} on {dataset}",
                                page=(dataset, s) if helper is not None else None,
                                partition_key=str(optimize_key(dataset, s)),
                                run_config={"ops": {"prefilter_rankings": op_config, "replay_results": op_config}},
                                tags={"lq/launched_by": "lq-cli"})
                with lock:
                    done[s] = run
            except (LQError, BrokenProcessPool) as e:
                if on_failure is None or stopped:
                    raise
                if isinstance(e, BrokenProcessPool):  # the strategy's code killed its worker (a crash)
                    w.kill(instance, "its worker process died")
                    e = RunFailedError(f"the optimization of {s} on {dataset} died with its worker process "
                                       "(a crash in the strategy's code?)")
                with lock:
                    on_failure(s, e)

    def drain_ahead() -> None:
        try:
            drain(ahead, backwards=True)
        except BaseException as e:  # noqa: BLE001  raised by the calling thread, once both are done
            with lock:
                stopped.append(e)

    helper = None
    if ahead is not None and len(strategies) > 1:
        helper = threading.Thread(target=drain_ahead, name="lq-ahead-worker", daemon=True)
        helper.start()
    try:
        try:
            drain(worker, backwards=False)
        except BaseException as e:
            with lock:
                stopped.append(e)
            raise
        if helper is not None:
            while helper.is_alive():  # a timed join: Ctrl-C reaches this thread meanwhile
                helper.join(0.5)
        if stopped:
            raise stopped[0]
    finally:
        if helper is not None and helper.is_alive():  # this thread stopped (Ctrl-C, an error): so does ahead
            ahead.kill(instance, "interrupted (Ctrl-C or SIGTERM of lq, or another strategy's error)")
            helper.join(10)
        for w in (worker, ahead):
            if w is not None:
                w.close()
    results = [done[s] for s in strategies if s in done]
    if not results:  # every strategy failed: nothing for a report
        return results
    with stage("  optimization_report", "the HTML report and the leaderboard"):
        results.append(_run("build_report", instance, tags={"lq/launched_by": "lq-cli"}))
    return results
