"""Architecture benchmarks: metric workload, compiled replay, event engine, message bus, runtime cache, replay sort.

Each figure is a median over ``--repeats`` runs. For the bus, cache and sort the reference workload
(a faithful plain implementation of what the original note measured) runs side by side in the same
process, and the script prints ``reference_<name>``, ``<name>`` and ``<name>_speedup``.

    uv run python scripts/benchmark_architecture.py --bars 15000 --evals 1500 \
        --messages 100000 --updates 50000 --events 50000 [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from lq_engine.core.bus import MessageBus
from lq_engine.core.cache import RuntimeCache
from lq_engine.core.events import BarBatch, is_replay_ordered, replay_order

# ---------------------------------------------------------------------------------------------
# Reference implementations: what a straightforward first version does (the original's workloads)


class ReferenceBus:
    """dict-of-lists pub/sub, a published counter, a copy of the handler list, try/except per handler."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, list] = defaultdict(list)
        self.published = 0
        self.errors = 0

    def subscribe(self, topic: str, handler: Callable) -> None:
        self._subscribers[topic].append(handler)

    def publish(self, topic: str, message: object) -> None:
        self.published += 1
        for handler in list(self._subscribers[topic]):
            try:
                handler(message)
            except Exception:
                self.errors += 1


@dataclass
class _RefMarketState:
    time: datetime
    timestamp_ns: int
    sequence: int
    close: float
    volume: float


@dataclass
class _RefOrderState:
    state: str
    symbol: str


class ReferenceCache:
    """Latest market state and order state as dataclass objects in plain dicts."""

    def __init__(self) -> None:
        self.market: dict[str, _RefMarketState] = {}
        self.orders: dict[str, _RefOrderState] = {}

    def update_market(self, symbol: str, time_: datetime, ts: int, seq: int, close: float, volume: float) -> None:
        self.market[symbol] = _RefMarketState(time_, ts, seq, close, volume)

    def update_order(self, order_id: str, state: str, symbol: str) -> None:
        self.orders[order_id] = _RefOrderState(state, symbol)


@dataclass
class _RefMarketEvent:
    timestamp_ns: int
    sequence: int
    symbol: str
    close: float


# ---------------------------------------------------------------------------------------------
# Timing helpers


def _median_rate(fn: Callable[[], int], repeats: int) -> float:
    """Median rate of ``repeats`` timed runs. Each run starts after a full collection, so no run pays
    for a collection that the objects of an earlier run (say, the reference's) made due: the garbage
    collector's full passes are triggered by counts carried over between runs and cost ~50 ms on
    this heap."""
    rates = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def _side_by_side(name: str, reference: Callable[[], int], ours: Callable[[], int], repeats: int) -> dict[str, float]:
    """Alternate reference and ours each repeat so both see the same machine conditions."""
    ref_rates, our_rates = [], []
    for _ in range(repeats):
        ref_rates.append(_median_rate(reference, 1))
        our_rates.append(_median_rate(ours, 1))
    ref, our = statistics.median(ref_rates), statistics.median(our_rates)
    return {f"reference_{name}": ref, name: our, f"{name}_speedup": our / ref}


# ---------------------------------------------------------------------------------------------
# Benchmarks


def bench_bus(args: argparse.Namespace) -> dict[str, float]:
    n = args.messages

    def run(bus_factory: Callable, pattern: str) -> Callable[[], int]:
        def go() -> int:
            bus = bus_factory()
            box = [0]

            def handler(message: object) -> None:
                box[0] += 1

            bus.subscribe(pattern, handler)
            publish = bus.publish
            for i in range(n):
                publish("event.MARKET", i)
            if box[0] != n:
                raise AssertionError(f"bus delivered {box[0]} of {n} messages")
            return n

        return go

    out = _side_by_side("bus_publish_per_sec", run(ReferenceBus, "event.MARKET"), run(MessageBus, "event.MARKET"),
                        args.repeats)
    out["bus_publish_wildcard_per_sec"] = _median_rate(run(MessageBus, "event.*"), args.repeats)

    def batch() -> int:
        bus = MessageBus()
        box = [0]

        def handler(message: object) -> None:
            box[0] += 1

        bus.subscribe("event.*", handler)
        bus.publish_batch("event.MARKET", range(n))
        if box[0] != n:
            raise AssertionError(f"bus delivered {box[0]} of {n} messages")
        return n

    out["bus_publish_batch_per_sec"] = _median_rate(batch, args.repeats)
    out["bus_publish_batch_per_sec_speedup"] = out["bus_publish_batch_per_sec"] / out["reference_bus_publish_per_sec"]
    return out


def bench_cache(args: argparse.Namespace) -> dict[str, float]:
    n = args.updates
    base_ns = 1_700_000_000_000_000_000
    ids = [f"OID-{i}" for i in range(n)]
    times = [datetime.fromtimestamp((base_ns + i * 60_000_000_000) / 1e9, tz=UTC) for i in range(n)]
    closes = [100.0 + 0.01 * i for i in range(n)]

    def reference() -> int:
        cache = ReferenceCache()
        for i in range(n):
            cache.update_market("BTCUSDT", times[i], base_ns + i, i, closes[i], 1000.0)
            cache.update_order(ids[i], "OPEN", "BTCUSDT")
        if len(cache.orders) != n or cache.market["BTCUSDT"].sequence != n - 1:
            raise AssertionError("reference cache lost updates")
        return n

    def ours() -> int:
        cache = RuntimeCache()
        update_bar, update_order = cache.update_bar, cache.update_order
        for i in range(n):
            c = closes[i]
            update_bar("BTCUSDT", base_ns + i, i, c, c, c, c, 1000.0)
            update_order(ids[i], "OPEN", "BTCUSDT")
        if cache.order_count() != n or cache.market("BTCUSDT").sequence != n - 1:
            raise AssertionError("runtime cache lost updates")
        return n

    return _side_by_side("cache_update_per_sec", reference, ours, args.repeats)


def bench_replay_sort(args: argparse.Namespace) -> dict[str, float]:
    """Create ``--events`` market events in reverse time order (sequence = index), put them in replay
    order and verify it. Both sides create their events inside the timed region: objects for the
    reference, columns of a BarBatch for ours."""
    n = args.events
    step = 60_000_000_000
    base = 1_700_000_000_000_000_000

    def reference() -> int:
        events = [_RefMarketEvent(base + (n - i) * step, i, "BTCUSDT", 100.0 + 0.01 * i) for i in range(n)]
        ordered = sorted(events, key=lambda e: (e.timestamp_ns, e.sequence))
        prev = (-1, -1)
        for e in ordered:
            key = (e.timestamp_ns, e.sequence)
            if key <= prev:
                raise AssertionError("reference replay order is not monotonic")
            prev = key
        return n

    def ours() -> int:
        seq = np.arange(n, dtype=np.int64)
        ts = base + (n - seq) * step
        close = 100.0 + 0.01 * seq
        batch = BarBatch(("BTCUSDT",), ts, np.zeros(n, np.int32), close, close, close, close, np.full(n, 1000.0), seq)
        ordered = batch.take(replay_order(batch.ts, batch.sequence))
        if not is_replay_ordered(ordered.ts, ordered.sequence):
            raise AssertionError("replay order is not monotonic")
        return n

    return _side_by_side("replay_sort_events_per_sec", reference, ours, args.repeats)


def bench_metric_eval(args: argparse.Namespace) -> dict[str, float]:
    """The metric workload (Sharpe, CAGR, max drawdown of one fixed curve) at --bars, --evals times:
    the kernels' fused single-pass numba path against the original plain three-pass implementation
    (``numba_backend.reference_three_pass``, one call per eval, as in benchmark_optimization_kernel),
    alternated in one run; both compiled before timing and checked to agree."""
    from lq_engine.kernels.backends import metric_batch, numba_backend
    from lq_engine.prefilter.bench import reference_curve

    equity = reference_curve(args.bars)
    expected = numba_backend.reference_three_pass(equity, 252.0)
    fused = metric_batch("numba", equity, 2)
    if not np.allclose(fused, np.tile(expected, (2, 1)), rtol=1e-12, atol=0.0):
        raise AssertionError(f"fused metric path {fused[0]} != three-pass reference {expected}")

    def reference() -> int:
        three_pass = numba_backend.reference_three_pass
        for _ in range(args.evals):
            three_pass(equity, 252.0)
        return args.evals

    def ours() -> int:
        metric_batch("numba", equity, args.evals)
        return args.evals

    out = _side_by_side("metric_eval_per_sec", reference, ours, args.repeats)
    import numba  # the fused batch runs its evals on numba's threads; the per-core figure, for honesty:

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        out["metric_eval_1thread_per_sec"] = _median_rate(ours, args.repeats)
    finally:
        numba.set_num_threads(threads)
    out["metric_eval_1thread_per_sec_speedup"] = (out["metric_eval_1thread_per_sec"]
                                                  / out["reference_metric_eval_per_sec"])
    out["metric_eval_threads"] = float(threads)
    return out


def _replay_inputs(n: int):
    from lq_engine.execution.config import ExecutionConfig
    from lq_engine.data.bars import Bars
    from lq_engine.execution.sizing import BracketSpec

    rng = np.random.default_rng(42)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    op = np.concatenate(([close[0]], close[:-1]))
    hi = np.maximum(op, close) * (1.0 + np.abs(rng.normal(0.0, 0.0005, n)))
    lo = np.minimum(op, close) * (1.0 - np.abs(rng.normal(0.0, 0.0005, n)))
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    series = Bars.from_arrays("SYNTHETIC", ts, op, hi, lo, close, rng.uniform(1e5, 1e6, n))  # the cap binds rarely
    params = {"fast": 10, "slow": 40, "side": "both"}
    return series, params, ExecutionConfig(), BracketSpec(stop_loss=0.01, take_profit=0.02, trailing=0.015)


def bench_replay(args: argparse.Namespace) -> dict[str, float]:
    """Full replay (all costs, liquidity cap, SL/TP/trailing brackets) of MA cross long/short over
    --bars synthetic bars; the compiled execution loop only (indicators, decisions and compile excluded)."""
    from lq_engine.replay import kernel as K
    from lq_engine.replay.engine import config_vector, no_exits, replay
    from lq_engine.strategies import resolve

    series, params, cfg, br = _replay_inputs(args.bars)
    d = resolve("ma_cross").decisions(params, series)
    vec = config_vector(cfg, br)
    exits = no_exits(series.n)
    fills = len(replay("ma_cross", params, series, cfg, br).fills)  # also compiles

    def go() -> int:
        eq = np.empty(series.n)
        expo = np.empty(series.n)
        K.replay_loop(series.ts, series.open, series.high, series.low, series.close, series.volume, d.targets, exits,
                      vec, 100_000.0, eq, expo)
        return series.n

    return {"replay_bars_per_sec": _median_rate(go, args.repeats), "replay_fills": float(fills)}


def bench_event_engine(args: argparse.Namespace) -> dict[str, float]:
    """The same run through the event engine (bus, cache, venue, portfolio); fills must equal the replay's."""
    from lq_engine.replay.engine import replay
    from lq_engine.replay.event_engine import EventEngine, PrecomputedDecider

    series, params, cfg, br = _replay_inputs(args.bars)
    expected = len(replay("ma_cross", params, series, cfg, br).fills)
    decider = PrecomputedDecider("ma_cross", params, series)
    fills = [0]

    def go() -> int:
        engine = EventEngine(series.symbol, decider, cfg, br).run(series)
        fills[0] = len(engine.fills)
        if fills[0] != expected:
            raise AssertionError(f"event engine made {fills[0]} fills, the replay {expected}")
        return series.n

    return {"event_engine_bars_per_sec": _median_rate(go, args.repeats), "event_engine_fills": float(fills[0])}


BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {
    "metric_eval": bench_metric_eval,
    "replay": bench_replay,
    "event_engine": bench_event_engine,
    "bus": bench_bus,
    "cache": bench_cache,
    "replay_sort": bench_replay_sort,
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bars", type=int, default=15000)
    p.add_argument("--evals", type=int, default=1500)
    p.add_argument("--messages", type=int, default=100000)
    p.add_argument("--updates", type=int, default=50000)
    p.add_argument("--events", type=int, default=50000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    p.add_argument("--json", action="store_true", help="also print a one-line JSON summary")
    args = p.parse_args(argv)
    results: dict[str, float] = {}
    for name, bench in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        figures = bench(args)
        for key, value in figures.items():
            print(f"{key}={value:.6g}" if "speedup" in key else f"{key}={value:.0f}", flush=True)
        results.update(figures)
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in results.items()}))


if __name__ == "__main__":
    main()
