"""The project configuration file (``luminaquant.toml``): named universes and their calendars, the
optimizer's settings, and per-strategy grids and search spaces (``[strategies.NAME.grid]``,
``[strategies.NAME.space]``)."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lq_engine.errors import LQError, unknown_key_message
from lq_engine.project import find_project

CALENDARS = ("24/7", "equities")  # bar calendars (annualization); the one definition, read by data and optimize
TABLES = ("project", "universes", "optimize", "strategies")
UNIVERSE_KEYS = ("symbols", "timeframe", "calendar", "start", "end", "description")
PROJECT_KEYS = ("strategies", "shipped_strategies")


class SettingsError(LQError, ValueError):
    """A mistake in luminaquant.toml (the file, table and key are named)."""


class ConfigNotFoundError(SettingsError, FileNotFoundError):
    """No luminaquant.toml where the project says it is."""


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

    def unmatched(self, available: list[str]) -> list[str]:
        """The tickers and patterns of the universe that match no symbol in ``available``."""
        return [pat for pat in self.symbols if not any(fnmatch.fnmatchcase(s, pat) for s in available)]


@dataclass(frozen=True)
class ProjectConfig:
    path: Path
    universes: dict[str, UniverseConfig]
    optimize: dict = field(default_factory=dict)
    """The ``[optimize]`` table: OptimizeConfig fields (validated by OptimizeConfig.from_mapping)."""
    strategies: dict = field(default_factory=dict)
    """``[strategies.NAME]`` tables: ``grid`` (parameter -> list of values, or {low, high, step}) and
    ``space`` (parameter -> {low, high, step, log} or a list of values: what samplers search)."""
    strategies_dir: Path | None = None
    """Where the project's strategy files live (``[project] strategies``, default ``strategies/``)."""
    shipped_strategies: tuple[str, ...] | None = None
    """``[project] shipped_strategies``: which shipped strategies the project uses (None: all)."""

    def strategy_grid(self, name: str) -> dict | None:
        """The project's grid for strategy ``name`` (axes as lists), or None."""
        t = self.strategies.get(name) or {}
        return t.get("grid")

    def strategy_space(self, name: str) -> dict | None:
        """The project's search-space override for strategy ``name``, or None."""
        t = self.strategies.get(name) or {}
        return t.get("space")


def config_path() -> Path:
    return find_project().config_path


def load_project_config(path: Path | None = None) -> ProjectConfig:
    path = Path(path) if path else config_path()
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigNotFoundError(f"{path}: project config not found (set LQ_CONFIG)") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: {e}") from None
    unknown = [k for k in raw if k not in TABLES]
    if unknown:
        raise SettingsError(unknown_key_message(f"{path}: top level", [f"[{k}]" if isinstance(raw[k], dict) else k
                                                                        for k in unknown], [f"[{t}]" for t in TABLES]))
    for table in ("project", "universes", "optimize", "strategies"):
        if not isinstance(raw.get(table, {}), dict):
            raise SettingsError(f"{path}: [{table}] must be a table")
    universes: dict[str, UniverseConfig] = {}
    for name, u in raw.get("universes", {}).items():
        where = f"{path}: [universes.{name}]"
        if not isinstance(u, dict):
            raise SettingsError(f"{where} must be a table (symbols, timeframe, calendar, ...)")
        bad = [k for k in u if k not in UNIVERSE_KEYS]
        if bad:
            raise SettingsError(unknown_key_message(where, bad, UNIVERSE_KEYS))
        for key in ("symbols", "timeframe", "calendar"):
            if key not in u:
                raise SettingsError(f"{where}: missing key '{key}'")
        if u["calendar"] not in CALENDARS:
            raise SettingsError(f"{where}: field 'calendar' must be one of {CALENDARS}, got {u['calendar']!r}")
        if not isinstance(u["symbols"], list) or not u["symbols"]:
            raise SettingsError(f"{where}: field 'symbols' must be a non-empty list")
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
        raise SettingsError(f"{path}: no [universes.*] defined")
    optimize = raw.get("optimize", {})
    if not isinstance(optimize, dict):
        raise SettingsError(f"{path}: [optimize] must be a table")
    strategies = _strategy_tables(path, raw.get("strategies", {}))
    project = raw.get("project", {})
    bad = [k for k in project if k not in PROJECT_KEYS]
    if bad:
        raise SettingsError(unknown_key_message(f"{path}: [project]", bad, PROJECT_KEYS))
    sdir = path.parent / str(project.get("strategies", "strategies"))
    shipped = project.get("shipped_strategies")
    if shipped is not None and not (isinstance(shipped, list) and all(isinstance(x, str) for x in shipped)):
        raise SettingsError(f"{path}: [project] shipped_strategies must be a list of strategy names")
    return ProjectConfig(path=path, universes=universes, optimize=optimize, strategies=strategies,
                         strategies_dir=sdir, shipped_strategies=tuple(shipped) if shipped is not None else None)


def _strategy_tables(path: Path, raw: object) -> dict:
    """``[strategies.NAME.grid]``: each axis a list of values or a {low, high, step} table;
    ``[strategies.NAME.space]``: each parameter a {low, high, step, log} table or a list of values
    (checked against the strategy's declarations when it is resolved)."""
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: [strategies] must be a table of [strategies.NAME] tables")
    out = {}
    for name, table in raw.items():
        where = f"{path}: [strategies.{name}]"
        if not isinstance(table, dict):
            raise SettingsError(f"{where} must be a table")
        unknown = sorted(set(table) - {"grid", "space"})
        if unknown:
            raise SettingsError(f"{where}: unknown key(s) {unknown}; known: ['grid', 'space']")
        out[name] = {}
        space = table.get("space")
        if space is not None:
            if not isinstance(space, dict) or not all(isinstance(v, (dict, list)) for v in space.values()):
                raise SettingsError(
                    f"{where}.space must be a table of parameter = {{low, high, step, log}} or [values]")
            out[name]["space"] = space
        grid = table.get("grid")
        if grid is None:
            continue
        if not isinstance(grid, dict):
            raise SettingsError(f"{where}.grid must be a table of parameter = [values] or {{low, high, step}}")
        axes = {}
        for param, axis in grid.items():
            if isinstance(axis, list):
                axes[param] = tuple(axis)
            elif isinstance(axis, dict) and set(axis) <= {"low", "high", "step"} and {"low", "high"} <= set(axis):
                lo, hi, step = axis["low"], axis["high"], axis.get("step", 1)
                numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi, step))
                if not numbers or step <= 0:
                    raise SettingsError(f"{where}.grid.{param}: low, high and step must be numbers (step > 0)")
                count = int((hi - lo) / step + 1e-9) + 1
                vals = [lo + k * step for k in range(max(count, 0))]
                axes[param] = tuple(int(v) if all(isinstance(x, int) for x in (lo, hi, step)) else round(v, 12)
                                    for v in vals)
            else:
                raise SettingsError(f"{where}.grid.{param} must be a list of values or a {{low, high, step}} table")
        out[name]["grid"] = axes
    return out
