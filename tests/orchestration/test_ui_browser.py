"""The real webserver (`lq ui`) in headless Chromium: the asset graph shows every asset.

Screenshots are kept in artifacts/ui/ (git-ignored) for a person to look at.
"""

import re
import shutil
import subprocess

from lq_assets.definitions import defs
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import BIN, free_port, start, stop, wait_for, webserver_up

ARTIFACTS = REPO_ROOT / "artifacts" / "ui"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1600,1000", "--virtual-time-budget=25000",
]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Chromium is needed for the UI test: apt-get install chromium (.ci/run installs it)"
    return exe


def _browse(url: str, profile, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True, text=True, timeout=180,
    )


def _terminal_assets() -> list[str]:
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    return sorted(k.to_user_string() for k in keys if not graph.get(k).child_keys)


def test_asset_graph_shows_every_asset(data_paths, dagster_home, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = tmp_path / "ui.log"
    proc = start([str(BIN / "lq"), "ui", "--port", str(port)], lq_env(data_paths, dagster_home), log)
    try:
        wait_for(lambda: webserver_up(port), 180, "the webserver", log)
        base = f"http://127.0.0.1:{port}"
        shot = ARTIFACTS / "asset_lineage.png"
        every = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
        seen: set[str] = set()
        for i, asset in enumerate(_terminal_assets()):
            url = f"{base}/assets/{asset}?view=lineage&lineageScope=upstream&lineageDepth=10"
            dom = _browse(url, tmp_path / f"profile{i}", "--dump-dom").stdout
            seen |= {a for a in every if re.search(rf"\b{a}\b", dom)}
            assert 'role="dialog"' not in dom and "bp5-overlay-open" not in dom, "a pop-up covers the page"
            _browse(url, tmp_path / f"shot{i}", f"--screenshot={ARTIFACTS / f'lineage_{asset}.png'}")
        assert seen == every, f"assets missing from the graph: {sorted(every - seen)}"
        r = _browse(f"{base}/asset-groups", tmp_path / "global", f"--screenshot={shot}")
        assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    finally:
        stop(proc, timeout=60)
