"""The real webserver (`lq ui`) in headless Chromium: the asset graph shows every asset (the fetch
asset ``exchange_bars`` of `lq fetch` too), and the automation page the nightly schedules and sensors.

Screenshots are kept in artifacts/ui/ (git-ignored) for a person to look at.
"""

import re
import shutil
import subprocess

from lq_assets.definitions import defs
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import BIN, free_port, start, stop, wait_for, webserver_up
import dagster as dg
import pytest

pytestmark = pytest.mark.slow  # starts Dagster processes (the fast lane: -m "not slow")

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


def _browse(url: str, profile, *extra: str, height: int = 1000) -> subprocess.CompletedProcess:
    flags = [f"--window-size=1600,{height}" if f.startswith("--window-size") else f for f in CHROMIUM_FLAGS]
    return subprocess.run(
        [_chromium(), *flags, f"--user-data-dir={profile}", *extra, url],
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
        graph = defs.resolve_asset_graph()
        for i, asset in enumerate(_terminal_assets()):
            url = f"{base}/assets/{asset}?view=lineage&lineageScope=upstream&lineageDepth=10"
            lineage = {k.to_user_string() for k in graph.get_ancestor_asset_keys(dg.AssetKey.from_user_string(asset))}
            for attempt in range(3):  # a busy machine may not lay the graph out within the virtual-time budget
                dom = _browse(url, tmp_path / f"profile{i}-{attempt}", "--dump-dom").stdout
                shown = {a for a in every if re.search(rf"\b{a}\b", dom)}
                if lineage <= shown:
                    break
            seen |= shown
            assert 'role="dialog"' not in dom and "bp5-overlay-open" not in dom, "a pop-up covers the page"
            _browse(url, tmp_path / f"shot{i}", f"--screenshot={ARTIFACTS / f'lineage_{asset}.png'}")
        assert seen == every, f"assets missing from the graph: {sorted(every - seen)}"
        assert "exchange_bars" in seen  # what `lq fetch` does, nightly (lq_assets/market/fetch.py)
        r = _browse(f"{base}/asset-groups", tmp_path / "global", f"--screenshot={shot}")
        assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]

        # the automation page lists the nightly fetch beside the nightly optimization and the sensors
        automation = {"nightly_fetch", "nightly_optimization", "landing_sensor"}
        for attempt in range(3):
            dom = _browse(f"{base}/automation", tmp_path / f"automation{attempt}", "--dump-dom").stdout
            if all(name in dom for name in automation):
                break
        assert all(name in dom for name in automation), sorted(n for n in automation if n not in dom)
        shot = ARTIFACTS / "automation.png"
        r = _browse(f"{base}/automation", tmp_path / "automation-shot", f"--screenshot={shot}")
        assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    finally:
        stop(proc, timeout=60)


def test_the_report_renders_offline_from_a_copy_of_its_folder(tmp_path):
    """The report folder copied elsewhere renders in Chromium with no network: the index shows the
    leaderboard with its verdicts and links to each page; a page shows its title, its table of
    contents and its charts, the interactive ones drawn by the folder's own plotly.min.js (plotly
    built its SVG) and the images inline (the charts' blue is on the screenshot). Both are kept as
    screenshots in artifacts/ui/ (report_index.png, report_page.png)."""
    import numpy as np
    from matplotlib.image import imread

    from lq_engine.optimize import build_report, optimize
    from tests.optimize.data import MA, small_config, small_dataset

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    built = build_report([optimize(small_dataset(), MA, small_config())], tmp_path / "rep")
    copy = tmp_path / "elsewhere" / "report"
    shutil.copytree(built.index.parent, copy)
    index, page = copy / "index.html", copy / "syn_3x3d" / "ma_cross.html"
    proxy = ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]  # any network request would fail

    dom = _browse(index.as_uri(), tmp_path / "dom-index", *proxy, "--dump-dom").stdout
    assert "LuminaQuant optimization report" in dom and "vs benchmark" in dom, dom[:2000]
    assert 'href="syn_3x3d/ma_cross.html"' in dom and "synthetic data" in dom  # the row, its link, its verdict
    shot = ARTIFACTS / "report_index.png"
    r = _browse(index.as_uri(), tmp_path / "shot-index", *proxy, f"--screenshot={shot}", height=900)
    assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]

    dom = _browse(page.as_uri(), tmp_path / "dom-page", *proxy, "--dump-dom").stdout
    assert "<title>syn_3x3d / ma_cross [SYNTHETIC]: LuminaQuant optimization</title>" in dom, dom[:2000]
    assert "Reading this result" in dom and 'href="../index.html"' in dom and 'href="#equity"' in dom
    for chart in ("chart-equity", "chart-benchmark", "chart-drawdown"):  # plotly drew each, offline
        assert re.search(f'<div id="{chart}" class="chart js-plotly-plot"[^>]*><div class="plot-container', dom), chart
    assert dom.count('<img src="data:image/png;base64,') >= 1  # the exposure (and search) images, inline
    shot = ARTIFACTS / "report_page.png"
    r = _browse(page.as_uri(), tmp_path / "shot-page", *proxy, f"--screenshot={shot}", height=3400)
    px = imread(shot)[..., :3]
    blue = np.all(np.abs(px - np.array([0x1F, 0x77, 0xB4]) / 255) < 0.06, axis=-1).sum()  # validation / matplotlib C0
    assert blue > 300, (blue, r.stderr[-2000:])
