"""A paper run on history against the replay: the first bar where their decisions differ.

The paper trader decides bar i from bars 0..i only; the replay decides over the whole series at
once. A causal strategy makes the same decisions both ways, to the last bit (its indicators and its
own state at bar i depend on bars up to i only). A strategy whose decision at some bar changes when
the later bars are hidden was reading them: lookahead. Its replay and optimization figures are then
not to be believed; its paper figures are what it would have done.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

META_KEY = "replay_check"  # where the trader keeps the last check (JSON of ``ReplayCheck``)


@dataclass(frozen=True)
class ReplayCheck:
    """``bars`` decisions compared; ``bar`` the first that differs (None: none does), with its
    timestamp and the two decisions (a target, a weight per symbol, or (target, exits))."""

    bars: int
    bar: int | None = None
    ts: int | None = None
    paper: Any = None
    replay: Any = None

    @property
    def diverged(self) -> bool:
        return self.bar is not None

    def message(self) -> str:
        if self.bar is None:
            return f"paper decisions equal the replay's on all {self.bars:,} bars"
        when = datetime.fromtimestamp(self.ts / 1e9, tz=timezone.utc).isoformat() if self.ts is not None else "?"
        return (f"paper decisions diverge from the replay at bar {self.bar} ({when}): the strategy's decision "
                f"changed when later bars were hidden \u2014 lookahead (paper {_show(self.paper)}, replay "
                f"{_show(self.replay)}); the replay's and any optimization's figures for it are not to be trusted")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> ReplayCheck:
        return cls(**json.loads(raw))


def _show(x: Any) -> str:
    return json.dumps(x, sort_keys=True) if isinstance(x, (dict, list)) else repr(x)


def same(a: Any, b: Any) -> bool:
    """Equal to the last bit, NaN equal to NaN (exit fractions not set are NaN)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def first_divergence(ts: Sequence[int], paper: Sequence[Any], replay: Sequence[Any]) -> ReplayCheck:
    """Compare decisions bar by bar (``paper`` and ``replay`` aligned with ``ts``)."""
    if not (len(ts) == len(paper) == len(replay)):
        raise ValueError(f"replay check: {len(ts)} bars, {len(paper)} paper and {len(replay)} replay decisions")
    for j, (p, r) in enumerate(zip(paper, replay)):
        if not same(p, r):
            return ReplayCheck(len(ts), j, int(ts[j]), p, r)
    return ReplayCheck(len(ts))
