"""Deployment profiles: ``local`` (the default) or ``distributed``, chosen by ``$LQ_PROFILE``.

local        SQLite instance in ``dagster_home/``; runs execute their steps in subprocesses of the
             run (Dagster's multiprocess executor); the lake is ``data/lake``.
distributed  PostgreSQL instance storage (``$LQ_PG_URL``, instance in ``dagster_home/distributed/``),
             the queued run coordinator and the daemon; every job's steps go through Celery
             (``dagster-celery``'s ``celery_executor``, broker ``$LQ_CELERY_BROKER``, results
             ``$LQ_CELERY_BACKEND``) to any number of workers started by ``lq worker``; the lake
             is ``$LQ_LAKE_URI`` (``s3://bucket/prefix``, endpoint and keys from the AWS variables).

The same code runs in both: the executor and the instance are configuration. URLs are read from
the environment when used, so a password in one never lands in run config, metadata or a log;
error messages name the service and its host:port only.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from lq_engine.errors import LQError

PROFILES = ("local", "distributed")
# Celery settings of the workers and of the run workers that submit steps (both must agree on
# routing; the worker-side ones matter there). A step killed with its worker process is handed
# back to the broker (acks_late + reject_on_worker_lost) and runs again on a live worker.
#
# A broker (Redis) outage of up to BROKER_OUTAGE_S is ridden out rather than failing the runs in
# flight (issue 20 #14): the run worker retries publishing a step and reading its state, the Celery
# worker retries storing a step's result and reconnects to the broker, all with backoff. Longer, a
# run fails (its reason names the broker) and the instance's run retries (dagster.yaml) take over.
BROKER_OUTAGE_S = float(os.environ.get("LQ_BROKER_OUTAGE_S", "120"))
_PUBLISH_RETRY = {"interval_start": 0.5, "interval_step": 1.0, "interval_max": 5.0,
                  "max_retries": 5 + int(BROKER_OUTAGE_S / 5.0)}  # kombu: 0.5, 1.5 ... then 5 s apart
_BACKEND_MAX_SLEEP_MS = 4000  # Celery: full-jitter exponential backoff, 2 s a try on average once capped
CELERY_CONFIG_SOURCE = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry": True,
    "broker_connection_retry_on_startup": True,
    "broker_connection_max_retries": 1000,  # a worker waits for its broker (Celery's default gives up after 100)
    "task_publish_retry": True,
    "task_publish_retry_policy": _PUBLISH_RETRY,
    "result_backend_always_retry": True,
    "result_backend_max_retries": 10 + int(BROKER_OUTAGE_S * 1000 / _BACKEND_MAX_SLEEP_MS * 2),
    "result_backend_base_sleep_between_retries_ms": 200,
    "result_backend_max_sleep_between_retries_ms": _BACKEND_MAX_SLEEP_MS,
    # the result consumer's (re)subscription to a step's result (Redis pub/sub) retries as long
    "result_backend_transport_options": {"retry_policy": _PUBLISH_RETRY},
    "redis_retry_on_timeout": True,
    "broker_transport_options": {"visibility_timeout": int(os.environ.get("LQ_CELERY_VISIBILITY_TIMEOUT", "3600"))},
    "result_expires": 24 * 3600,
}


class ProfileError(LQError, ValueError):
    pass


class ServiceUnreachableError(LQError, ConnectionError):
    pass


def profile() -> str:
    p = os.environ.get("LQ_PROFILE", "local").strip() or "local"
    if p not in PROFILES:
        raise ProfileError(f"LQ_PROFILE={p!r}: use one of {', '.join(PROFILES)}")
    return p


def distributed() -> bool:
    return profile() == "distributed"


def _required(var: str) -> str:
    v = os.environ.get(var, "").strip()
    if not v:
        raise ProfileError(f"the distributed profile needs ${var} (see docs/how-to/scale-out.md)")
    return v


def broker_url() -> str:
    return _required("LQ_CELERY_BROKER")


def backend_url() -> str:
    return os.environ.get("LQ_CELERY_BACKEND", "").strip() or broker_url()


def address(url: str) -> str:
    """scheme://host:port of a URL, without user or password."""
    u = urlparse(url)
    port = f":{u.port}" if u.port else ""
    return f"{u.scheme.split('+')[0]}://{u.hostname or ''}{port}"


def executor():
    """The executor of every job: Dagster's multiprocess executor locally, its steps forked from a
    forkserver that has imported the libraries once per run (Dagster's default
    spawns a cold interpreter per step: 4-6 CPU-s of imports each); Celery in the distributed
    profile. ``LQ_RUN_START=spawn`` keeps Dagster's spawn."""
    if not distributed():
        import dagster as dg

        from lq_assets.code_server import forked_starts, preload_modules

        if not forked_starts():
            return None

        # libraries only, not lq_assets: importing it sets numba's thread count, which starts its
        # threading layer, and OpenMP aborts every process forked from one that started it
        preload = preload_modules()
        return dg.multiprocess_executor.configured({"start_method": {"forkserver": {"preload_modules": preload}}},
                                                   name="lq_multiprocess")
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {"broker": {"env": "LQ_CELERY_BROKER"}, "backend": {"env": "LQ_CELERY_BACKEND"},
         "config_source": CELERY_CONFIG_SOURCE},
        name="lq_celery",
    )


def automation_on() -> bool:
    """``$LQ_AUTOMATION`` (on/off, default on): whether the sensors (landing, strategies,
    declarative automation) and the nightly schedule start running. Off, the platform runs only
    what is asked (backfills, `lq`), e.g. on a shared cluster; they can be turned on in the UI."""
    v = os.environ.get("LQ_AUTOMATION", "on").strip().lower()
    if v not in ("on", "off"):
        raise ProfileError(f"LQ_AUTOMATION={v!r}: use on or off")
    return v == "on"


def sensor_status():
    import dagster as dg

    return dg.DefaultSensorStatus.RUNNING if automation_on() else dg.DefaultSensorStatus.STOPPED


def schedule_status():
    import dagster as dg

    return dg.DefaultScheduleStatus.RUNNING if automation_on() else dg.DefaultScheduleStatus.STOPPED


def instance_template() -> Path:
    """The dagster.yaml a fresh instance folder of this profile gets (shipped with the package)."""
    from lq_engine.project import shipped

    return shipped("dagster_home/distributed/dagster.yaml" if distributed() else "dagster_home/dagster.yaml")


def default_dagster_home(project_home: Path) -> Path:
    return project_home / "distributed" if distributed() else project_home


# ---------------------------------------------------------------------------------------------
# reachability at start


def _tcp(name: str, var: str, url: str, default_port: int, timeout: float) -> tuple[str, int]:
    u = urlparse(url)
    host, port = u.hostname or "localhost", u.port or default_port
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        raise ServiceUnreachableError(
            f"{name} at {address(url)} (${var}) cannot be reached: {e.strerror or e}") from None
    return host, port


def check_postgres(timeout: float = 5.0) -> None:
    url = _required("LQ_PG_URL")
    _tcp("PostgreSQL", "LQ_PG_URL", url, 5432, timeout)
    import psycopg2

    try:  # SQLAlchemy's driver suffix (postgresql+psycopg2://) is not libpq's
        psycopg2.connect(url.replace("+psycopg2", "", 1), connect_timeout=int(max(1, timeout))).close()
    except psycopg2.Error as e:
        msg = " ".join(str(e).split())
        raise ServiceUnreachableError(
            f"PostgreSQL at {address(url)} ($LQ_PG_URL) refused the connection: {msg}") from None


def check_redis(timeout: float = 5.0) -> None:
    for var, url in (("LQ_CELERY_BROKER", broker_url()), ("LQ_CELERY_BACKEND", backend_url())):
        if not url.startswith(("redis://", "rediss://")):
            if url.startswith(("amqp://", "pyamqp://")):
                _tcp("RabbitMQ", var, url, 5672, timeout)
            continue
        _tcp("Redis", var, url, 6379, timeout)
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping()
        except redis.RedisError as e:
            raise ServiceUnreachableError(f"Redis at {address(url)} (${var}) does not answer: {e}") from None


def check_lake(paths=None) -> None:
    from lq_engine.data.paths import DataPaths
    from lq_engine.data.store import StoreError

    paths = paths or DataPaths.from_env()
    try:
        paths.store.check_reachable()
    except StoreError as e:
        raise ServiceUnreachableError(str(e)) from None


def check_services(timeout: float = 5.0) -> list[str]:
    """In the distributed profile: PostgreSQL, the Celery broker and the lake answer, else a
    ServiceUnreachableError naming the one that does not and its address. Returns what was checked."""
    if not distributed():
        return []
    check_postgres(timeout)
    check_redis(timeout)
    check_lake()
    from lq_engine.data.paths import DataPaths

    return [f"PostgreSQL {address(_required('LQ_PG_URL'))}", f"broker {address(broker_url())}",
            f"lake {DataPaths.from_env().store.describe()}"]
