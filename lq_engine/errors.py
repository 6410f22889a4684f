"""The base class of every error a user can cause (bad input, bad configuration, bad strategy code).

The CLI prints an ``LQError`` as one line and exits with code 2; anything else is a bug and keeps
its traceback. Each subclass also derives from the builtin it refines (``ValueError``, ...), so
``except ValueError`` keeps working.
"""

from __future__ import annotations

import difflib


class LQError(Exception):
    """A problem with the user's input, configuration or strategy; the message says what and where."""


def did_you_mean(name: str, known, cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` when a known name is close to ``name``, else ``''``: the one hint every
    unknown-name message carries."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_key_message(where: str, unknown: list[str], known) -> str:
    """'<where>: unknown key 'symbolz' (did you mean 'symbols'?)' for each unknown key; the known
    keys are listed when nothing is close."""
    known = sorted(known)
    parts = [f"'{k}'{did_you_mean(k, known, cutoff=0.5)}" for k in sorted(unknown)]
    hint = "" if all("did you mean" in p for p in parts) else f"; known: {', '.join(known)}"
    return f"{where}: unknown key{'s' if len(parts) > 1 else ''} {', '.join(parts)}{hint}"


class InputError(LQError, ValueError):
    """A value given to a public engine function or constructor (an argument, a configuration
    field, a dataset's content) is outside what it accepts; the message names the argument or
    field and what was expected."""


class InputTypeError(LQError, TypeError):
    """An argument to a public engine function has the wrong type; the message names the argument
    and the type expected."""


class NotFoundError(LQError, KeyError):
    """A name looked up by the user (a symbol in a dataset, ...) is not there; the message names it
    and what is there."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class EnvVarError(LQError, ValueError):
    """An ``LQ_*`` environment variable has a value the engine cannot use; the message names the
    variable, its value and the accepted values."""


class UsageError(LQError, ValueError):
    """A command-line argument is wrong (unknown name, bad format, contradicting flags)."""


class RunFailedError(LQError, RuntimeError):
    """Work the user asked for ran and failed (a Dagster run, a backfill); the message names the
    run and the first error. The CLI exits with code 1 (not 2: the input was well-formed)."""

    exit_code = 1
