"""The project configuration file (``luminaquant.toml``): named universes and their calendars."""

from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lq_engine.data.paths import REPO_ROOT

CALENDARS = ("24/7", "equities")


@dataclass(frozen=True)
class UniverseConfig:
    name: str
    symbols: tuple[str, ...]
    timeframe: str
    calendar: str
    start: str | None = None
    end: str | None = None
    description: str = ""

    def resolve_symbols(self, available: list[str]) -> list[str]:
        """Tickers and glob patterns resolved against the symbols present in the lake, sorted."""
        out = {s for s in available for pat in self.symbols if fnmatch.fnmatchcase(s, pat)}
        return sorted(out)


@dataclass(frozen=True)
class ProjectConfig:
    path: Path
    universes: dict[str, UniverseConfig]
    optimize: dict = field(default_factory=dict)
    """The ``[optimize]`` table: OptimizeConfig fields (validated by OptimizeConfig.from_mapping)."""


def config_path() -> Path:
    return Path(os.environ.get("LQ_CONFIG", REPO_ROOT / "luminaquant.toml"))


def load_project_config(path: Path | None = None) -> ProjectConfig:
    path = Path(path) if path else config_path()
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: project config not found (set LQ_CONFIG)") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: {e}") from None
    universes: dict[str, UniverseConfig] = {}
    for name, u in raw.get("universes", {}).items():
        where = f"{path}: [universes.{name}]"
        for field in ("symbols", "timeframe", "calendar"):
            if field not in u:
                raise ValueError(f"{where}: missing field '{field}'")
        if u["calendar"] not in CALENDARS:
            raise ValueError(f"{where}: field 'calendar' must be one of {CALENDARS}, got {u['calendar']!r}")
        if not isinstance(u["symbols"], list) or not u["symbols"]:
            raise ValueError(f"{where}: field 'symbols' must be a non-empty list")
        universes[name] = UniverseConfig(
            name=name,
            symbols=tuple(u["symbols"]),
            timeframe=u["timeframe"],
            calendar=u["calendar"],
            start=u.get("start"),
            end=u.get("end"),
            description=u.get("description", ""),
        )
    if not universes:
        raise ValueError(f"{path}: no [universes.*] defined")
    optimize = raw.get("optimize", {})
    if not isinstance(optimize, dict):
        raise ValueError(f"{path}: [optimize] must be a table")
    return ProjectConfig(path=path, universes=universes, optimize=optimize)
