"""The paper trader: feed -> event engine -> outbox -> durable venue -> reports -> portfolio.

Per bar: the engine steps (decisions, intents committed then sent through ``VenueGateway``, the
venue runs the bar), then one transaction records the bar's fills, order states, equity and
(every ``snapshot_every`` bars) a snapshot of the runtime state. A restart restores the newest
snapshot, re-sends unacknowledged intents, checks the venue's account as of the snapshot, and
re-steps the bars after it: the venue answers requests it has seen with its recorded reports,
so the trader reaches the exact state of an uninterrupted run; once caught up with the venue it
reconciles positions, cash, order ids and open orders, and refuses to trade on any difference.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lq_engine.core.events import BarEvent
from lq_engine.data.locks import file_lock, holder
from lq_engine.errors import InputError
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.portfolio import Portfolio
from lq_engine.live import engine_state
from lq_engine.live.crashpoints import crash_point
from lq_engine.live.divergence import META_KEY as DIVERGENCE_KEY
from lq_engine.live.divergence import ReplayCheck, first_divergence
from lq_engine.live.errors import RESET_HINT, ReconciliationError, StateError
from lq_engine.live.feeds import Feed, FeedBar, FeedGroup
from lq_engine.live.gateway import VenueGateway
from lq_engine.live.sqlite_store import get_meta, transaction
from lq_engine.live.trader_store import (SNAPSHOTS_KEPT, TRADER_FILE, VENUE_FILE, SqliteOutbox, feed_groups,
                                         feed_rows, latest_snapshot, open_trader_db, read_config)
from lq_engine.live.venue_service import DurableVenue, VenueRequestError
from lq_engine.live.wire import config_to_dict, dumps
from lq_engine.replay.event_engine import EventEngine, StreamingDecider
from lq_engine.replay.portfolio_engine import PortfolioEventEngine, StreamingWeights
from lq_engine.execution.sizing import NO_BRACKETS, BracketSpec
from lq_engine.strategies.spec import StrategySpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSpec:
    """What a paper run is; stored in the state file, and its hash is the run id."""

    strategy: str
    params: dict[str, Any]
    symbol: str
    source: str
    config: ExecutionConfig = ExecutionConfig()
    brackets: BracketSpec = NO_BRACKETS
    initial_cash: float = 100_000.0
    strategy_version: str = ""  # the strategy's source hash: a changed strategy is another run
    symbols: tuple[str, ...] = ()  # a portfolio strategy's universe (empty: one symbol, ``symbol``)

    @property
    def portfolio(self) -> bool:
        return bool(self.symbols)

    @property
    def traded(self) -> tuple[str, ...]:
        return self.symbols or (self.symbol,)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "params": self.params, "symbol": self.symbol, "source": self.source,
                "config": config_to_dict(self.config), "brackets": asdict(self.brackets),
                "initial_cash": self.initial_cash, "strategy_version": self.strategy_version,
                "symbols": list(self.symbols)}

    @property
    def run_id(self) -> str:
        return "paper-" + hashlib.sha256(dumps(self.to_dict()).encode()).hexdigest()[:12]


@dataclass
class RecoveryReport:
    restored_bar: int = -1  # bar index of the restored snapshot (-1: none, started fresh)
    resent: list[str] = field(default_factory=list)  # client order ids re-sent from the outbox
    venue_ahead_bars: int = 0  # bars the venue had seen past the snapshot (re-stepped from its journal)
    reconciled: bool = False


@dataclass
class PaperResult:
    run_id: str
    state_dir: Path
    bars_processed: int  # bars with a recorded result, over all sessions of the run
    last_bar: int
    position: float
    cash: float
    equity: float
    fills: list[tuple[int, int, float, float, float, str]]  # (ts, side, quantity, price, fee, reason)
    recovery: RecoveryReport
    positions: dict[str, float] = field(default_factory=dict)  # per symbol (one entry for a single-symbol run)
    replay_check: ReplayCheck | None = None  # decisions against the replay's (None: a live feed, not checked)


def move_aside(state_dir: Path, files: tuple[str, ...]) -> Path | None:
    """Move state files (with their -wal/-shm) into ``state_dir/aside-<time>/``; never deletes."""
    present = [p for f in files for p in Path(state_dir).glob(f + "*") if p.is_file()]
    if not present:
        return None
    dest = Path(state_dir) / time.strftime("aside-%Y%m%dT%H%M%S") / str(time.time_ns())
    dest.mkdir(parents=True)
    for p in present:
        shutil.move(str(p), dest / p.name)
    log.warning("moved %s aside to %s", [p.name for p in present], dest)
    return dest


LOCK_FILE = "paper.lock"  # in the state folder; holds the running process's pid and start time
_held: dict[Path, tuple[ExitStack, int]] = {}  # state folders this process holds: (the lock, depth)


@contextmanager
def hold_state(state_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock on a paper run's state folder while the block runs.

    One paper run per folder: two runs interleaving on one trader file and one venue journal
    lose orders and fills. Another process's run is refused at once with a ``StateError`` naming
    the folder and the holder's pid. The lock is an ``flock`` (``data.locks``), which the kernel
    drops when the holder dies, SIGKILL included: the next run needs no cleanup. Reentrant within
    a process (the CLI holds it across ``run_paper`` and ``record_to_catalog``, which take it too).
    Readers take no lock: ``status`` reads the SQLite files (WAL) while a run writes them.
    """
    key = Path(state_dir).resolve()
    if key not in _held:
        path = key / LOCK_FILE
        stack = ExitStack()
        try:
            stack.enter_context(file_lock(path, timeout=0))
        except TimeoutError:
            who = holder(path)
            for _ in range(20):  # the holder writes its pid just after it takes the lock
                if who != "holder unknown":
                    break
                time.sleep(0.05)
                who = holder(path)
            raise StateError(f"{key}: another paper run holds this state folder: {who} (lock file {path}); wait "
                             f"for it to end or stop it, or use another state dir (CLI: --state-dir)") from None
        _held[key] = (stack, 0)
    stack, depth = _held[key]
    _held[key] = (stack, depth + 1)
    try:
        yield
    finally:
        stack, depth = _held[key]
        if depth > 1:
            _held[key] = (stack, depth - 1)
        else:
            del _held[key]
            stack.close()


class PaperTrader:
    def __init__(self, state_dir: Path, spec: RunSpec, feed: Feed, snapshot_every: int = 1,
                 rebuilding: bool = False, strategy: StrategySpec | None = None) -> None:
        """``strategy``: the resolved strategy (a ``StrategySpec``, e.g. loaded from a file), else
        ``spec.strategy`` is resolved by name."""
        if snapshot_every < 1:
            raise InputError(f"snapshot_every must be >= 1, got {snapshot_every}")
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.spec, self.feed, self.snapshot_every = spec, feed, snapshot_every
        self.run_id = spec.run_id
        self._lock = ExitStack()  # the state folder is this trader's until close()
        self._lock.enter_context(hold_state(self.state_dir))
        try:
            self._open(spec, feed, rebuilding, strategy)
        except BaseException:
            self.close()
            raise

    def _open(self, spec: RunSpec, feed: Feed, rebuilding: bool, strategy: StrategySpec | None) -> None:
        self.con = open_trader_db(self.state_dir)
        self._check_run()
        self.venue = DurableVenue(self.state_dir / VENUE_FILE, spec.config, spec.initial_cash)
        self.outbox = SqliteOutbox(self.con)
        # Decisions stream on history too: bar i is decided from bars 0..i only, as on a live feed (a
        # decider that saw the whole series would hand a strategy reading later bars their gains).
        self.decider: StreamingDecider | StreamingWeights
        if spec.portfolio:
            self.decider = StreamingWeights(strategy or spec.strategy, spec.params, spec.symbols)
            self.engine = PortfolioEventEngine(spec.symbols, self.decider, spec.config, spec.initial_cash)
        else:
            self.decider = StreamingDecider(strategy or spec.strategy, spec.params)
            self.engine = EventEngine(spec.symbol, self.decider, spec.config, spec.brackets, spec.initial_cash)
        self.gateway = VenueGateway(self.venue, self.outbox, self.run_id)
        self.engine.venue = self.gateway  # the outbox sits between the engine's decisions and the venue
        self.next_bar = 0
        self._catch_up_ts: int | None = None  # reconcile fully after stepping a bar later than this
        self.recovery = RecoveryReport()
        if rebuilding:
            with transaction(self.con):
                self.con.execute("INSERT OR REPLACE INTO meta VALUES ('rebuilding', '1')")
        # a trader file replaying the venue's journal (kept across restarts until reconciled)
        self.rebuilding = self.con.execute("SELECT 1 FROM meta WHERE key = 'rebuilding'").fetchone() is not None

    @property
    def trader_file(self) -> Path:
        return self.state_dir / TRADER_FILE

    def close(self) -> None:
        try:
            if hasattr(self, "con"):
                self.con.close()
            if hasattr(self, "venue"):
                self.venue.close()
        finally:
            self._lock.close()

    # -- start and recovery --------------------------------------------------------------------

    def _check_run(self) -> None:
        want = self.spec.to_dict()
        have = read_config(self.con)
        if have is None:
            if self.con.execute("SELECT count(*) FROM bars").fetchone()[0]:
                raise StateError(f"{self.trader_file}: has results but no run config; {RESET_HINT}")
            with transaction(self.con):
                self.con.execute("INSERT INTO meta VALUES ('run', ?), ('run_id', ?)", (dumps(want), self.run_id))
            return
        if have != json.loads(dumps(want)):
            diff = sorted(k for k in want if json.loads(dumps(want[k])) != have.get(k))
            raise StateError(f"{self.trader_file}: holds another paper run (differs in {diff}); use another "
                             f"state dir, or {RESET_HINT}")

    def recover(self) -> RecoveryReport:
        """Restore, replay the outbox, check the venue; raises ReconciliationError to refuse trading."""
        rep = self.recovery
        snap = latest_snapshot(self.con)
        restored_ts = None
        if snap is not None:
            sid, bar, ts, raw = snap
            try:
                engine_state.restore(self.engine, self.gateway, json.loads(raw), self._history)
            except (ValueError, KeyError, TypeError) as e:
                raise StateError(f"{self.trader_file}: snapshot {sid} (bar {bar}) cannot be restored: {e}; "
                                 f"{RESET_HINT}") from None
            rep.restored_bar, self.next_bar, restored_ts = bar, bar + 1, ts
        for rec in self.outbox.pending():
            crash_point("recovery_resend")
            cid = rec.intent.client_order_id
            self.outbox.mark_sent(cid, rec.intent.created_ns)
            try:
                self.venue.submit(rec.intent, rec.intent.created_ns)
            except VenueRequestError as e:
                self._refuse(f"re-sending outbox intent {cid} failed: {e}")
            self.outbox.mark_acknowledged(cid, rec.intent.created_ns, cid)
            rep.resent.append(cid)
        log.info("recovery: restored bar %d, re-sent %d intent(s)", rep.restored_bar, len(rep.resent))
        self._check_order_ids(prefix=self.rebuilding)
        pf = self.venue.account_as_of(restored_ts)
        self._compare_accounts({s: pf.position(s) for s in self.spec.traded}, pf.cash,
                               f"as of bar {rep.restored_bar}")
        # The venue may hold bars past the snapshot, and requests of the bar after its last one; the
        # full check waits until the trader has stepped a bar the venue had not seen.
        lasts = [t for t in (self.venue.last_bar_ts(s) for s in self.spec.traded) if t is not None]
        venue_last = max(lasts) if lasts else None
        self._catch_up_ts = -1 if venue_last is None else venue_last
        known = self.feed.series.ts if self.feed.series is not None else getattr(getattr(self.feed, "panel", None),
                                                                                 "ts", None)
        if venue_last is not None and known is not None:
            rep.venue_ahead_bars = sum(1 for t in known.tolist()
                                       if (restored_ts is None or t > restored_ts) and t <= venue_last)
        return rep

    def _history(self, n: int) -> list:
        """The first ``n`` bars the streaming decider saw, as the trader stored them bar by bar."""
        return feed_groups(self.con, n) if self.spec.portfolio else feed_rows(self.con, n)

    def _compare_accounts(self, venue_positions: dict[str, float], venue_cash: float, when: str) -> None:
        pf = self.engine.portfolio
        problems = []
        for sym, venue_pos in venue_positions.items():
            local_pos = pf.position(sym)
            if venue_pos != local_pos:
                where = f" of {sym}" if self.spec.portfolio else ""
                problems.append(f"venue position{where} {venue_pos!r} != local position {local_pos!r}")
        if venue_cash != pf.cash:
            problems.append(f"venue cash {venue_cash!r} != local cash {pf.cash!r}")
        if problems:
            self._refuse(f"{when}: " + "; ".join(problems))

    def _reconcile(self) -> None:
        """Full check once trader and venue have seen the same bars."""
        self._compare_accounts({s: self.venue.position(s) for s in self.spec.traded}, self.venue.cash,
                               "after replay")
        self._check_order_ids()
        venue_open = self.venue.open_orders()
        local_open = sorted(o.order_id for o in self.gateway.open_orders())
        if venue_open != local_open:
            self._refuse(f"open orders differ: venue {venue_open}, local {local_open}")
        self._catch_up_ts = None
        self.recovery.reconciled = True
        with transaction(self.con):
            self.con.execute("DELETE FROM meta WHERE key IN ('refused', 'rebuilding')")

    def _check_order_ids(self, prefix: bool = False) -> None:
        """Every intent is committed before it is sent, so both sides know the same ids, in order
        (``prefix``: the venue may know more, which a rebuild will regenerate)."""
        venue_ids = self.venue.client_order_ids()
        local_ids = [r.intent.client_order_id for r in self.outbox.all()]
        if (venue_ids[:len(local_ids)] if prefix else venue_ids) != local_ids:
            extra = sorted(set(venue_ids) - set(local_ids))[:5]
            lost = sorted(set(local_ids) - set(venue_ids))[:5]
            self._refuse(f"order ids differ: venue has {len(venue_ids)} (unknown here: {extra}), "
                         f"outbox has {len(local_ids)} (unknown at the venue: {lost})")

    def _refuse(self, why: str) -> None:
        msg = (f"{self.trader_file}: reconciliation with the venue ({self.venue.path}) failed, refusing to trade: "
               f"{why}. Way out: inspect both files; if the venue is right, rebuild the trader from it "
               f"(rebuild_from_venue=True, CLI --rebuild-from-venue); otherwise {RESET_HINT}")
        with transaction(self.con):
            self.con.execute("INSERT OR REPLACE INTO meta VALUES ('refused', ?)", (msg,))
        log.error(msg)
        raise ReconciliationError(msg)

    # -- the bar loop --------------------------------------------------------------------------

    def run(self, max_bars: int | None = None) -> None:
        """Process bars from ``next_bar`` until the feed ends or ``max_bars`` bars (in total) are done."""
        sym = self.spec.symbol
        nxt = self.engine.sequencer
        last_fb: FeedBar | FeedGroup | None = None
        for fb in self.feed.bars(self.next_bar, max_bars):
            before = (self.engine.portfolio.cash, dict(self.engine.portfolio._positions))
            try:
                if self.spec.portfolio:
                    self.engine.step_group([BarEvent(fb.ts, nxt.next(), *b) for b in fb.bars])
                else:
                    self.engine.step(BarEvent(fb.ts, nxt.next(), sym, fb.open, fb.high, fb.low, fb.close, fb.volume))
            except VenueRequestError as e:
                self._refuse(f"bar {fb.index}: the venue rejected a replayed request: {e}")
            self._end_of_bar(fb, before, (fb.index + 1) % self.snapshot_every == 0)
            self.next_bar = fb.index + 1
            last_fb = fb
            if self._catch_up_ts is not None and fb.ts > self._catch_up_ts:
                self._reconcile()
        if self._catch_up_ts is not None:  # nothing left to process: check now
            self._reconcile()
        if last_fb is not None and (last_fb.index + 1) % self.snapshot_every != 0:
            with transaction(self.con):
                self._snapshot(last_fb)

    def _end_of_bar(self, fb: FeedBar | FeedGroup, before: tuple[float, dict], snapshot: bool) -> None:
        e, g = self.engine, self.gateway
        book = Portfolio(before[0])
        book._positions = before[1]
        rows = []
        for f in g.new_fills:
            book.apply(f)
            rows.append((f.sequence, fb.index, f.timestamp_ns, f.order_id, f.symbol, f.side, f.quantity, f.price,
                         f.fee, f.liquidity, f.reason, book.cash, book.position(f.symbol)))
        pf = e.portfolio
        syms = self.spec.traded
        if book.cash != pf.cash or any(book.position(s) != pf.position(s) for s in syms):
            raise RuntimeError(f"bar {fb.index}: fills recorded do not add up to the engine's portfolio")
        orders = [(k, dumps(g.orders[k].to_dict())) for k in sorted(g.changed)]
        g.forget_closed()
        positions = {s: pf.position(s) for s in syms}
        exits = None
        if self.spec.portfolio:  # the weights decided and the gross exposure held
            target = sum(abs(w) for w in e.targets[-1])
            weights = dumps(dict(zip(syms, e.targets[-1])))
            seen = [(fb.index, s, fb.ts, *b) for s, *b in fb.bars]
        else:
            target, weights = e.targets[-1], None
            ex = self.decider.exits(fb.index)
            exits = None if ex is None else dumps(list(ex))
            seen = [(fb.index, self.spec.symbol, fb.ts, fb.open, fb.high, fb.low, fb.close, fb.volume)]
        with transaction(self.con):
            self.con.executemany("INSERT OR REPLACE INTO feed_bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)", seen)
            self.con.executemany("INSERT OR REPLACE INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self.con.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?)", orders)
            self.con.execute("INSERT OR REPLACE INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (fb.index, fb.ts, e.equity[-1], target, pf.cash, sum(positions.values()),
                              time.time_ns(), self.feed.latest_index(), dumps(positions), weights, exits))
            if snapshot:
                self._snapshot(fb)
        g.new_fills.clear()
        g.changed.clear()

    def _snapshot(self, fb: FeedBar) -> None:
        """Inside the caller's transaction."""
        state = engine_state.capture(self.engine, self.gateway)
        self.con.execute("INSERT INTO snapshots (bar, ts, state) VALUES (?, ?, ?)", (fb.index, fb.ts, dumps(state)))
        self.con.execute("DELETE FROM snapshots WHERE id NOT IN (SELECT id FROM snapshots ORDER BY id DESC LIMIT ?)",
                         (SNAPSHOTS_KEPT,))
        crash_point("snapshot")

    def check_against_replay(self) -> ReplayCheck | None:
        """On a feed that knows the history (a replay of a dataset): every decision this run recorded
        (all sessions) against the replay's over the same bars; the first difference is lookahead.
        Kept in the state (meta ``replay_check``) for ``status`` and the catalog. None on a live feed
        or before any bar."""
        history = getattr(self.feed, "panel", None) if self.spec.portfolio else self.feed.series
        rows = self.con.execute("SELECT bar, ts, target, weights, exits FROM bars ORDER BY bar").fetchall()
        if history is None or not rows:
            return None
        n = len(rows)
        if rows[-1][0] != n - 1:
            raise StateError(f"{self.trader_file}: bars recorded are not 0..{n - 1} (last {rows[-1][0]}); {RESET_HINT}")
        ref = self.decider.replay(history, n)
        ts = [r[1] for r in rows]
        if self.spec.portfolio:
            syms = self.engine.symbols
            paper = [[json.loads(r[3])[s] for s in syms] for r in rows]
            replay = ref.targets.tolist()
        elif ref.exits is None:
            paper, replay = [r[2] for r in rows], ref.targets.tolist()
        else:
            paper = [[r[2], json.loads(r[4])] for r in rows]
            replay = [[t, e] for t, e in zip(ref.targets.tolist(), ref.exits.tolist())]
        check = first_divergence(ts, paper, replay)
        with transaction(self.con):
            self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (DIVERGENCE_KEY, check.to_json()))
        if check.diverged:
            log.warning(check.message())
        return check

    def result(self) -> PaperResult:
        c = self.con
        n, last = c.execute("SELECT count(*), coalesce(max(bar), -1) FROM bars").fetchone()
        row = c.execute("SELECT equity, cash, position, positions FROM bars ORDER BY bar DESC LIMIT 1").fetchone()
        eq, cash, pos, positions = row if row else (self.spec.initial_cash, self.spec.initial_cash, 0.0, None)
        fills = [(t, s, q, p, f, r) for t, s, q, p, f, r in
                 c.execute("SELECT ts, side, quantity, price, fee, reason FROM fills ORDER BY fill_seq")]
        raw = get_meta(c, DIVERGENCE_KEY)
        return PaperResult(self.run_id, self.state_dir, n, last, pos, cash, eq, fills, self.recovery,
                           json.loads(positions) if positions else {},
                           ReplayCheck.from_json(raw) if raw else None)
