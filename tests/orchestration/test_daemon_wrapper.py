"""``python -m lq_assets.daemon``: the daemon lq starts gives its code servers a longer heartbeat limit
than Dagster's 20 s, so that a busy machine does not make them refuse runs, and replaces them when
the code location changed instead of every 60 s (issue 25)."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import dagster._daemon.controller as controller


def test_the_daemon_runs_with_a_longer_code_server_heartbeat_limit(monkeypatch):
    from lq_assets import daemon

    monkeypatch.setattr(controller, "DAEMON_GRPC_SERVER_HEARTBEAT_TTL", 20)  # Dagster's own (restored after)
    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", 30)
    monkeypatch.setattr(controller.DagsterDaemonController, "check_workspace_freshness",
                        controller.DagsterDaemonController.check_workspace_freshness)  # restored after
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


def _reloads(monkeypatch, tmp_path):
    """The wrapper's freshness check over a project in ``tmp_path``, with a stock method that records
    each reload; returns (check, reloads, config file)."""
    from lq_assets import daemon

    config = tmp_path / "luminaquant.toml"
    config.write_text("[universes.a]\nsymbols = ['X']\ntimeframe = '1m'\n")
    monkeypatch.setenv("LQ_PROJECT", str(tmp_path))
    reloads = []

    def stock(self, last):
        reloads.append(last)
        return time.time()

    monkeypatch.setattr(controller.DagsterDaemonController, "check_workspace_freshness", stock)
    monkeypatch.setattr(daemon, "CHECK_S", 0.0)
    daemon.reload_on_change(None)
    return controller.DagsterDaemonController.check_workspace_freshness, reloads, config


def test_the_daemon_keeps_its_code_servers_while_nothing_changed(monkeypatch, tmp_path):
    """The stock daemon replaced its code servers every 60 s (a new server: ~4 CPU-s of imports and a
    new run forkserver); the wrapper keeps them until the files they were built from change."""
    check, reloads, config = _reloads(monkeypatch, tmp_path)
    me = SimpleNamespace(_grpc_server_registry=SimpleNamespace(_active_entries={}))
    long_ago = time.time() - 120  # the stock rule would reload now (> 60 s)
    assert check(me, long_ago) == long_ago and reloads == []
    config.write_text(config.read_text() + "[universes.b]\nsymbols = ['Y']\ntimeframe = '1m'\n")
    fresh = check(me, long_ago)  # a new universe is a new partition: reload
    assert len(reloads) == 1 and fresh > long_ago
    assert check(me, fresh) == fresh and len(reloads) == 1  # once per change


def test_the_daemon_replaces_a_dead_code_server_and_reloads_at_least_every_max_interval(monkeypatch, tmp_path):
    from dagster._core.remote_representation.grpc_server_registry import ErrorRegistryEntry

    from lq_assets import daemon

    check, reloads, _ = _reloads(monkeypatch, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    entry = SimpleNamespace(process=SimpleNamespace(_server_process=dead))
    me = SimpleNamespace(_grpc_server_registry=SimpleNamespace(_active_entries={"loc": entry}))
    check(me, time.time())
    assert len(reloads) == 1  # its server exited
    failed = ErrorRegistryEntry(error=None, loadable_target_origin=None, creation_timestamp=0.0)
    me._grpc_server_registry._active_entries = {"loc": failed}
    check(me, time.time())
    assert len(reloads) == 2  # its server failed to load (a broken luminaquant.toml, since fixed?)
    me._grpc_server_registry._active_entries = {}
    check(me, time.time() - daemon.MAX_RELOAD_S - 1)
    assert len(reloads) == 3


def test_the_stock_freshness_check_is_the_one_the_wrapper_replaces():
    """The wrapper relies on the controller calling ``check_workspace_freshness`` each loop with the
    last reload time, and on the registry's ``_active_entries``: a Dagster upgrade that changes either
    fails here, not silently in production."""
    import inspect

    from dagster._core.remote_representation.grpc_server_registry import GrpcServerRegistry

    loop = inspect.getsource(controller.DagsterDaemonController.check_daemon_loop)
    assert "self.check_workspace_freshness(" in loop
    stock = inspect.getsource(controller.DagsterDaemonController.check_workspace_freshness)
    assert "RELOAD_WORKSPACE_INTERVAL" in stock
    assert "_active_entries" in inspect.getsource(GrpcServerRegistry.clear_all_grpc_endpoints)
