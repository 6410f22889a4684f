"""Clocks: simulated (replay, driven by event time) and wall (live). Time is int ns UTC."""

from __future__ import annotations

import heapq
import time
from typing import Protocol

from lq_engine.core.events import TimerEvent
from lq_engine.core.sequencer import Sequencer


class Clock(Protocol):
    def now_ns(self) -> int: ...


class WallClock:
    """Real time; for live and paper trading against the wall clock."""

    def now_ns(self) -> int:
        return time.time_ns()


class SimulatedClock:
    """Time moves only when the driver says so (to each event's timestamp), never backwards.

    Timers are kept in a heap keyed on (fire time, sequence at scheduling): ``advance_to`` returns
    the timers due up to and including the new time, in that order, each as a ``TimerEvent``
    stamped with its fire time.
    """

    __slots__ = ("_now", "_sequencer", "_timers")

    def __init__(self, sequencer: Sequencer, start_ns: int = 0) -> None:
        self._now = int(start_ns)
        self._sequencer = sequencer
        self._timers: list[tuple[int, int, str]] = []

    def now_ns(self) -> int:
        return self._now

    def set_timer(self, name: str, at_ns: int) -> None:
        if at_ns < self._now:
            raise ValueError(f"timer {name!r}: fire time {at_ns} is before the clock ({self._now})")
        heapq.heappush(self._timers, (int(at_ns), self._sequencer.next(), name))

    def advance_to(self, ts_ns: int) -> list[TimerEvent]:
        if ts_ns < self._now:
            raise ValueError(f"simulated clock cannot go backwards: {ts_ns} < {self._now}")
        fired: list[TimerEvent] = []
        while self._timers and self._timers[0][0] <= ts_ns:
            at, _, name = heapq.heappop(self._timers)
            fired.append(TimerEvent(at, self._sequencer.next(), name))
        self._now = int(ts_ns)
        return fired
