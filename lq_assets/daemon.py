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
"""

from __future__ import annotations

HEARTBEAT_TTL_S = 180
BACKFILL_INTERVAL_S = 5


def main() -> None:
    import dagster._daemon.controller as controller

    from lq_assets.sqlite_speed import fast_sqlite_writes

    fast_sqlite_writes()  # the runs its sensors launch record their planned events here (one per partition)

    controller.DAEMON_GRPC_SERVER_HEARTBEAT_TTL = HEARTBEAT_TTL_S  # read when the daemon makes its registry
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = BACKFILL_INTERVAL_S  # read when the backfill loop starts
    from lq_assets.code_server import use_for_code_servers

    use_for_code_servers()
    from dagster._daemon.cli import main as daemon_main

    daemon_main()


if __name__ == "__main__":
    main()
