"""Process set-up shared by every ``lq`` verb: DAGSTER_HOME, data root, threads, logging."""

from __future__ import annotations

import logging
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from lq_engine.data.paths import DataPaths
from lq_engine.progress import CLI_T0_ENV, cli_line


def dagster_home() -> Path:
    """``$LQ_DAGSTER_HOME`` or the project's ``dagster_home/`` (``dagster_home/distributed/`` in the
    distributed profile); a fresh folder gets the profile's dagster.yaml."""
    from lq_assets.profile import default_dagster_home, instance_template
    from lq_engine.project import find_project

    home = Path(os.environ["LQ_DAGSTER_HOME"]).resolve() if os.environ.get("LQ_DAGSTER_HOME") else \
        default_dagster_home(find_project().dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(instance_template(), home / "dagster.yaml")
    return home


GRPC_TIMEOUT_S = 300  # Dagster's gRPC client limit for lq's processes (its default is 60 s)
LOG_FILE_BYTES = 2_000_000  # the log file rotates at this size, keeping LOG_FILE_KEEP old ones
LOG_FILE_KEEP = 3


def log_dir(paths: DataPaths) -> Path:
    """Where ``lq`` writes its log file (``lq.log``) and the logs of processes it starts."""
    d = paths.root / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def check_config() -> None:
    """luminaquant.toml as a whole, before anything starts: its tables, universes (dates included)
    and ``[optimize]`` (``load_checked_config``), and the strategies' grids and spaces against their
    declarations (``check_strategy_tables``). A mistake is a ``SettingsError`` naming the file, the
    table and the key: one line and exit code 2, instead of a failure after Dagster has loaded."""
    from lq_engine.optimize.config import check_strategy_tables, load_checked_config

    check_strategy_tables(load_checked_config())


def setup(verbose: bool = False) -> DataPaths:
    """Check the project's config (``check_config``), point Dagster at our instance, make the data
    folders, log to a file (and warnings and errors to stderr; everything with ``-v``)."""
    # this command's start (not an lq's that started this process): the progress lines of its runs (this
    # process, the optimize worker) count from it
    os.environ[CLI_T0_ENV] = repr(_T0)
    check_config()
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    # Dagster's gRPC calls to a code server give up after 60 s: on a busy machine (a CPU hog beside
    # the scheduler) launching a run took longer and the run failed before any step ran (issue 25).
    # Every process lq starts (daemon, code servers, run workers) inherits the longer limit.
    os.environ.setdefault("DAGSTER_GRPC_TIMEOUT_SECONDS", str(GRPC_TIMEOUT_S))
    # in-process runs (lq_assets.launch): a failure is reported once, as one line (the event log has it all)
    os.environ.setdefault("LQ_RUN_LOG_LEVEL", "INFO" if verbose else "CRITICAL")
    paths = DataPaths.from_env().ensure()
    log_file = configure_logging(verbose, log_dir(paths) / "lq.log")
    if verbose:
        step(f"log file: {log_file}")
    # Thread counts were set when lq_assets was imported (before polars); see lq_assets/__init__.py.
    from lq_assets.profile import check_services

    for checked in check_services():  # distributed profile: every server answers, or a clear error
        logging.getLogger("lq").debug(f"reachable: {checked}")
    return paths


def configure_logging(verbose: bool, log_file: Path) -> Path:
    """Root logger: everything at DEBUG to ``log_file`` (rotated); to stderr WARNING and above, or
    everything with ``verbose``. The quiet warnings (``quiet_warnings``) are DEBUG records."""
    from logging.handlers import RotatingFileHandler

    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_lq", False):
            root.removeHandler(h)
    fh = RotatingFileHandler(log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_KEEP, encoding="utf-8")
    fh.setFormatter(fmt)
    fh.setLevel(logging.DEBUG)
    err = logging.StreamHandler()
    err.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    err.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for h in (fh, err):
        h._lq = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(logging.DEBUG)
    for noisy in ("alembic", "numba", "matplotlib", "PIL", "urllib3", "asyncio", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_file


# Warnings a user cannot act on, shown only with -v (and always written to the log file): Dagster's
# beta/preview notices about the APIs our definitions use, and DuckDB's. Narrow by category and
# module; every other warning shows as usual.
QUIET_WARNING_MODULES = ("dagster", "dagster_shared", "duckdb")
QUIET_WARNING_NAMES = ("BetaWarning", "PreviewWarning")


def _quiet(category: type[Warning], filename: str = "") -> bool:
    root = (getattr(category, "__module__", "") or "").split(".")[0]
    if root == "duckdb" or f"{os.sep}duckdb{os.sep}" in filename:
        return True
    return root in QUIET_WARNING_MODULES and category.__name__ in QUIET_WARNING_NAMES


def quiet_warnings() -> None:
    """Send Dagster's beta/preview warnings and DuckDB's warnings to the log (DEBUG) instead of
    stderr; with ``verbose`` they show on stderr too (the stderr handler is at DEBUG then)."""
    import warnings

    shown = warnings.showwarning
    log = logging.getLogger("lq.warnings")

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if _quiet(category, str(filename)):
            log.debug(warnings.formatwarning(message, category, filename, lineno, line).rstrip())
            return
        shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def workspace() -> tuple[Path, Path]:
    """(workspace.yaml, working directory) for the Dagster processes ``lq`` starts: the project's
    own workspace.yaml (the shipped one if the project has none) and the project's root, so that
    the webserver, the daemon, its code servers and run workers all work in this project."""
    from lq_engine.project import find_project, shipped

    project = find_project()
    ws = project.workspace if project.workspace.is_file() else shipped("workspace.yaml")
    return ws, project.root


_T0 = time.time()  # when the command started (this module is imported first thing)


def step(msg: str) -> None:
    """One progress line for long work (flushed, so it shows even when piped), with the seconds
    since the command started (``lq_engine.progress.cli_line``, the format of every progress line)."""
    print(cli_line(msg), flush=True)


class Stages:
    """Stage timings of a long verb: ``with stages("freezing"):`` prints the stage's start line, and
    ``summary()`` an aligned table of every stage and its duration."""

    def __init__(self) -> None:
        self.done: list[list] = []  # [name, seconds], in start order (nested stages start with spaces)

    @contextmanager
    def __call__(self, name: str, detail: str = ""):
        step(f"{name.strip()}{': ' + detail if detail else ''}")
        row = [name, 0.0]
        self.done.append(row)
        t = time.perf_counter()
        try:
            yield
        finally:
            row[1] = time.perf_counter() - t

    def summary(self) -> str:
        if not self.done:
            return ""
        w = max(len(n) for n, _ in self.done)
        total = sum(s for n, s in self.done if not n.startswith(" "))
        lines = [f"  {n:<{w}}  {s:7.1f}s" for n, s in self.done]
        lines.append(f"  {'total':<{w}}  {total:7.1f}s")
        return "Stage timings:\n" + "\n".join(lines)
