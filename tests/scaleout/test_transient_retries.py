"""Step retries on transient faults only (lq_assets.retries, issue 20 #14): a step that fails because
the lake or the broker is out of reach runs again with the policy's backoff; a step that fails for
any other reason (a strategy's or the data's error) fails at once, with its own exception."""

import dagster as dg
import pytest

import lq_assets.retries as retries
from lq_assets.profile import CELERY_CONFIG_SOURCE
from lq_assets.retries import is_transient, transient_retries
from lq_engine.data.store import StoreError
from lq_engine.errors import LQError

UNREACHABLE = ("s3://lq-lake/lake/results/x/data.parquet: write of 10 bytes failed (When uploading: AWS Error "
               "NETWORK_CONNECTION during PutObject operation: curlCode: 7, Couldn't connect to server)")


@pytest.fixture(autouse=True)
def quick_policy(monkeypatch):
    monkeypatch.setattr(retries, "TRANSIENT_RETRY", dg.RetryPolicy(max_retries=3, delay=0.01,
                                                                   backoff=dg.Backoff.EXPONENTIAL))


def _run(fn, generator: bool = False):
    calls = []

    if generator:
        @dg.asset(name="a")
        @transient_retries
        def a(context: dg.AssetExecutionContext):
            calls.append(context.retry_number)
            fn(len(calls))
            yield dg.MaterializeResult(metadata={"calls": len(calls)})
    else:
        @dg.asset(name="a")
        @transient_retries
        def a(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            calls.append(context.retry_number)
            fn(len(calls))
            return dg.MaterializeResult(metadata={"calls": len(calls)})

    result = dg.materialize([a], raise_on_error=False)
    return result, calls


@pytest.mark.parametrize("generator", [False, True])
def test_a_transient_store_error_is_retried_until_it_clears(generator):
    def flaky(n):
        if n <= 2:
            raise StoreError(UNREACHABLE)

    result, calls = _run(flaky, generator)
    assert result.success
    assert calls == [0, 1, 2]  # two retries, then success
    retried = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retried) == 2


@pytest.mark.parametrize("error", [LQError("strategy bug: decide returned nonsense"),
                                   StoreError("s3://b/k: unreadable Parquet (bad magic bytes)"),
                                   StoreError("s3://b/k: write failed (INTERNAL_FAILURE); it accepts no writes at all"),
                                   ValueError("data error")])
def test_other_failures_fail_at_once_with_their_own_error(error):
    def broken(n):
        raise error

    result, calls = _run(broken)
    assert not result.success
    assert calls == [0]  # no retry
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    err = failure.step_failure_data.error
    while err.cause is not None:
        err = err.cause
    assert err.cls_name == type(error).__name__ and str(error) in err.message


def test_an_outage_longer_than_the_policy_fails_the_step_naming_the_cause():
    def down(n):
        raise StoreError(UNREACHABLE)

    result, calls = _run(down)
    assert not result.success
    assert calls == [0, 1, 2, 3]  # max_retries=3
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    err = failure.step_failure_data.error
    while err.cause is not None:
        err = err.cause
    assert "Couldn't connect to server" in err.message


def test_transient_classes():
    import redis

    assert is_transient(StoreError(UNREACHABLE))
    assert is_transient(ConnectionRefusedError(111, "Connection refused"))
    assert is_transient(redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379."))
    try:
        try:
            raise redis.exceptions.ConnectionError("lost")
        except redis.exceptions.ConnectionError as e:
            raise RuntimeError("wrapped") from e
    except RuntimeError as e:
        assert is_transient(e)  # a cause in the chain counts
    assert not is_transient(StoreError("s3://b/k: no such object"))
    assert not is_transient(LQError("bad data"))
    assert not is_transient(KeyError("x"))


def test_celery_rides_out_a_broker_outage():
    """The Celery settings retry publishing, result reads and writes, and reconnection, for about
    BROKER_OUTAGE_S; a worker hands back a step it dies in."""
    c = CELERY_CONFIG_SOURCE
    assert c["task_acks_late"] and c["task_reject_on_worker_lost"]
    assert c["broker_connection_retry"] and c["broker_connection_max_retries"] >= 100
    assert c["task_publish_retry"] and c["task_publish_retry_policy"]["max_retries"] >= 20
    assert c["result_backend_always_retry"] and c["result_backend_max_retries"] >= 20


def test_lq_backfill_counts_a_failed_run_by_its_retry():
    """A run that failed and was run again by the instance's run retries is judged by its retry."""
    from types import SimpleNamespace

    from lq_assets.cli.backfill import retried_runs

    failed = SimpleNamespace(run_id="a" * 36, tags={"dagster/auto_retry_run_id": "b" * 36})
    retry = SimpleNamespace(run_id="b" * 36, tags={"dagster/retry_number": "1"})
    other = SimpleNamespace(run_id="c" * 36, tags={"dagster/auto_retry_run_id": "d" * 36})  # retry not in the backfill
    assert retried_runs([failed, retry, other]) == {"a" * 36}
    assert retried_runs([failed]) == set()


def test_a_redelivered_step_of_a_finished_run_is_not_run_again(monkeypatch, tmp_path):
    """A step whose acknowledgement was lost with the broker connection comes back after the
    visibility timeout; if its run has ended, the worker's task returns no events instead of
    running the step again (lq_assets.celery_app)."""
    import importlib

    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
    from dagster._core.test_utils import instance_for_test

    monkeypatch.setenv("LQ_CELERY_BROKER", "memory://")
    monkeypatch.setenv("LQ_CELERY_BACKEND", "cache+memory://")
    celery_app = importlib.import_module("lq_assets.celery_app")

    @dg.asset
    def a() -> None:
        return None

    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        finished = dg.materialize([a], instance=instance).run_id
        running = "f" * 8 + "-0000-0000-0000-" + "0" * 12
        instance.add_run(DagsterRun(job_name="j", run_id=running, status=DagsterRunStatus.STARTED))
        ref = instance.get_ref()
        assert celery_app._run_finished(finished, ref)
        assert not celery_app._run_finished(running, ref)

        calls = []
        monkeypatch.setattr(celery_app.app.Task, "__call__", lambda self, *a, **k: calls.append(1) or ["ran"])
        for run_id, expected in ((finished, []), (running, ["ran"])):
            monkeypatch.setattr(celery_app, "_step_run", lambda packed, run_id=run_id: (run_id, ref))
            assert celery_app.execute_plan(execute_step_args_packed={}, executable_dict={}) == expected
        assert calls == [1]  # only the running run's step ran
