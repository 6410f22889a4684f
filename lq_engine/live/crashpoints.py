"""Test-only crash injection: ``LQ_LIVE_CRASH=<point>:<occurrence>`` SIGKILLs this process at the
``occurrence``-th time (1-based) execution reaches ``crash_point(<point>)``. Unset: a no-op.

Points: ``intent_committed`` (intent durable, not sent), ``sent`` (venue has it, ack not
recorded), ``fill_unrecorded`` (ack recorded, the venue filled, the fill not yet recorded here),
``snapshot`` (inside the end-of-bar transaction, after the snapshot row, before commit),
``recovery_resend`` (during the outbox replay of a restart).
"""

from __future__ import annotations

import os
import signal

from lq_engine.errors import EnvVarError

ENV = "LQ_LIVE_CRASH"
POINTS = ("intent_committed", "sent", "fill_unrecorded", "snapshot", "recovery_resend")
_counts: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(ENV)
    if not spec:
        return None
    name, _, n = spec.partition(":")
    if name not in POINTS or not n.isdigit() or int(n) < 1:
        raise EnvVarError(f"{ENV}={spec!r}: expected <point>:<occurrence>, point one of {POINTS}")
    return name, int(n)


def crash_point(name: str) -> None:
    target = _target()
    if target is None or target[0] != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
