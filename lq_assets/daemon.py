"""``python -m lq_assets.daemon run -w WORKSPACE``: dagster-daemon (same arguments) whose code servers
wait longer for its heartbeat before they shut down.

The daemon starts a code server and pings it; a server that hears nothing for 20 s (Dagster's
``DAEMON_GRPC_SERVER_HEARTBEAT_TTL``, not configurable) stops taking runs and shuts down once its
runs end. On a busy 2-core machine (a CPU hog beside the scheduler) the daemon's pings came late, the
server stopped taking runs, and every launch until the daemon replaced it failed with "Tried to
start a run on a server after telling it to shut down": a backfill lost runs before any step ran
(scale-out benchmark, issue 25). The run retries fired at once, against the same server, and failed
too. Here the limit is ``HEARTBEAT_TTL_S``; a server whose daemon is gone still stops after it.

Its backfill daemon also looks at the backfills every ``BACKFILL_INTERVAL_S`` instead of Dagster's
30 s: each level of an asset backfill (ingest, freeze, optimize, report) and its end waited up to
30 s for the next look after its runs had finished (`lq backfill --wait` of two partitions: 30 s of
its 80 s; ``DEFAULT_DAEMON_INTERVAL_SECONDS`` is read by the backfill loop when it starts).

And it replaces its code servers when the code location could have changed, not every minute. The
stock daemon discards them every 60 s (``RELOAD_WORKSPACE_INTERVAL``) and starts new ones: each new
server imports the definitions (~4 CPU-s) and, at its first run, starts its run forkserver
(``lq_assets.code_server``): on a 2-core machine that took a few CPU-seconds a minute from the steps
of a scale-out backfill (benchmark, issue 25). Here the workspace is reloaded when the files the
definitions are built from changed (``code_fingerprint``: luminaquant.toml, the workspace file, the
sources of lq_assets and lq_engine; strategy files are a dynamic partition and need no reload), when
a code server died or failed to load, and at the latest every ``MAX_RELOAD_S``. A change is picked up
within ``CHECK_S`` (the stock daemon: up to 60 s).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

HEARTBEAT_TTL_S = 180
BACKFILL_INTERVAL_S = 5
CHECK_S = 5.0  # how often the daemon looks at the fingerprint and its code servers
MAX_RELOAD_S = 900.0  # a reload at least this often, whatever the fingerprint says


def _watched_files(workspace: Path | None) -> list[Path]:
    import lq_assets
    import lq_engine
    from lq_engine.project import find_project

    files: list[Path] = []
    for pkg in (lq_assets, lq_engine):
        root = Path(pkg.__file__).resolve().parent
        files.extend(sorted(root.rglob("*.py")))
    try:
        files.append(find_project().config_path)
    except Exception:  # no project: the definitions then fail to load, and that error entry is retried
        pass
    if workspace is not None:
        files.append(workspace)
    return files


def code_fingerprint(files: list[Path]) -> tuple:
    """(path, mtime_ns, size) of every file the code location is built from (a missing file counts)."""
    out = []
    for f in files:
        try:
            st = os.stat(f)
            out.append((str(f), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(f), None, None))
    return tuple(out)


def servers_unhealthy(registry: Any) -> bool:
    """Whether a code server of the daemon's registry failed to start or has exited."""
    from dagster._core.remote_representation.grpc_server_registry import ErrorRegistryEntry

    if registry is None:
        return False
    for entry in list(registry._active_entries.values()):
        if isinstance(entry, ErrorRegistryEntry):
            return True
        proc = getattr(entry.process, "_server_process", None)
        if proc is not None and proc.poll() is not None:
            return True
    return False


def reload_due(changed: bool, unhealthy: bool, age_s: float) -> bool:
    """The reload rule: a changed fingerprint, a dead or failed code server, or ``MAX_RELOAD_S`` passed."""
    return changed or unhealthy or age_s > MAX_RELOAD_S


def _workspace_arg(argv: list[str]) -> Path | None:
    for flag in ("-w", "--workspace"):
        if flag in argv[:-1]:
            return Path(argv[argv.index(flag) + 1]).resolve()
    return None


def reload_on_change(workspace: Path | None) -> None:
    """Replace ``DagsterDaemonController.check_workspace_freshness`` (called every loop of the daemon
    controller) by the rule of ``reload_due``; the reload itself is the stock one."""
    import dagster._daemon.controller as controller

    files = _watched_files(workspace)
    state = {"fingerprint": code_fingerprint(files), "checked": 0.0}
    stock = controller.DagsterDaemonController.check_workspace_freshness

    def check_workspace_freshness(self: Any, last_workspace_update_time: float) -> float:
        now = time.time()
        if now - state["checked"] < CHECK_S:
            return last_workspace_update_time
        state["checked"] = now
        fp = code_fingerprint(files)
        changed = fp != state["fingerprint"]
        unhealthy = servers_unhealthy(self._grpc_server_registry)
        if not reload_due(changed, unhealthy, now - last_workspace_update_time):
            return last_workspace_update_time
        state["fingerprint"] = fp
        # the stock method reloads once its 60 s have passed: hand it a time just that old (also what
        # it weighs a failed reload against, so one failure is logged and retried, not fatal)
        return stock(self, now - controller.RELOAD_WORKSPACE_INTERVAL - 1)

    controller.DagsterDaemonController.check_workspace_freshness = check_workspace_freshness


def main() -> None:
    import dagster._daemon.controller as controller

    from lq_assets.sqlite_speed import fast_sqlite_writes

    fast_sqlite_writes()  # the runs its sensors launch record their planned events here (one per partition)

    controller.DAEMON_GRPC_SERVER_HEARTBEAT_TTL = HEARTBEAT_TTL_S  # read when the daemon makes its registry
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = BACKFILL_INTERVAL_S  # read when the backfill loop starts
    from lq_assets.code_server import use_for_code_servers

    use_for_code_servers()
    reload_on_change(_workspace_arg(sys.argv))
    from dagster._daemon.cli import main as daemon_main

    daemon_main()


if __name__ == "__main__":
    main()
