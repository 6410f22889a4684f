"""The user's project: the folder holding ``luminaquant.toml``, ``strategies/``, data and Dagster state.

Found, in order: ``$LQ_PROJECT``; the folder of ``$LQ_CONFIG``; the nearest folder at or above the
working directory that holds ``luminaquant.toml``; the source checkout this package runs from, if
it holds one (a clone of the repository is the default project). ``lq init DIR`` writes a new one.

Also where the files the package ships live (``shipped``): the native sources and the project
templates are the repository's own files in a source checkout, and ``lq_engine/_shipped/`` in an
installed wheel (``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml). What the
package builds or caches (native artifacts, numba's cache) goes to ``user_cache_dir()`` when it is
installed, never into the installed package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lq_engine.errors import LQError

CONFIG_NAME = "luminaquant.toml"
PACKAGE_ROOT = Path(__file__).resolve().parent  # lq_engine/
CHECKOUT_ROOT = PACKAGE_ROOT.parent  # the repository, when running from a source checkout
SHIPPED_ROOT = PACKAGE_ROOT / "_shipped"  # the repository files an installed wheel carries


class ProjectNotFoundError(LQError, FileNotFoundError):
    pass


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def config_path(self) -> Path:
        env = os.environ.get("LQ_CONFIG")
        return Path(env).resolve() if env else self.root / CONFIG_NAME

    @property
    def data_dir(self) -> Path:
        return self.local_data_dir

    @property
    def local_data_dir(self) -> Path:
        """Local files (landing, caches, reports, paper state); ``$LQ_DATA_DIR`` unless it is an
        object-store URI (then the lake lives there and the rest here)."""
        env = os.environ.get("LQ_DATA_DIR")
        return Path(env).resolve() if env and "://" not in env else self.root / "data"

    @property
    def dagster_home(self) -> Path:
        env = os.environ.get("LQ_DAGSTER_HOME")
        return Path(env).resolve() if env else self.root / "dagster_home"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace.yaml"


def find_project(start: Path | None = None) -> Project:
    env = os.environ.get("LQ_PROJECT")
    if env:
        root = Path(env).resolve()
        if not (root / CONFIG_NAME).is_file() and "LQ_CONFIG" not in os.environ:
            raise ProjectNotFoundError(f"LQ_PROJECT={env}: no {CONFIG_NAME} there (create one with `lq init {env}`)")
        return Project(root)
    cfg = os.environ.get("LQ_CONFIG")
    if cfg:
        return Project(Path(cfg).resolve().parent)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return Project(folder)
    if (CHECKOUT_ROOT / CONFIG_NAME).is_file():
        return Project(CHECKOUT_ROOT)
    raise ProjectNotFoundError(f"no {CONFIG_NAME} in {here} or above: create a project with `lq init DIR`, "
                               "run from inside one, or set LQ_PROJECT")


def source_checkout() -> Path | None:
    """The repository this package runs from (a clone, or an editable install of one); None when
    the package is installed from a wheel."""
    if (CHECKOUT_ROOT / "pyproject.toml").is_file() and (CHECKOUT_ROOT / "native").is_dir():
        return CHECKOUT_ROOT
    return None


def shipped(relpath: str) -> Path:
    """A file the package ships, by its path in the repository (``native/c/lq_kernels.c``,
    ``dagster_home/dagster.yaml``, ``workspace.yaml``, ``luminaquant.toml``)."""
    checkout = source_checkout()
    return (checkout if checkout is not None else SHIPPED_ROOT) / relpath


def user_cache_dir() -> Path:
    """Per-user cache of an installed package: ``$LQ_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/luminaquant``, else ``~/.cache/luminaquant``."""
    env = os.environ.get("LQ_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache").resolve() / "luminaquant"
