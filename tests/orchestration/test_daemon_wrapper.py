"""``python -m lq_assets.daemon``: the daemon lq starts gives its code servers a longer heartbeat limit
than Dagster's 20 s, so that a busy machine does not make them refuse runs (issue 25)."""

from __future__ import annotations

import dagster._daemon.controller as controller


def test_the_daemon_runs_with_a_longer_code_server_heartbeat_limit(monkeypatch):
    from lq_assets import daemon

    monkeypatch.setattr(controller, "DAEMON_GRPC_SERVER_HEARTBEAT_TTL", 20)  # Dagster's own (restored after)
    seen = {}

    def fake_daemon_main():  # what the registry the daemon builds will read
        seen["ttl"] = controller.DAEMON_GRPC_SERVER_HEARTBEAT_TTL

    monkeypatch.setattr("dagster._daemon.cli.main", fake_daemon_main)
    daemon.main()
    assert seen["ttl"] == daemon.HEARTBEAT_TTL_S and daemon.HEARTBEAT_TTL_S > 60


def test_lq_starts_the_daemon_through_the_wrapper_and_still_finds_it_as_a_daemon():
    import inspect

    from lq_assets.cli import backfill, ui
    from lq_assets.cli.children import KINDS

    assert '"lq_assets.daemon"' in inspect.getsource(backfill.start_daemon)
    assert '"lq_assets.daemon"' in inspect.getsource(ui)
    assert "lq_assets.daemon" in KINDS["dagster-daemon"]  # stale-process checks see it
