"""Exchange API keys: from environment variables or a file outside the project, never stored.

The ``Credentials`` object masks itself in ``repr``/``str``; nothing in ``lq_engine.live`` writes it
to a log, a state file or the catalog (tested), and ``redact`` scrubs keys from foreign error text.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from lq_engine.live.errors import FeedUnavailableError
from lq_engine.project import ProjectNotFoundError, find_project, source_checkout

ENV_PREFIX = "LQ_EXCHANGE_"


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)
    origin: str = ""  # where they came from (variable names or file path), safe to show

    def __repr__(self) -> str:
        return f"Credentials(origin={self.origin!r}, api_key=***, secret=***)"

    __str__ = __repr__

    def ccxt_options(self) -> dict[str, str]:
        opts = {"apiKey": self.api_key, "secret": self.secret}
        if self.password:
            opts["password"] = self.password
        return opts

    def secrets(self) -> list[str]:
        return [s for s in (self.api_key, self.secret, self.password) if s]


def _guarded_roots() -> list[tuple[Path, str]]:
    """Folders a key file must not be in: the project (which its owner may commit) and the source
    checkout this package runs from, if any."""
    roots = []
    try:
        roots.append((find_project().root.resolve(), "project"))
    except ProjectNotFoundError:
        pass
    checkout = source_checkout()
    if checkout is not None:
        roots.append((checkout.resolve(), "repository"))
    return roots


def load_credentials(key_file: Path | None = None, env_prefix: str = ENV_PREFIX) -> Credentials | None:
    """Keys from ``key_file`` (JSON with apiKey, secret[, password]) if given, else from
    ``<prefix>API_KEY`` / ``<prefix>SECRET`` / ``<prefix>PASSWORD``; None when neither has any."""
    if key_file is not None:
        path = Path(key_file).expanduser().resolve()
        for root, what in _guarded_roots():
            if path.is_relative_to(root):
                raise FeedUnavailableError(f"{path}: key files must live outside the {what} ({root}), "
                                           "so they can never be committed; move it and pass the new path")
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise FeedUnavailableError(f"{path}: key file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise FeedUnavailableError(f"{path}: key file is not JSON like "
                                       '{"apiKey": "...", "secret": "..."}') from None
        if not isinstance(d, dict) or not d.get("apiKey") or not d.get("secret"):
            raise FeedUnavailableError(f"{path}: key file needs non-empty 'apiKey' and 'secret' fields")
        return Credentials(str(d["apiKey"]), str(d["secret"]), d.get("password"), origin=str(path))
    key, secret = os.environ.get(env_prefix + "API_KEY"), os.environ.get(env_prefix + "SECRET")
    if not key and not secret:
        return None
    if not key or not secret:
        raise FeedUnavailableError(f"set both {env_prefix}API_KEY and {env_prefix}SECRET (one is missing)")
    return Credentials(key, secret, os.environ.get(env_prefix + "PASSWORD") or None,
                       origin=f"env {env_prefix}API_KEY/{env_prefix}SECRET")


def redact(text: str, credentials: Credentials | None) -> str:
    if credentials is not None:
        for s in credentials.secrets():
            text = text.replace(s, "***")
    return text
