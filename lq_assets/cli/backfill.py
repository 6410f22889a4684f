"""``lq backfill``: a real Dagster asset backfill in the instance, executed by the daemon."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from lq_engine.errors import RunFailedError, UsageError

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


def partition_names(asset: str, args: argparse.Namespace, instance, partitions_def) -> list[str]:
    import dagster as dg

    from lq_assets.partitions import MONTHS, SYMBOLS, market_key

    if asset == "market_bars":
        try:
            months = MONTHS.get_partition_keys_in_range(dg.PartitionKeyRange(args.start, args.end))
        except Exception:  # checked as months already: out of the partitions' range (the future)
            last = MONTHS.get_last_partition_key()
            raise UsageError(f"--from/--to: months go from {MONTHS.get_first_partition_key()} to {last}") from None
        known = list(instance.get_dynamic_partitions(SYMBOLS.name))
        symbols = args.symbols or known
        unknown = sorted(set(symbols) - set(known))
        if unknown:
            raise UsageError(f"--symbols: not registered (ingest data for them first): {', '.join(unknown)}")
        if not symbols:
            raise UsageError("no symbols registered yet: ingest data first (lq demo / lq ingest)")
        return [str(market_key(s, m)) for s in symbols for m in months]
    if not args.partitions:
        raise UsageError(f"{asset} needs --partitions KEY [KEY ...]")
    if partitions_def is not None:
        known = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
        unknown = [k for k in args.partitions if k not in known]
        if unknown:
            shown = ", ".join(known[:12]) + (f" ... ({len(known)} in all)" if len(known) > 12 else "")
            raise UsageError(f"--partitions: unknown partition {', '.join(repr(k) for k in unknown)} of {asset}; "
                             f"partitions: {shown}")
    return list(args.partitions)


def daemon_alive(instance) -> bool:
    beats = instance.get_daemon_heartbeats()
    beat = beats.get("BACKFILL")
    return bool(beat) and time.time() - beat.timestamp < HEARTBEAT_FRESH_S


def check_inputs(args: argparse.Namespace) -> None:
    """What can be checked without Dagster: the month range of market_bars, dataset and strategy
    names in the partition keys of the universe-partitioned assets."""
    from lq_assets.cli.inputs import check_dataset, check_month_range, check_strategies

    if args.asset == ["market_bars"] or "market_bars" in args.asset:
        args.start, args.end = check_month_range(args.start, args.end)
    for key in args.partitions or []:
        dataset, _, strategy = key.partition("|")
        check_dataset(dataset, "--partitions")
        if strategy:
            check_strategies([strategy], "--partitions")


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import Stages, log_dir, setup, step

    check_inputs(args)
    paths = setup(args.verbose)
    stages = Stages()
    with stages("loading Dagster definitions"):
        import dagster as dg
        from dagster._core.execution.backfill import PartitionBackfill
        from dagster._core.utils import make_new_backfill_id

        from lq_assets.definitions import defs
        from lq_assets.partitions import register_strategies

    graph = defs.resolve_asset_graph()
    keys = [dg.AssetKey.from_user_string(a) for a in args.asset]
    for a, key in zip(args.asset, keys):
        if not graph.has(key):
            known = ", ".join(sorted(k.to_user_string() for k in graph.get_all_asset_keys()))
            raise UsageError(f"unknown asset {a!r}; assets: {known}")
    parts = {graph.get(k).partitions_def for k in keys}
    if len(parts) > 1:
        raise UsageError(f"{', '.join(args.asset)}: a backfill here takes assets with one partitioning")
    with dg.DagsterInstance.get() as instance:
        register_strategies(instance)  # the strategy dimension knows every strategy of the project
        names = partition_names(args.asset[0], args, instance, next(iter(parts)))
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
        bid = backfill.backfill_id
        step(f"backfill {bid}: {' '.join(args.asset)}, {len(names)} partition(s) requested")
        if not args.wait:
            if not daemon_alive(instance):
                step("no daemon is running: start `lq ui` (or `dagster-daemon run -w workspace.yaml`) to execute it")
            return 0
        daemon: list[subprocess.Popen] = []

        named: set[int] = set()

        def ensure_daemon() -> None:
            """A daemon of our own if none is running (also when one stops while we wait). A daemon
            process of this DAGSTER_HOME without a fresh heartbeat (starting, or left from a killed
            `lq`) is named and no second one is started."""
            from lq_assets.cli.children import dagster_processes

            if not daemon and not daemon_alive(instance):
                other = dagster_processes(os.environ["DAGSTER_HOME"], "dagster-daemon")
                if other:
                    if {s.pid for s in other} - named:
                        step("a dagster-daemon of this DAGSTER_HOME is running without a fresh heartbeat: "
                             + ", ".join(map(str, other)) + "; not starting another (stop it if it hangs)")
                        named.update(s.pid for s in other)
                    return
                log = log_dir(paths) / f"daemon-backfill-{bid}.log"
                step(f"starting dagster-daemon for this backfill (sensors, schedules and automation off; log: {log})")
                daemon.append(start_daemon(log))

        try:
            ensure_daemon()
            with stages("waiting for the backfill", "one line per run as it ends"):
                status = wait(instance, bid, args.timeout, step, ensure_daemon)
        except BaseException:
            cancel(instance, bid)
            raise
        finally:
            if daemon:
                from lq_assets.cli.children import reap_watchdog

                stop_group(daemon[0])
                reap_watchdog(daemon[0])
                forget_heartbeats(instance)
                step("stopped the daemon and the processes it started")
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": bid}))
        retried = retried_runs(runs)  # failed runs that the instance ran again (run retries)
        runs_ok = all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs if r.run_id not in retried)
        ok = runs_ok and status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED")
        if runs_ok and status == "COMPLETED_FAILED":  # every run succeeded, some partition had nothing to write
            step("every run succeeded; some requested partitions were not materialized (a universe with no data "
                 "yet is skipped)")
        again = f" ({len(retried)} failed and retried)" if retried else ""
        step(f"backfill {bid} {status}: {len(runs)} run(s){again}, {'succeeded' if ok else 'FAILED'}")
        print(stages.summary())
        return 0 if ok else 1


def forget_heartbeats(instance) -> None:
    """Wipe the heartbeats of the daemon we just stopped, unless another daemon of this DAGSTER_HOME
    runs: left fresh, they made the next `lq backfill --wait` take them for a running daemon and wait
    up to ``HEARTBEAT_FRESH_S`` before starting its own (48 s of a back-to-back backfill)."""
    from lq_assets.cli.children import dagster_processes

    if not dagster_processes(os.environ["DAGSTER_HOME"], "dagster-daemon"):
        instance.wipe_daemon_heartbeats()


def retried_runs(runs) -> set[str]:
    """Ids of the runs among ``runs`` that failed and were run again by the instance's run retries
    (their retry is among ``runs`` too): the retry's outcome counts, not theirs."""
    ids = {r.run_id for r in runs}
    return {r.run_id for r in runs if r.tags.get("dagster/auto_retry_run_id") in ids}


def start_daemon(log: Path) -> subprocess.Popen:
    """A dagster-daemon for the duration of one backfill: in its own process group (so its code
    server and run workers stop with it), its output in ``log``, with the sensors, the schedule and
    declarative automation off (``LQ_AUTOMATION=off``): it runs the backfill and nothing else. Tied
    to this process: it and what it started stop if we are killed (SIGKILL included)."""
    from lq_assets.cli.children import start_tied
    from lq_assets.cli.environment import workspace

    env = {**os.environ, "LQ_AUTOMATION": "off"}
    ws, root = workspace()  # the project's workspace.yaml, run from the project's root
    with open(log, "ab") as fh:  # dagster-daemon, its code servers patient under load (lq_assets/daemon.py)
        return start_tied([sys.executable, "-m", "lq_assets.daemon", "run", "-w", str(ws)], cwd=root, env=env,
                          stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


STOP_TIMEOUT_S = 30.0


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (from /proc; empty where there is none)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def stop_group(proc: subprocess.Popen) -> None:
    """Stop the daemon and everything it started: SIGTERM to its process group and to every
    descendant (a code server may run in a group of its own), SIGKILL to what is left after
    STOP_TIMEOUT_S; returns when none of them is left."""
    import signal

    from lq_assets.runs import pid_alive

    procs = set(descendants(proc.pid))

    def left() -> list[int]:
        alive = [p for p in procs if pid_alive(p)]
        try:
            os.killpg(proc.pid, 0)
            group = True
        except ProcessLookupError:
            group = False
        return alive + ([proc.pid] if group or proc.poll() is None else [])

    for sig in (signal.SIGTERM, signal.SIGKILL):
        procs.update(descendants(proc.pid))
        for target in [proc.pid, *procs]:
            try:
                os.killpg(target, sig) if target == proc.pid else os.kill(target, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            proc.poll()
            if not left():
                return
            time.sleep(0.2)
    proc.wait()


def cancel(instance, backfill_id: str) -> None:
    """Interrupted or timed out: the backfill is canceled and its runs that have not started yet
    with it, so no run stays queued for a daemon that is gone."""
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus

    try:
        b = instance.get_backfill(backfill_id)
        if b is not None and b.status in (BulkActionStatus.REQUESTED,):
            instance.update_backfill(b.with_status(BulkActionStatus.CANCELED))
        for r in instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})):
            if r.status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
                instance.report_run_canceled(r, "lq backfill stopped waiting (interrupted or timed out)")
    except Exception as e:  # best effort: the original error matters more
        print(f"[lq] could not cancel backfill {backfill_id}: {e}", file=sys.stderr)


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def step_failures(instance, run_id: str) -> list[str]:
    """Why a run failed, one line each: 'step: message' of each failed step (the user's exception
    under Dagster's wrappers); for a run that failed with no step failure (a broker or store outage,
    a code server that timed out, a run worker that died), the run failure's error or message and
    any engine event that carries an error (Dagster keeps those only in the event log)."""
    from dagster import DagsterEventType

    from lq_assets.launch import _root_message

    steps, run, engine = [], [], []
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None:
            continue
        error = getattr(ev.event_specific_data, "error", None)
        if ev.is_step_failure and error is not None:
            steps.append(f"{ev.step_key}: {_one_line(_root_message(error))}")
        elif ev.event_type == DagsterEventType.RUN_FAILURE:
            text = _root_message(error) if error is not None else (ev.message or rec.user_message or "")
            if text:
                run.append(f"run failure: {_one_line(text)}")
        elif ev.event_type == DagsterEventType.ENGINE_EVENT and error is not None:
            engine.append(f"{ev.step_key or 'engine'}: {_one_line(_root_message(error))}")
    return steps or (engine + run) or ["no reason in the event log (see the run in `lq ui`)"]


def run_line(instance, rec) -> list[str]:
    """One line for a finished run (its partition or range, outcome, duration), plus its step failures."""
    r = rec.dagster_run
    span = (r.tags.get("dagster/asset_partition_range_start"), r.tags.get("dagster/asset_partition_range_end"))
    part = r.tags.get("dagster/partition") or "..".join(x for x in span if x)
    took = f"{rec.end_time - rec.start_time:6.1f}s" if rec.end_time and rec.start_time else "     -"
    retry = f"  (retry {r.tags['dagster/retry_number']} of run {r.parent_run_id[:8]})" \
        if r.tags.get("dagster/retry_number") and r.parent_run_id else ""
    lines = [f"run {r.run_id[:8]} {r.status.value:<8} {took}  {part}{retry}".rstrip()]
    if r.status != dg_success():
        lines += [f"    {msg}" for msg in step_failures(instance, r.run_id)]
    return lines


def dg_success():
    import dagster as dg

    return dg.DagsterRunStatus.SUCCESS


DAEMON_CHECK_S = 15.0


def wait(instance, backfill_id: str, timeout: float, step, ensure_daemon=None) -> str:
    """Poll until the backfill ends; one line per run when it finishes. Returns the backfill status.
    ``ensure_daemon`` is called every DAEMON_CHECK_S (a daemon that was running may stop meanwhile)."""
    import dagster as dg

    deadline = time.monotonic() + timeout
    reported: set[str] = set()
    checked = time.monotonic()
    while time.monotonic() < deadline:
        if ensure_daemon is not None and time.monotonic() - checked > DAEMON_CHECK_S:
            ensure_daemon()
            checked = time.monotonic()
        status = instance.get_backfill(backfill_id).status.value
        for rec in instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})):
            if rec.dagster_run.is_finished and rec.dagster_run.run_id not in reported:
                reported.add(rec.dagster_run.run_id)
                for line in run_line(instance, rec):
                    step(line)
        if status in TERMINAL and status != "FAILING":
            return status
        time.sleep(1)
    raise RunFailedError(f"backfill {backfill_id} did not finish within {timeout:.0f}s (canceled; its runs that had "
                         "not started were canceled too)")
