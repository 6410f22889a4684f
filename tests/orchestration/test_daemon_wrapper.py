"""``python -m lq_assets.daemon``: the daemon lq starts gives its code servers a longer heartbeat limit
than Dagster's 20 s, so that a busy machine does not make them refuse runs (issue 25)."""

from __future__ import annotations

import dagster._daemon.controller as controller


def test_the_daemon_runs_with_a_longer_code_server_heartbeat_limit(monkeypatch):
    from lq_assets import daemon

    monkeypatch.setattr(controller, "DAEMON_GRPC_SERVER_HEARTBEAT_TTL", 20)  # Dagster's own (restored after)
    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", 30)
    seen = {}

    def fake_daemon_main():  # what the registry the daemon builds and its backfill loop will read
        seen["ttl"] = controller.DAEMON_GRPC_SERVER_HEARTBEAT_TTL
        seen["backfill"] = controller.DEFAULT_DAEMON_INTERVAL_SECONDS

    monkeypatch.setattr("dagster._daemon.cli.main", fake_daemon_main)
    daemon.main()
    assert seen["ttl"] == daemon.HEARTBEAT_TTL_S and daemon.HEARTBEAT_TTL_S > 60
    # the backfill loop looks every few seconds, not every 30 s (each backfill level waited for it)
    assert seen["backfill"] == daemon.BACKFILL_INTERVAL_S <= 5


def test_the_backfill_loop_reads_its_interval_when_it_starts():
    """The wrapper sets the interval on the controller module; the backfill loop must read it from
    there at its start (Dagster's import inside the function), or the setting does nothing."""
    import inspect

    from dagster._daemon import backfill

    src = inspect.getsource(backfill.execute_backfill_iteration_loop)
    assert "from dagster._daemon.controller import DEFAULT_DAEMON_INTERVAL_SECONDS" in src
    assert "DEFAULT_DAEMON_INTERVAL_SECONDS - loop_duration" in src


def test_lq_starts_the_daemon_through_the_wrapper_and_still_finds_it_as_a_daemon():
    import inspect

    from lq_assets.cli import backfill, ui
    from lq_assets.cli.children import KINDS

    assert '"lq_assets.daemon"' in inspect.getsource(backfill.start_daemon)
    assert '"lq_assets.daemon"' in inspect.getsource(ui)
    assert "lq_assets.daemon" in KINDS["dagster-daemon"]  # stale-process checks see it
