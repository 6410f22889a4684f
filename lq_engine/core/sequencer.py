"""Sequence numbers: the tie-breaker that makes (timestamp_ns, sequence) a total order."""

from __future__ import annotations

import numpy as np


class Sequencer:
    """Hands out strictly increasing integers, one per event, in creation order.

    One sequencer per engine run; its state (``peek``) is part of a runtime snapshot so a restored
    run continues the numbering instead of reusing numbers.
    """

    __slots__ = ("_next",)

    def __init__(self, start: int = 0) -> None:
        if start < 0:
            raise ValueError(f"sequencer start must be >= 0, got {start}")
        self._next = int(start)

    def next(self) -> int:
        n = self._next
        self._next = n + 1
        return n

    def next_block(self, count: int) -> np.ndarray:
        """``count`` consecutive sequence numbers as an int64 array (for columnar batches)."""
        if count < 0:
            raise ValueError(f"block size must be >= 0, got {count}")
        start = self._next
        self._next = start + count
        return np.arange(start, start + count, dtype=np.int64)

    def peek(self) -> int:
        """The number the next call will return (without consuming it)."""
        return self._next
