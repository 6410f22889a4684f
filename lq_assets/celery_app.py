"""The Celery app of ``lq worker`` (``celery -A lq_assets.celery_app``): dagster-celery's step task,
with the broker, result backend and settings of the distributed profile read from the environment
(``lq_assets.profile``), so no URL is written to a config file.

Two guards for a broker outage (issue 20 #14):

- kombu's Redis channel, closed after Celery 5.7 has already collected the lost connection, tries to
  put its unacknowledged messages back through that connection and raises AttributeError, which
  killed the worker and the step it was running instead of reconnecting. It now raises the
  connection error that the close expects; the messages stay unacknowledged in Redis.
- Such a message comes back after the visibility timeout although its step finished (its
  acknowledgement was lost with the connection). A step whose run has already ended is not run
  again: it would only repeat finished work in a closed run's event log.
"""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from lq_assets.profile import CELERY_CONFIG_SOURCE, backend_url, broker_url


def _tolerate_collected_connection() -> None:
    import redis
    from kombu.transport import redis as kombu_redis

    if getattr(kombu_redis.Channel._connparams, "_lq_guard", False):
        return
    original = kombu_redis.Channel._connparams

    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport is None or getattr(transport, "client", None) is None:
            raise redis.exceptions.ConnectionError("the broker connection was already closed")
        return original(self, asynchronous)

    _connparams._lq_guard = True
    kombu_redis.Channel._connparams = _connparams


_tolerate_collected_connection()

app = make_app({"broker": broker_url(), "backend": backend_url(), "config_source": CELERY_CONFIG_SOURCE})


def _run_finished(run_id: str, instance_ref) -> bool:
    """Whether the run ``run_id`` has ended (False when it cannot be told)."""
    try:
        from dagster import DagsterInstance

        with DagsterInstance.from_ref(instance_ref) as instance:
            run = instance.get_run_by_id(run_id)
        return run is not None and run.is_finished
    except Exception:  # let the task itself report whatever is wrong
        return False


def _step_run(packed) -> tuple[str, object] | None:
    """(run id, instance ref) of a step task's packed ExecuteStepArgs, None if unreadable."""
    try:
        from dagster._grpc.types import ExecuteStepArgs
        from dagster._serdes import unpack_value

        args = unpack_value(packed, as_type=ExecuteStepArgs)
        return args.run_id, args.instance_ref
    except Exception:
        return None


class _StepTask(app.Task):
    def __call__(self, *args, **kwargs):
        run = _step_run(kwargs.get("execute_step_args_packed", args[0] if args else None))
        if run is not None and _run_finished(*run):
            return []  # no events: nobody waits for them
        return super().__call__(*args, **kwargs)


execute_plan = create_task(app, base=_StepTask)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
