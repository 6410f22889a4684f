"""``run_paper``: the entry point the CLI (``lq paper``) and ``python -m lq_engine.live`` call."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from lq_engine.data.frozen import load_frozen
from lq_engine.data.paths import DataPaths
from lq_engine.errors import InputError
from lq_engine.execution.config import ExecutionConfig
from lq_engine.live.feeds import Feed, PanelFeed, ReplayFeed
from lq_engine.live.trader import PaperResult, PaperTrader, RunSpec, hold_state, move_aside
from lq_engine.live.trader_store import TRADER_FILE, VENUE_FILE
from lq_engine.execution.sizing import NO_BRACKETS, BracketSpec
from lq_engine.strategies.registry import resolve
from lq_engine.strategies.spec import StrategySpec


def make_feed(*, frozen: Path | None = None, symbol: str | None = None, lake_symbol: str | None = None,
              paths: DataPaths | None = None, timeframe: str = "1m", speed: float | None = None) -> Feed:
    """A replay feed over a frozen dataset folder (+ ``symbol``) or the lake (``lake_symbol``)."""
    if (frozen is None) == (lake_symbol is None):
        raise InputError("paper feed: give exactly one of a frozen dataset folder or a lake symbol")
    if frozen is not None:
        if symbol is None:
            syms = load_frozen(Path(frozen)).symbols
            if len(syms) != 1:
                raise InputError(f"{frozen}: holds {list(syms)}; name the symbol to trade")
            symbol = syms[0]
        return ReplayFeed.from_frozen(Path(frozen), symbol, speed)
    return ReplayFeed.from_lake(paths or DataPaths.from_env(), lake_symbol, timeframe, speed)


def run_paper(
    state_dir: Path,
    strategy: str | StrategySpec,
    params: Mapping[str, Any] | None = None,
    *,
    frozen: Path | None = None,
    symbol: str | None = None,
    lake_symbol: str | None = None,
    paths: DataPaths | None = None,
    timeframe: str = "1m",
    feed: Feed | None = None,
    speed: float | None = None,
    max_bars: int | None = None,
    config: ExecutionConfig = ExecutionConfig(),
    brackets: BracketSpec = NO_BRACKETS,
    initial_cash: float = 100_000.0,
    snapshot_every: int = 1,
    reset_state: bool = False,
    rebuild_from_venue: bool = False,
) -> PaperResult:
    """Paper-trade ``strategy`` over the feed until it ends or ``max_bars`` bars (in total) are done.

    Resumes (with recovery) from the state in ``state_dir`` if there is any. ``reset_state`` moves
    the trader and venue files aside and starts over; ``rebuild_from_venue`` moves only the trader
    file aside and rebuilds it by replaying the feed against the venue's journal.
    Decisions stream (bar i from bars 0..i only) on every feed; on a replayed dataset the run's
    decisions are then compared with the replay's over the same bars (``PaperResult.replay_check``:
    the first divergent bar is lookahead; a warning, the run itself is valid).
    The run holds ``state_dir``'s lock (``hold_state``) from before it touches the state until it
    returns: a second run on the folder is refused at once with a StateError naming the holder's pid.
    Raises StateError on unusable state and ReconciliationError when it refuses to trade.
    """
    if max_bars is not None and max_bars < 1:
        raise InputError(f"max_bars must be >= 1, got {max_bars}")
    state_dir = Path(state_dir)
    with hold_state(state_dir):
        return _run_held(state_dir, strategy, params, frozen=frozen, symbol=symbol, lake_symbol=lake_symbol,
                         paths=paths, timeframe=timeframe, feed=feed, speed=speed, max_bars=max_bars, config=config,
                         brackets=brackets, initial_cash=initial_cash, snapshot_every=snapshot_every,
                         reset_state=reset_state, rebuild_from_venue=rebuild_from_venue)


def _run_held(state_dir: Path, strategy: str | StrategySpec, params: Mapping[str, Any] | None, *,
              frozen: Path | None, symbol: str | None, lake_symbol: str | None, paths: DataPaths | None,
              timeframe: str, feed: Feed | None, speed: float | None, max_bars: int | None, config: ExecutionConfig,
              brackets: BracketSpec, initial_cash: float, snapshot_every: int, reset_state: bool,
              rebuild_from_venue: bool) -> PaperResult:
    if reset_state:
        move_aside(state_dir, (TRADER_FILE, VENUE_FILE))
    elif rebuild_from_venue:
        move_aside(state_dir, (TRADER_FILE,))
    strat = resolve(strategy)
    if feed is None and strat.is_portfolio:  # a portfolio trades the dataset's whole universe
        if frozen is None:
            raise InputError(f"strategy '{strat.name}' is a portfolio strategy: paper-trade it on a frozen dataset")
        feed = PanelFeed.from_frozen(Path(frozen), speed)
    if feed is None:
        feed = make_feed(frozen=frozen, symbol=symbol, lake_symbol=lake_symbol, paths=paths, timeframe=timeframe,
                         speed=speed)
    if strat.is_portfolio:
        if not isinstance(feed, PanelFeed):
            raise InputError(f"strategy '{strat.name}' is a portfolio strategy: it needs a universe's feed")
        strat.check_data(feed.panel)
        if brackets.any:
            raise InputError(f"strategy '{strat.name}' is a portfolio strategy: brackets (stop-loss, take-profit, "
                             "trailing) are per entry of one symbol and do not apply")
    universe = tuple(getattr(feed, "symbols", ())) if strat.is_portfolio else ()
    spec = RunSpec(strat.name, strat.validated(params), feed.symbol, feed.describe(), config, brackets,
                   float(initial_cash), strat.version, universe)
    trader = PaperTrader(state_dir, spec, feed, snapshot_every, rebuilding=rebuild_from_venue, strategy=strat)
    try:
        trader.recover()
        trader.run(max_bars)
        trader.check_against_replay()
        return trader.result()
    finally:
        trader.close()
