"""The bracket flags shared by ``lq optimize`` and ``lq paper``."""

from __future__ import annotations

import argparse

from lq_engine.errors import UsageError
from lq_engine.optimize.config import bracket_legs

LEGS = bracket_legs()  # BracketSpec's fields: stop_loss, take_profit, trailing


def add_bracket_flags(p: argparse.ArgumentParser, what: str) -> None:
    b = p.add_argument_group(
        "brackets", f"exit legs of every entry, fractions of the entry price in (0, 1). Any of these replaces {what} "
        "for this run (legs not given are off).")
    b.add_argument("--stop-loss", type=float, help="e.g. 0.02: exit 2%% below a long entry")
    b.add_argument("--take-profit", type=float, help="e.g. 0.05: exit 5%% above a long entry")
    b.add_argument("--trailing", type=float, help="trailing-stop distance, e.g. 0.03")
    b.add_argument("--no-brackets", action="store_true", help=f"no brackets whatever {what} says")


def bracket_legs(args: argparse.Namespace) -> dict[str, float | None] | None:
    """All three legs when any bracket flag is given (None = that leg off), else None."""
    legs = {k: getattr(args, k) for k in LEGS}
    given = [k for k, v in legs.items() if v is not None]
    if args.no_brackets and given:
        raise UsageError("--no-brackets contradicts " + ", ".join("--" + k.replace("_", "-") for k in given))
    return legs if args.no_brackets or given else None
