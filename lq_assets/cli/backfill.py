"""``lq backfill``: a real Dagster asset backfill in the instance, executed by the daemon."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED", "FAILING"}
HEARTBEAT_FRESH_S = 60.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backfill",
        help="launch an asset backfill (run by the Dagster daemon)",
        description="Launch an asset backfill in the Dagster instance. For market_bars give a month "
        "range (and optionally symbols; default: every registered symbol); for a universe-partitioned "
        "asset give --partitions. The daemon (`lq ui`) runs it; with --wait this command waits for the "
        "outcome, starting a daemon for the duration if none is running.",
    )
    p.add_argument("asset", nargs="+", help="asset key(s) sharing one partitioning, e.g. market_bars, "
                   "frozen_dataset, or prefilter_rankings replay_results")
    p.add_argument("--from", dest="start", help="first month YYYY-MM (market_bars)")
    p.add_argument("--to", dest="end", help="last month YYYY-MM (market_bars)")
    p.add_argument("--symbols", nargs="+", help="symbols (market_bars); default all registered")
    p.add_argument("--partitions", nargs="+", help="partition keys (other partitioned assets), e.g. "
                   "us_stocks_daily or 'us_stocks_daily|ma_cross'")
    p.add_argument("--wait", action="store_true", help="wait for the backfill and report the outcome")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait at most (default 1800)")
    p.set_defaults(func=run)


def partition_names(asset: str, args: argparse.Namespace, instance) -> list[str]:
    import dagster as dg

    from lq_assets.partitions import MONTHS, SYMBOLS, market_key

    if asset == "market_bars":
        if not (args.start and args.end):
            raise ValueError("market_bars needs --from YYYY-MM and --to YYYY-MM")
        try:
            months = MONTHS.get_partition_keys_in_range(dg.PartitionKeyRange(args.start, args.end))
        except Exception as e:  # dagster raises several types for a bad key
            raise ValueError(f"--from/--to: {e}") from None
        known = list(instance.get_dynamic_partitions(SYMBOLS.name))
        symbols = args.symbols or known
        unknown = sorted(set(symbols) - set(known))
        if unknown:
            raise ValueError(f"--symbols: not registered (ingest data for them first): {', '.join(unknown)}")
        if not symbols:
            raise ValueError("no symbols registered yet: ingest data first (lq demo / lq ingest)")
        return [str(market_key(s, m)) for s in symbols for m in months]
    if not args.partitions:
        raise ValueError(f"{asset} needs --partitions KEY [KEY ...]")
    return list(args.partitions)


def daemon_alive(instance) -> bool:
    beats = instance.get_daemon_heartbeats()
    beat = beats.get("BACKFILL")
    return bool(beat) and time.time() - beat.timestamp < HEARTBEAT_FRESH_S


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step

    setup(args.verbose)
    import dagster as dg
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    from lq_assets.definitions import defs

    from lq_assets.partitions import register_strategies

    graph = defs.resolve_asset_graph()
    keys = [dg.AssetKey.from_user_string(a) for a in args.asset]
    for a, key in zip(args.asset, keys):
        if not graph.has(key):
            raise ValueError(f"unknown asset {a!r}; assets: {', '.join(k.to_user_string() for k in graph.get_all_asset_keys())}")
    parts = {graph.get(k).partitions_def for k in keys}
    if len(parts) > 1:
        raise ValueError(f"{', '.join(args.asset)}: a backfill here takes assets with one partitioning")
    with dg.DagsterInstance.get() as instance:
        register_strategies(instance)  # the strategy dimension knows every strategy of the project
        names = partition_names(args.asset[0], args, instance)
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id=make_new_backfill_id(),
            asset_graph=graph,
            partition_names=names,
            asset_selection=keys,
            backfill_timestamp=time.time(),
            tags={"lq/launched_by": "lq-backfill"},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=f"lq backfill {' '.join(args.asset)}",
            description=" ".join(sys.argv[1:]),
            run_config=None,
        )
        instance.add_backfill(backfill)
        step(f"backfill {backfill.backfill_id}: {' '.join(args.asset)}, {len(names)} partition(s) requested")
        if not args.wait:
            if not daemon_alive(instance):
                step("no daemon is running: start `lq ui` (or `dagster-daemon run -w workspace.yaml`) to execute it")
            return 0
        daemon = None
        if not daemon_alive(instance):
            step("starting dagster-daemon for the duration of the backfill")
            exe = Path(sys.executable).parent / "dagster-daemon"
            from lq_assets.cli.environment import workspace

            ws, root = workspace()  # the project's workspace.yaml, run from the project's root
            daemon = subprocess.Popen([str(exe), "run", "-w", str(ws)], cwd=root)
        try:
            status = wait(instance, backfill.backfill_id, args.timeout, step)
        finally:
            if daemon is not None:
                daemon.terminate()
                daemon.wait(timeout=30)
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        for r in runs:
            step(f"  run {r.run_id[:8]} {r.status.value} {r.tags.get('dagster/partition', '')}".rstrip())
            if r.status != dg.DagsterRunStatus.SUCCESS:
                for msg in step_failures(instance, r.run_id):
                    step(f"    {msg}")
        ok = status in ("COMPLETED", "COMPLETED_SUCCESS") and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        step(f"backfill {backfill.backfill_id} {status}: {len(runs)} run(s), {'succeeded' if ok else 'FAILED'}")
        return 0 if ok else 1


def step_failures(instance, run_id: str) -> list[str]:
    """'step: message' of each failed step of a run (the user's exception under Dagster's wrappers)."""
    from lq_assets.launch import _root_message

    out = []
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is not None and ev.is_step_failure and getattr(ev.event_specific_data, "error", None):
            out.append(f"{ev.step_key}: {_root_message(ev.event_specific_data.error)}")
    return out


def wait(instance, backfill_id: str, timeout: float, step) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        b = instance.get_backfill(backfill_id)
        status = b.status.value
        if status != last:
            step(f"backfill {backfill_id}: {status}")
            last = status
        if status in TERMINAL and status != "FAILING":
            return status
        time.sleep(2)
    raise RuntimeError(f"backfill {backfill_id} did not finish within {timeout:.0f}s")
