"""Checks of the command line before Dagster loads: each mistake is one ``UsageError`` line naming
the known values or the expected format (the CLI prints it and exits with code 2).

Nothing here imports Dagster: the datasets come from luminaquant.toml, the strategies from the
strategy registry, the optimizer settings from ``OptimizeConfig``.
"""

from __future__ import annotations

import argparse
import re

from lq_engine.errors import UsageError, did_you_mean

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_MONTH = "2000-01"  # the month partitions' start (lq_assets.partitions.MONTHS)


def check_dataset(name: str, flag: str = "--dataset") -> str:
    """``name`` is a universe of luminaquant.toml."""
    from lq_engine.optimize.config import load_checked_config

    known = sorted(load_checked_config().universes)
    if name not in known:
        raise UsageError(f"{flag}: unknown dataset '{name}'{did_you_mean(name, known)}; datasets of "
                         f"luminaquant.toml: {', '.join(known)}")
    return name


def check_strategies(names: list[str], flag: str = "--strategy") -> list[str]:
    """Every name is a strategy the project sees ('all' stands for all of them)."""
    from lq_engine.strategies.registry import list_strategies

    known = list_strategies()
    if names == ["all"]:
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        s = "ies" if len(unknown) > 1 else "y"
        raise UsageError(f"{flag}: unknown strateg{s} {', '.join(repr(n) for n in unknown)}"
                         f"{did_you_mean(unknown[0], known)}; strategies: {', '.join(known)} (see `lq strategy list`)")
    return names


def check_month(value: str | None, flag: str) -> str:
    """A month YYYY-MM, 2000-01 or later."""
    m = MONTH.match(value or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise UsageError(f"{flag}: '{value}' is not a month: expected YYYY-MM, e.g. 2013-01")
    if value < FIRST_MONTH:
        raise UsageError(f"{flag}: {value} is before the first month partition ({FIRST_MONTH})")
    return value


def check_month_range(start: str | None, end: str | None) -> tuple[str, str]:
    if not (start and end):
        raise UsageError("market_bars needs --from YYYY-MM and --to YYYY-MM")
    start, end = check_month(start, "--from"), check_month(end, "--to")
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    return start, end


def add_optimize_flags(p: argparse.ArgumentParser) -> None:
    """A flag per run setting of ``OptimizeConfig`` (its declarations: flag, type, help, choices)."""
    from lq_engine.optimize.config import run_settings

    for s in run_settings():
        default = "" if s.default is None else f" (default {s.default}, or luminaquant.toml [optimize])"
        p.add_argument(s.flag, dest=s.name, type=s.type, choices=s.choices, help=s.help + default)


def optimize_overrides(args: argparse.Namespace) -> dict:
    """The run settings given by the flags (``OptimizeSettings`` fields), brackets included."""
    from lq_assets.cli.brackets import bracket_legs
    from lq_engine.optimize.config import run_settings

    settings: dict = {s.name: getattr(args, s.name) for s in run_settings() if getattr(args, s.name, None) is not None}
    legs = bracket_legs(args)
    if legs is not None:
        settings["brackets"] = legs
    return settings


def check_optimize_settings(overrides: dict) -> None:
    """The project's [optimize] table with the flags applied is a valid ``OptimizeConfig``; a bad
    value or combination (e.g. --top-k-min above --top-k-max) names its flags."""
    from lq_engine.optimize.config import ConfigError, OptimizeConfig, bracket_legs, run_settings
    from lq_engine.settings import load_project_config

    try:
        OptimizeConfig.from_mapping({**load_project_config().optimize, **overrides})
    except ConfigError as e:
        msg = str(e).removeprefix("optimize config: ")
        for s in run_settings():  # field names -> the flags the user typed
            msg = msg.replace(f"field '{s.name}'", s.flag).replace(f"'{s.name}'", s.flag)
        for leg in bracket_legs():
            msg = msg.replace(f"field 'brackets.{leg}'", "--" + leg.replace("_", "-"))
        raise UsageError(msg) from None
