"""Step retries on transient faults: a lake (S3), broker or database that is briefly unreachable.

An asset decorated with ``@transient_retries`` asks Dagster to run its step again, with exponential
backoff (``TRANSIENT_RETRY``, a Dagster ``RetryPolicy``), when it fails because a server could not
be reached or could not serve for a moment. Any other failure (a strategy's bug, bad data, a
refused or corrupt object, a full server) fails the step at once, as before: retrying it would only
repeat the same error, and an optimization can take minutes.

Dagster's own ``retry_policy=`` would retry every failure; this applies the same policy to transient
ones only, by raising ``RetryRequested`` with the policy's delay. A retried step is safe because
every asset writes its results under keys fixed by its partition or its content (a rewrite
replaces the same objects, result tables are replaced per partition), never appends.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from lq_engine.data.store import StoreError
from lq_engine.errors import LQError

# Waits of about 2, 6, 14, 30 and 62 s (plus or minus 2 s): an outage of up to ~2 minutes.
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=5, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

# Exceptions of client libraries that mean "could not reach / lost the server" (by qualified name,
# so that none of these libraries is imported here).
TRANSIENT_TYPES = frozenset({
    "redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError", "redis.exceptions.BusyLoadingError",
    "kombu.exceptions.OperationalError", "celery.exceptions.BackendGetMetaError",
    "celery.exceptions.BackendStoreError", "psycopg2.OperationalError", "psycopg2.InterfaceError",
    "sqlalchemy.exc.OperationalError", "sqlalchemy.exc.DisconnectionError",
})
# Words of an I/O error raised outside the lake's Store (pyarrow, DuckDB reading s3://) that mean the
# server could not be reached.
NETWORK_WORDS = ("couldn't connect", "connection refused", "network_connection", "curlcode: 7,", "connection reset")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a server briefly out of reach.
    A StoreError decides by its own ``transient``; another LQError (data, strategy, usage) is never
    transient unless it is also a ConnectionError (a service named unreachable)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, StoreError):
            return e.transient
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        if isinstance(e, LQError):
            return False
        if any(f"{c.__module__}.{c.__qualname__}" in TRANSIENT_TYPES for c in type(e).__mro__):
            return True
        if (isinstance(e, OSError) or type(e).__name__ in ("IOException", "HTTPException")) and \
                any(w in str(e).lower() for w in NETWORK_WORDS):
            return True
        e = e.__cause__ or e.__context__
    return False


def _retry_request(context, e: BaseException) -> dg.RetryRequested:
    attempt = context.retry_number + 1
    wait = max(0.0, TRANSIENT_RETRY.calculate_delay(attempt))
    context.log.warning(f"transient failure (try {attempt} of {TRANSIENT_RETRY.max_retries + 1}), retrying in "
                        f"{wait:.0f} s: {' '.join(str(e).split())[:300]}")
    return dg.RetryRequested(max_retries=TRANSIENT_RETRY.max_retries, seconds_to_wait=wait)


F = TypeVar("F", bound=Callable)


def transient_retries(fn: F) -> F:
    """Decorate an asset's function (under ``@dg.asset``): transient failures are retried with
    ``TRANSIENT_RETRY``, others raise unchanged. The first argument must be the context."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(context, *args, **kwargs):
            try:
                yield from fn(context, *args, **kwargs)
            except Exception as e:
                if not is_transient(e):
                    raise
                raise _retry_request(context, e) from e

        return gen  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(context, *args, **kwargs):
        try:
            return fn(context, *args, **kwargs)
        except Exception as e:
            if not is_transient(e):
                raise
            raise _retry_request(context, e) from e

    return wrapper  # type: ignore[return-value]
