"""The project configuration file (``luminaquant.toml``): named universes and their calendars, the
optimizer's settings, and per-strategy grids and search spaces (``[strategies.NAME.grid]``,
``[strategies.NAME.space]``)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from lq_engine.errors import LQError, unknown_key_message
from lq_engine.project import find_project

CALENDARS = ("24/7", "equities")  # bar calendars (annualization); the one definition, read by data and optimize
TABLES = ("project", "universes", "optimize", "strategies", "fetch")
UNIVERSE_KEYS = ("symbols", "timeframe", "calendar", "start", "end", "description")
PROJECT_KEYS = ("strategies", "shipped_strategies")
STRATEGY_KEYS = ("grid", "space")
FETCH_KEYS = ("exchange", "symbols", "timeframes", "funding", "since", "suffix", "min_interval", "api_url")
SPACE_RANGE_KEYS = ("low", "high", "step", "log")  # a range of [strategies.NAME.space] (see range_problem)
GRID_RANGE_KEYS = ("low", "high", "step")  # a range of [strategies.NAME.grid]: expanded here to its values
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


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
    """First UTC day, inclusive, 'YYYY-MM-DD' (checked at load), or None."""
    end: str | None = None
    """Last UTC day, inclusive, 'YYYY-MM-DD', not before ``start``, or None."""
    description: str = ""

    def resolve_symbols(self, available: list[str]) -> list[str]:
        """Tickers and glob patterns resolved against the symbols present in the lake, sorted."""
        out = {s for s in available for pat in self.symbols if fnmatch.fnmatchcase(s, pat)}
        return sorted(out)

    def unmatched(self, available: list[str]) -> list[str]:
        """The tickers and patterns of the universe that match no symbol in ``available``."""
        return [pat for pat in self.symbols if not any(fnmatch.fnmatchcase(s, pat) for s in available)]


@dataclass(frozen=True)
class FetchSource:
    """One ``[fetch.NAME]`` table: markets of one exchange fetched into the landing folder
    (``lq_engine.data.fetch``)."""

    name: str
    exchange: str
    """A ccxt exchange id (``binance``, ``binanceusdm``, ...); checked when fetched (ccxt is optional)."""
    symbols: tuple[str, ...]
    """The exchange's symbols (``BTC/USDT``, ``BTC/USDT:USDT``) or market ids (``BTCUSDT``)."""
    timeframes: tuple[str, ...] = ()
    since: str = ""
    """First UTC day 'YYYY-MM-DD' of a symbol that has nothing in the lake yet."""
    funding: bool = False
    """Also the funding-rate history (perpetual swaps)."""
    suffix: str = ""
    """Appended to the market id to name the symbol in the lake (``-PERP``)."""
    min_interval: float = 0.0
    """Seconds between two requests, at least (besides the exchange's own rate limit)."""
    api_url: str = ""
    """Send the requests to this base URL instead of the exchange's hosts (a mirror or proxy)."""


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

    fetch: dict[str, FetchSource] = field(default_factory=dict)
    """``[fetch.NAME]`` tables: what the nightly ``exchange_bars`` asset fetches from exchanges."""

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
    for table in ("project", "universes", "optimize", "strategies", "fetch"):
        if not isinstance(raw.get(table, {}), dict):
            raise SettingsError(f"{path}: [{table}] must be a table")
    universes: dict[str, UniverseConfig] = {}
    for name, u in raw.get("universes", {}).items():
        where = f"{path}: [universes.{name}]"
        _check_table(where, u, UNIVERSE_KEYS, ("symbols", "timeframe", "calendar"))
        if u["calendar"] not in CALENDARS:
            raise SettingsError(f"{where}: field 'calendar' must be one of {CALENDARS}, got {u['calendar']!r}")
        symbols = u["symbols"]
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
            raise SettingsError(f"{where}: field 'symbols' must be a non-empty list of tickers or patterns")
        start, end = (_universe_day(where, key, u.get(key)) for key in ("start", "end"))
        if start and end and start > end:
            raise SettingsError(f"{where} start: {start} is after end {end} (both days are inclusive)")
        universes[name] = UniverseConfig(
            name=name,
            symbols=tuple(u["symbols"]),
            timeframe=u["timeframe"],
            calendar=u["calendar"],
            start=start,
            end=end,
            description=u.get("description", ""),
        )
    if not universes:
        raise SettingsError(f"{path}: no [universes.*] defined")
    optimize = raw.get("optimize", {})
    if not isinstance(optimize, dict):
        raise SettingsError(f"{path}: [optimize] must be a table")
    strategies = _strategy_tables(path, raw.get("strategies", {}))
    fetch = _fetch_tables(path, raw.get("fetch", {}))
    project = raw.get("project", {})
    bad = [k for k in project if k not in PROJECT_KEYS]
    if bad:
        raise SettingsError(unknown_key_message(f"{path}: [project]", bad, PROJECT_KEYS))
    sdir = path.parent / str(project.get("strategies", "strategies"))
    shipped = project.get("shipped_strategies")
    if shipped is not None and not (isinstance(shipped, list) and all(isinstance(x, str) for x in shipped)):
        raise SettingsError(f"{path}: [project] shipped_strategies must be a list of strategy names")
    return ProjectConfig(path=path, universes=universes, optimize=optimize, strategies=strategies, fetch=fetch,
                         strategies_dir=sdir, shipped_strategies=tuple(shipped) if shipped is not None else None)


def _universe_day(where: str, key: str, value: Any) -> str | None:
    """A universe's ``start`` or ``end`` as 'YYYY-MM-DD': a quoted ISO day or a TOML date
    (``start = 2019-01-02`` unquoted). Anything else is refused here, when the file is loaded, not
    at the next freeze (which cuts the lake's bars at whole UTC days)."""
    if value is None:
        return None
    if isinstance(value, datetime):  # a TOML date-time (a subclass of date): the bounds are whole days
        raise SettingsError(f"{where} {key}: {value.isoformat()!r} is a date-time; give a day (YYYY-MM-DD, "
                            "inclusive, UTC)")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and ISO_DAY.fullmatch(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise SettingsError(f"{where} {key}: {value!r} is not a day of the calendar (YYYY-MM-DD)") from None
    raise SettingsError(f"{where} {key}: {value!r} is not an ISO date (YYYY-MM-DD)")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def range_problem(table: Mapping[str, Any], keys: tuple[str, ...] = SPACE_RANGE_KEYS) -> str | None:
    """What is wrong with a ``{low, high, step, log}`` range (a parameter of ``[strategies.NAME.space]``,
    or ``{low, high, step}`` of a grid) whatever the parameter's declaration says, or None. The one
    rule for luminaquant.toml at load and for ``authoring.space`` (which then checks the values
    against the parameter's type and declared bounds)."""
    unknown = sorted(set(table) - set(keys))
    if unknown:
        return f"unknown key(s) {unknown}; known: {list(keys)}"
    if "low" not in table or "high" not in table:
        return "a range needs low and high"
    lo, hi = table["low"], table["high"]
    for k, v in (("low", lo), ("high", hi)):
        if not _number(v):
            return f"{k} must be a number, got {v!r}"
    if lo > hi:
        return f"low {lo} is above high {hi}"
    step = table.get("step")
    if step is not None and not (_number(step) and step > 0):
        return f"step must be a positive number, got {step!r}"
    log = table.get("log", False)
    if not isinstance(log, bool):
        return f"log must be true or false, got {log!r}"
    if log and lo <= 0:
        return f"log = true needs low > 0, got {lo}"
    return None


def _strategy_tables(path: Path, raw: object) -> dict:
    """``[strategies.NAME.grid]``: each axis a list of values or a {low, high, step} table;
    ``[strategies.NAME.space]``: each parameter a {low, high, step, log} table or a list of values.
    Their form is checked here; the parameter names and their types need the strategy's
    declaration, so ``optimize.config.check_strategy_tables`` checks those (the CLI, before Dagster
    starts), and the strategy again when it is resolved."""
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: [strategies] must be a table of [strategies.NAME] tables")
    out = {}
    for name, table in raw.items():
        where = f"{path}: [strategies.{name}]"
        if not isinstance(table, dict):
            raise SettingsError(f"{where} must be a table (grid, space)")
        unknown = [k for k in table if k not in STRATEGY_KEYS]
        if unknown:
            raise SettingsError(unknown_key_message(where, unknown, STRATEGY_KEYS))
        out[name] = {}
        space = table.get("space")
        if space is not None:
            if not isinstance(space, dict):
                raise SettingsError(f"{path}: [strategies.{name}.space] must be a table of parameter = "
                                    "{low, high, step, log} or [values]")
            for param, dim in space.items():
                at = f"{path}: [strategies.{name}.space] {param}"
                if isinstance(dim, dict):
                    problem = range_problem(dim)
                    if problem:
                        raise SettingsError(f"{at}: {problem}")
                elif isinstance(dim, list):
                    if not dim:
                        raise SettingsError(f"{at}: an empty list of values")
                else:
                    raise SettingsError(f"{at}: expected a {{low, high, step, log}} table or a list of values, "
                                        f"got {dim!r}")
            out[name]["space"] = space
        grid = table.get("grid")
        if grid is None:
            continue
        if not isinstance(grid, dict):
            raise SettingsError(f"{path}: [strategies.{name}.grid] must be a table of parameter = [values] or "
                                "{low, high, step}")
        axes = {}
        for param, axis in grid.items():
            at = f"{path}: [strategies.{name}.grid] {param}"
            if isinstance(axis, list):
                if not axis:
                    raise SettingsError(f"{at}: an empty list of values")
                axes[param] = tuple(axis)
            elif isinstance(axis, dict):
                problem = range_problem(axis, GRID_RANGE_KEYS)
                if problem:
                    raise SettingsError(f"{at}: {problem}")
                lo, hi, step = axis["low"], axis["high"], axis.get("step", 1)
                count = int((hi - lo) / step + 1e-9) + 1
                vals = [lo + k * step for k in range(count)]
                axes[param] = tuple(int(v) if all(isinstance(x, int) for x in (lo, hi, step)) else round(v, 12)
                                    for v in vals)
            else:
                raise SettingsError(f"{at}: expected a list of values or a {{low, high, step}} table, got {axis!r}")
        out[name]["grid"] = axes
    return out


def _string_list(where: str, key: str, v: Any, *, empty: bool = False) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v) or (not v and not empty):
        raise SettingsError(f"{where}: field '{key}' must be a {'' if empty else 'non-empty '}list of strings")
    return tuple(x.strip() for x in v)


def _check_table(where: str, t: Any, known: Sequence[str], required: Sequence[str], shown: str = "") -> None:
    """A ``[kind.NAME]`` table: a table, of known keys only, with every required key."""
    if not isinstance(t, dict):
        raise SettingsError(f"{where} must be a table ({shown or ', '.join(required)}, ...)")
    bad = [k for k in t if k not in known]
    if bad:
        raise SettingsError(unknown_key_message(where, bad, known))
    for key in required:
        if key not in t:
            raise SettingsError(f"{where}: missing key '{key}'")


def _fetch_tables(path: Path, raw: dict) -> dict[str, FetchSource]:
    """``[fetch.NAME]``: exchange, symbols, timeframes and/or funding, since (a day), and the optional
    suffix, min_interval, api_url. The exchange and symbols are checked when fetched (ccxt is optional)."""
    out = {}
    for name, t in raw.items():
        where = f"{path}: [fetch.{name}]"
        _check_table(where, t, FETCH_KEYS, ("exchange", "symbols", "since"), "exchange, symbols, timeframes, since")
        if not isinstance(t["exchange"], str) or not t["exchange"].strip():
            raise SettingsError(f"{where}: field 'exchange' must be a ccxt exchange id, e.g. \"binanceusdm\"")
        funding = t.get("funding", False)
        if not isinstance(funding, bool):
            raise SettingsError(f"{where}: field 'funding' must be true or false, got {funding!r}")
        timeframes = _string_list(where, "timeframes", t.get("timeframes", []), empty=True)
        if not timeframes and not funding:
            raise SettingsError(f"{where}: nothing to fetch: give timeframes (e.g. [\"1h\"]) or funding = true")
        gap = t.get("min_interval", 0.0)
        if not _number(gap) or gap < 0:
            raise SettingsError(f"{where}: field 'min_interval' must be a number of seconds >= 0, got {gap!r}")
        for key in ("suffix", "api_url"):
            if not isinstance(t.get(key, ""), str):
                raise SettingsError(f"{where}: field '{key}' must be a string")
        out[name] = FetchSource(
            name=name, exchange=t["exchange"].strip(), symbols=_string_list(where, "symbols", t["symbols"]),
            timeframes=timeframes, since=_universe_day(where, "since", t["since"]), funding=funding,
            suffix=t.get("suffix", ""), min_interval=float(gap), api_url=t.get("api_url", ""))
    return out
