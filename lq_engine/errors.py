"""The base class of every error a user can cause (bad input, bad configuration, bad strategy code).

The CLI prints an ``LQError`` as one line and exits with code 2; anything else is a bug and keeps
its traceback. Each subclass also derives from the builtin it refines (``ValueError``, ...), so
``except ValueError`` keeps working.
"""

from __future__ import annotations


class LQError(Exception):
    """A problem with the user's input, configuration or strategy; the message says what and where."""
