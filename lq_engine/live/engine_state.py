"""Capture and restore the paper trader's runtime state (event engine, portfolio, order mirror).

The engine's bookkeeping comes from ``EventEngine.state()``; the portfolio, the runtime cache, the
gateway's order mirror and last bars, and a streaming decider's count of bars are captured here.
The bars a streaming decider saw are not in the snapshot (that would write the whole history at every
snapshot): the trader stores one row per bar as it goes and hands them back to ``restore``.
"""

from __future__ import annotations

from lq_engine.errors import LQError

from typing import Any, Callable, Sequence

from lq_engine.core.cache import RuntimeCache, SnapshotVersionError
from lq_engine.core.sequencer import Sequencer
from lq_engine.live.gateway import OrderView, VenueGateway
from lq_engine.replay.event_engine import StreamingDecider
from lq_engine.replay.portfolio_engine import StreamingWeights

STATE_VERSION = 5  # 5: every paper run streams, the decider's bars kept outside the snapshot; 4: portfolio engines;
# 3: float targets, the pending entry's exits, streaming bars only


class IncompatibleStateError(LQError, ValueError):
    pass


def capture(engine: Any, gateway: VenueGateway) -> dict[str, Any]:
    pf = engine.portfolio
    state: dict[str, Any] = {
        "version": STATE_VERSION,
        "cache": engine.cache.snapshot(),
        "sequencer": engine.sequencer.peek(),
        "engine": engine.state(),
        "prev_bars": {sym: list(v) for sym, v in gateway.prev_bars.items()},
        "portfolio": {"cash": pf.cash, "realized_pnl": pf.realized_pnl, "fees": pf.fees,
                      "positions": {s: list(v) for s, v in pf._positions.items()}},
        "orders": {k: v.to_dict() for k, v in gateway.orders.items()},
        "decider": None,
    }
    d = engine.decider
    if isinstance(d, (StreamingDecider, StreamingWeights)):
        state["decider"] = d.state()
    return state


def restore(engine: Any, gateway: VenueGateway, state: dict[str, Any],
            history: Callable[[int], Sequence] | None = None) -> None:
    """Put ``state`` (from ``capture``) into a freshly built engine and gateway; ``history(n)`` gives
    the first ``n`` bars a streaming decider saw (rows, or clock-bar groups for a portfolio)."""
    version = state.get("version") if isinstance(state, dict) else None
    if version != STATE_VERSION:
        raise IncompatibleStateError(f"snapshot state version {version!r}, this build reads {STATE_VERSION}")
    try:
        cache = RuntimeCache.restore(state["cache"])
    except SnapshotVersionError as e:
        raise IncompatibleStateError(str(e)) from None
    engine.cache = cache
    engine.sequencer = Sequencer(int(state["sequencer"]))
    p = state["portfolio"]
    pf = engine.portfolio
    pf.cash, pf.realized_pnl, pf.fees = float(p["cash"]), float(p["realized_pnl"]), float(p["fees"])
    pf._positions = {s: (float(v[0]), float(v[1])) for s, v in p["positions"].items()}
    engine.load_state(state["engine"])
    gateway.prev_bars = {sym: tuple(float(x) for x in v) for sym, v in state["prev_bars"].items()}
    gateway.orders = {k: OrderView.from_dict(v) for k, v in state["orders"].items()}
    d = engine.decider
    if state["decider"] is not None:
        if not isinstance(d, (StreamingDecider, StreamingWeights)):
            raise IncompatibleStateError("snapshot holds a streaming decider's state, this run precomputes")
        if history is None:
            raise IncompatibleStateError("snapshot holds a streaming decider's state and no bars were given back")
        d.load_state(state["decider"], history(int(state["decider"]["bars"])))
    elif isinstance(d, (StreamingDecider, StreamingWeights)):
        raise IncompatibleStateError("snapshot holds no streaming decider's state, this run streams")
