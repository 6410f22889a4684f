"""Paper trading with crash-safe state.

``run_paper`` (entry point), ``status`` and ``record_to_catalog`` (operations); feeds in ``feeds``,
the trader and its recovery in ``trader``, the durable simulated venue in ``venue_service``, the
outbox between engine and venue in ``gateway`` / ``trader_store``. State files and their way out
after corruption: see ``errors.RESET_HINT``.
"""

from lq_engine.live.errors import FeedUnavailableError, LiveError, ReconciliationError, StateError
from lq_engine.live.feeds import CcxtFeed, Feed, FeedBar, ReplayFeed
from lq_engine.live.ops import record_to_catalog, status
from lq_engine.live.run import make_feed, run_paper
from lq_engine.live.trader import PaperResult, PaperTrader, RecoveryReport, RunSpec

__all__ = ["CcxtFeed", "Feed", "FeedBar", "FeedUnavailableError", "LiveError", "PaperResult", "PaperTrader",
           "ReconciliationError", "RecoveryReport", "ReplayFeed", "RunSpec", "StateError", "make_feed",
           "record_to_catalog", "run_paper", "status"]
