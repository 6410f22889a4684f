"""The package as a user gets it: `uv build` makes a wheel, a fresh virtual environment outside the
repository installs it, and `lq init`, `lq demo` and `lq sql` work in a new project there, writing
nothing into the installed package or the repository.

One wheel, one environment and one project are shared by the tests of this module. The install
uses uv's cache (`--offline`), and the index the repository's uv is configured with only when the
cache lacks something; versions are pinned to uv.lock.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from lq_engine.project import CHECKOUT_ROOT

pytestmark = pytest.mark.slow

UV = shutil.which("uv")


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=CHECKOUT_ROOT,
                          capture_output=True, text=True, check=True).stdout


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


class Installed:
    def __init__(self, base: Path):
        self.base = base
        self.dist = base / "dist"
        self.venv = base / "venv"
        self.cache = base / "user-cache"
        self.project = base / "proj"
        self.timings: dict[str, float] = {}

    @property
    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages"))

    @property
    def wheel(self) -> Path:
        return next(self.dist.glob("luminaquant-*.whl"))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("LQ_", "DAGSTER_", "NUMBA_", "UV_PROJECT", "VIRTUAL_ENV", "PYTHON"))}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["XDG_CACHE_HOME"] = str(self.cache)  # the user's cache: native builds and numba's cache
        env["MPLCONFIGDIR"] = str(self.cache / "matplotlib")
        return env

    def lq(self, *args: str, cwd: Path, timeout: float = 1200) -> subprocess.CompletedProcess:
        t0 = time.perf_counter()
        res = subprocess.run([str(self.venv / "bin" / "lq"), *args], cwd=cwd, env=self.env(), capture_output=True,
                             text=True, timeout=timeout)
        self.timings[f"lq {args[0]}"] = time.perf_counter() - t0
        return res


def _uv(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([UV, *args], cwd=cwd, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    if UV is None:
        pytest.fail("uv is not on PATH (the README's install step): cannot build the wheel")
    inst = Installed(tmp_path_factory.mktemp("wheel"))
    assert not inst.base.resolve().is_relative_to(CHECKOUT_ROOT.resolve())
    inst.git_before = _git_status()
    t0 = time.perf_counter()
    res = _uv("build", "--wheel", "--quiet", "-o", str(inst.dist), cwd=CHECKOUT_ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    inst.timings["uv build"] = time.perf_counter() - t0
    uv_env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    res = _uv("venv", "--quiet", "--python", sys.executable, str(inst.venv), cwd=inst.base, env=uv_env)
    assert res.returncode == 0, res.stderr[-3000:]
    pins = inst.base / "constraints.txt"  # the locked versions (all in uv's cache after `uv sync`)
    res = _uv("export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet", "-o", str(pins),
              cwd=CHECKOUT_ROOT, env=uv_env)
    assert res.returncode == 0, res.stderr[-3000:]
    t0 = time.perf_counter()
    install = ["pip", "install", "--quiet", "--python", str(inst.venv / "bin" / "python"), "--compile-bytecode",
               "-c", str(pins), str(inst.wheel)]
    res = _uv(*install[:2], "--offline", *install[2:], cwd=inst.base, env=uv_env)
    inst.offline = res.returncode == 0
    if not inst.offline:  # the cache lacks an index page or a file: the configured index has it
        res = _uv(*install, cwd=inst.base, env=uv_env)
    assert res.returncode == 0, res.stderr[-3000:]
    inst.timings["uv pip install"] = time.perf_counter() - t0
    inst.package_before = {name: _tree(inst.site_packages / name) for name in ("lq_engine", "lq_assets")}
    yield inst
    print(f"\nwheel {inst.wheel.name}: {inst.wheel.stat().st_size / 1e6:.2f} MB; install "
          f"{'offline from the cache' if inst.offline else 'from the index'}; timings "
          + ", ".join(f"{k} {v:.1f}s" for k, v in inst.timings.items()))


def test_the_wheel_carries_native_sources_bundled_data_and_templates(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for f in ("native/c/lq_kernels.c", "native/cpython/lq_cachestore.c", "native/rust/Cargo.toml",
              "native/rust/Cargo.lock", "native/rust/src/lib.rs", "dagster_home/dagster.yaml",
              "dagster_home/distributed/dagster.yaml", "workspace.yaml", "luminaquant.toml"):
        assert f"lq_engine/_shipped/{f}" in names, f
    assert "lq_engine/data/bundled/us_stocks_daily.parquet" in names
    assert "lq_engine/authoring/scaffold.py" in names and "lq_assets/cli/init.py" in names
    built = [n for n in names if n.endswith((".so", ".pyc", ".rlib")) or "/build/" in n or "/target/" in n]
    assert not built, built
    assert not any(n.startswith(("tests/", "scripts/", "native/", "dagster_home/")) for n in names)
    # the installed copy finds its shipped files, not a checkout's
    res = subprocess.run([str(installed.venv / "bin" / "python"), "-c",
                          "from lq_engine.project import shipped, source_checkout; "
                          "from lq_engine import native_build as n;"
                          "print(source_checkout()); print(shipped('native')); print(n.BUILD_DIR)"],
                         cwd=installed.base, env=installed.env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    checkout, native, build = res.stdout.split()
    assert checkout == "None"
    assert Path(native) == installed.site_packages / "lq_engine" / "_shipped" / "native"
    assert Path(build).is_relative_to(installed.cache / "luminaquant")


def test_init_demo_and_sql_in_a_project_of_the_installed_package(installed):
    proj = installed.project
    nowhere = installed.lq("sql", "SELECT 1", cwd=installed.base)  # outside any project: says how to make one
    assert nowhere.returncode == 2, nowhere.stdout + nowhere.stderr
    assert "Traceback" not in nowhere.stderr
    assert (f"no luminaquant.toml in {installed.base.resolve()} or above: create a project with `lq init DIR`, "
            "run from inside one, or set LQ_PROJECT") in nowhere.stderr.strip().splitlines()[-1]
    res = installed.lq("init", proj.name, cwd=installed.base)
    assert res.returncode == 0, res.stdout + res.stderr
    for f in ("luminaquant.toml", "workspace.yaml", "dagster_home/dagster.yaml", "strategies/trend_pullback.py",
              "tests/test_strategy_trend_pullback.py"):
        assert (proj / f).is_file(), f
    assert "import lq_engine.api as lq" in (proj / "strategies" / "trend_pullback.py").read_text()
    assert "location_name: luminaquant" in (proj / "workspace.yaml").read_text()

    again = installed.lq("init", proj.name, cwd=installed.base)  # never overwrites a project
    assert again.returncode == 2
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert again.stderr.strip().splitlines()[-1].endswith(
        f"{proj} already holds a project (luminaquant.toml); nothing was written")

    # Keep the demo short: one shipped strategy besides the project's own example strategy.
    with open(proj / "luminaquant.toml", "a") as fh:
        fh.write('\n[project]\nshipped_strategies = ["ma_cross"]\n')
    demo = installed.lq("demo", cwd=proj / "strategies")  # found by walking up to luminaquant.toml
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-5000:]
    assert "LuminaQuant demo: done" in demo.stdout
    assert f"Report: {proj / 'data' / 'results'}" in demo.stdout

    bars = installed.lq("sql", "SELECT symbol, count(*) AS n FROM bars GROUP BY symbol ORDER BY symbol", cwd=proj)
    assert bars.returncode == 0, bars.stderr[-3000:]
    for sym in ("AAPL", "GOOG", "IBM", "MSFT"):
        assert sym in bars.stdout
    assert "3270" in bars.stdout  # AAPL's daily bars
    winners = installed.lq("sql", "SELECT strategy FROM optimization_winners ORDER BY strategy", cwd=proj / "data")
    assert winners.returncode == 0, winners.stderr[-3000:]
    assert "ma_cross" in winners.stdout and "trend_pullback" in winners.stdout

    # Data, results and Dagster state live in the project; builds and caches in the user's cache.
    assert any((proj / "data" / "lake").rglob("*.parquet"))
    assert (proj / "dagster_home" / "storage").is_dir()
    assert (installed.cache / "luminaquant" / "numba").is_dir()
    native = installed.cache / "luminaquant" / "native"
    assert any(native.rglob("lq_c_*.so")) and any(native.rglob("lq_rust_*.so"))  # built by backend_benchmark
    store = subprocess.run([str(installed.venv / "bin" / "python"), "-c",
                            "from lq_engine.core.cache import CACHE_STORE, RuntimeCache; "
                            "RuntimeCache(); print(CACHE_STORE)"],
                           cwd=proj, env=installed.env(), capture_output=True, text=True, timeout=300)
    assert store.returncode == 0 and store.stdout.startswith("compiled"), store.stdout + store.stderr[-3000:]
    assert any(native.rglob("lq_cachestore_*"))


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_lq_ui_loads_the_code_location_from_the_projects_workspace(installed):
    """`lq ui` in the project: the webserver reads the project's workspace.yaml and loads the code
    location `luminaquant` from the installed package; Ctrl-C (SIGTERM) stops it and the daemon."""
    proj = installed.project
    if not (proj / "luminaquant.toml").is_file():
        assert installed.lq("init", proj.name, cwd=installed.base).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(installed.env(), LQ_AUTOMATION="off")
    log = open(installed.base / "ui.log", "wb")
    ui = subprocess.Popen([str(installed.venv / "bin" / "lq"), "ui", "--port", str(port)], cwd=proj, env=env,
                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, entries = time.monotonic() + 180, []
        while time.monotonic() < deadline and ui.poll() is None:
            try:
                entries = _graphql(port, LOCATIONS)["data"]["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]:
                    break
            except OSError:
                pass
            time.sleep(1)
        ui_log = (installed.base / "ui.log").read_text()[-3000:]
        assert [e["name"] for e in entries] == ["luminaquant"], (entries, ui_log)
        assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", entries
    finally:
        ui.send_signal(signal.SIGTERM)
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait()
        log.close()
    assert ui.returncode == 0, (installed.base / "ui.log").read_text()[-3000:]
    assert "dagster_home" in (installed.base / "ui.log").read_text()


def test_nothing_was_written_into_the_installed_package_or_the_repository(installed):
    """After everything above (bytecode was compiled at install, as pip does)."""
    assert (installed.project / "data").is_dir()  # the tests above ran
    after = {name: _tree(installed.site_packages / name) for name in ("lq_engine", "lq_assets")}
    for name, before in installed.package_before.items():
        added = sorted(set(after[name]) - set(before))
        changed = sorted(k for k in before if after[name].get(k) != before[k])
        assert not added and not changed, (name, added[:10], changed[:10])
    assert _git_status() == installed.git_before
