"""How the benchmark scripts print their figures: one ``name=value`` line each, then (``--json``) the
same figures as one JSON line. Imported by the scripts beside it (run as ``python scripts/NAME.py``,
this folder is on ``sys.path``)."""

from __future__ import annotations

import json
from typing import Any, Mapping


def print_figures(figures: Mapping[str, Any], as_json: bool = False, sort_keys: bool = False) -> None:
    for k, v in figures.items():
        print(f"{k}={v}")
    if as_json:
        print(json.dumps(dict(figures), sort_keys=sort_keys))
