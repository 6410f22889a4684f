"""Issue 20 #14 (the CLI part): with Redis or SeaweedFS stopped mid-backfill every run failed and
`lq backfill` printed only `FAILURE`: the reason was only in the event log. Each failed run now gets
its reason, one line each, also when no step failed (a run failure or engine error of Dagster)."""

from __future__ import annotations

import uuid

import dagster as dg
from dagster._core.events import EngineEventData
from dagster._utils.error import SerializableErrorInfo

from lq_assets.cli.backfill import run_line


def _failed_run(instance, run_id: str):
    instance.add_run(dg.DagsterRun(job_name="market_bars_job", run_id=run_id, status=dg.DagsterRunStatus.STARTED,
                                   tags={"dagster/partition": "IBM|2013-11"}))
    return instance.get_run_by_id(run_id)


def test_a_run_failed_without_a_step_failure_names_its_reason(dagster_home):
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run = _failed_run(instance, str(uuid.uuid4()))
        err = SerializableErrorInfo("redis.exceptions.ConnectionError: Error 111 connecting to\n127.0.0.1:6379. "
                                    "Connection refused.\n", [], "ConnectionError")
        instance.report_engine_event("Caught an error while submitting steps to Celery", run,
                                     EngineEventData(error=err))
        instance.report_run_failed(run, "This run has been marked as failed from outside the execution context.")
        rec = instance.get_run_records(filters=dg.RunsFilter(run_ids=[run.run_id]))[0]
        lines = run_line(instance, rec)
    assert lines[0].startswith(f"run {run.run_id[:8]} FAILURE") and lines[0].endswith("IBM|2013-11")
    # before: lines == [lines[0]]
    assert lines[1:] == [
        "    engine: redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.",
        "    run failure: This run has been marked as failed from outside the execution context."]


def test_a_run_failed_with_nothing_logged_says_so(dagster_home):
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run = _failed_run(instance, str(uuid.uuid4()))
        instance.handle_run_event(run.run_id, dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_FAILURE.value, job_name=run.job_name, message=""))
        rec = instance.get_run_records(filters=dg.RunsFilter(run_ids=[run.run_id]))[0]
        assert run_line(instance, rec)[1:] == ["    no reason in the event log (see the run in `lq ui`)"]
