"""Progress of long work: one line every few seconds with the elapsed time and, when the total is
known, an ETA (issue 21 #7).

``Progress`` is what engine code reports to. Each line goes to the caller's ``report`` callback, if
any (a Dagster asset passes its step log, ``context.log.info``), and, in a process working for an
``lq`` command (``LQ_CLI_T0`` set: the command itself and the optimize worker it spawns), to the
terminal as the CLI's own ``[lq   12.3s] ...`` lines (``cli_line``). Short work prints nothing: the
first line comes after ``every`` seconds. Engine functions that can run long take an optional
``report`` and make their own ``Progress`` with the total they know.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EVERY_S = 5.0  # at most one line per this many seconds
CLI_T0_ENV = "LQ_CLI_T0"  # wall-clock start of the ``lq`` command (epoch seconds), inherited by its children

Report = Callable[[str], None]


def cli_started() -> float:
    """When the ``lq`` command of this process started (epoch seconds): ``LQ_CLI_T0``, else now."""
    try:
        return float(os.environ[CLI_T0_ENV])
    except (KeyError, ValueError):
        return _IMPORTED


_IMPORTED = time.time()


def cli_line(msg: str) -> str:
    """The CLI's progress line: seconds since the command started, then the message."""
    return f"[lq {time.time() - cli_started():6.1f}s] {msg}"


def to_terminal(msg: str) -> None:
    """Print ``msg`` as a CLI line when this process works for an ``lq`` command (``LQ_CLI_T0``)."""
    if CLI_T0_ENV in os.environ:
        print(cli_line(msg), flush=True)


def duration(seconds: float) -> str:
    """``4.2s``, ``2m05s``, ``1h02m``."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        m, r = divmod(int(round(s)), 60)
        return f"{m}m{r:02d}s"
    h, r = divmod(int(round(s)), 3600)
    return f"{h}h{r // 60:02d}m"


class Progress:
    """``done`` of ``total`` units of ``what``; ``advance()`` after each, ``tick()`` to say it still runs.

    A line (``text()``) is reported at most once every ``every`` seconds, the first after ``every``
    seconds; ``finish()`` reports a last line only when an earlier one was reported (a long stage
    closes its progress, a short one stays silent). ``report``: where lines go besides the terminal
    of an ``lq`` command (``to_terminal``); ``clock``: seconds, monotonic (injected by tests)."""

    def __init__(self, what: str, total: int | None = None, unit: str = "", report: Report | None = None,
                 every: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.what, self.total, self.unit = what, total, unit
        self.report = report
        self.every = EVERY_S if every is None else every  # read here: a test may lower the module's
        self.clock = clock
        self.done = 0
        self.note = ""
        self.lines = 0
        self._t0 = clock()
        self._last = self._t0
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return self.clock() - self._t0

    def eta(self) -> float | None:
        """Seconds left at the rate so far; None without a total or before the first unit."""
        if not self.total or self.done <= 0:
            return None
        return self.elapsed() / self.done * max(0, self.total - self.done)

    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        count = f"{self.done}/{self.total}{unit}" if self.total else (f"{self.done}{unit}" if self.done else "")
        parts = [p for p in (count, self.note) if p]
        parts.append(f"{duration(self.elapsed())} elapsed")
        eta = self.eta()
        if eta is not None:
            parts.append(f"ETA {duration(eta)}")
        return f"{self.what}: " + ", ".join(parts)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """``n`` more units done (``note``: what is being done now, shown in the line)."""
        with self._lock:
            self.done += n
            if note is not None:
                self.note = note
        self.tick()

    def tick(self) -> None:
        """Report a line if ``every`` seconds passed since the last (or since the start)."""
        with self._lock:
            now = self.clock()
            if now - self._last < self.every:
                return
            self._last = now
            self.lines += 1
            line = self.text()
        self._emit(line)

    def finish(self, note: str | None = None) -> None:
        with self._lock:
            if note is not None:
                self.note = note
            if not self.lines:
                return
            self.lines += 1
            unit = f" {self.unit}" if self.unit else ""
            count = f"{self.done}{unit}, " if self.done else ""
            line = f"{self.what}: done, {count}{duration(self.elapsed())}"
        self._emit(line)

    def _emit(self, line: str) -> None:
        if self.report is not None:
            self.report(line)
        to_terminal(line)

    @contextmanager
    def ticking(self, poll: float = 0.5) -> Iterator[Progress]:
        """While the body runs, a thread calls ``tick()`` (for work that cannot report units: a
        compiler, a library call): elapsed time at least, and the ETA when the body advances."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(poll):
                self.tick()

        t = threading.Thread(target=beat, name=f"progress {self.what}", daemon=True)
        t.start()
        try:
            yield self
        finally:
            stop.set()
            t.join()
            self.finish()
