"""Errors of the paper trader. Each message names the file and the way out."""

from __future__ import annotations

from lq_engine.errors import LQError


class LiveError(LQError, RuntimeError):
    pass


class StateError(LiveError):
    """Durable state that cannot be trusted (corrupt, truncated, incompatible, or another run's)."""


class ReconciliationError(LiveError):
    """Local state and the venue disagree: the trader refuses to trade."""


class FeedUnavailableError(LiveError):
    """A feed that cannot run here (optional dependency missing, no network, bad credentials)."""


RESET_HINT = (
    "way out: move the file aside (keep it for inspection) and start again with reset_state=True "
    "(CLI: --reset-state), which starts a fresh run from the first bar against a fresh venue account"
)
