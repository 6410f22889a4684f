"""What every report chart shares: matplotlib without a display, timestamps as dates, the mean
equity curve of several symbols, and saving a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display; imported on first use)."""
    import matplotlib  # lazy: ~0.5 s at start-up; only plots need it

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # after matplotlib.use('Agg')

    return plt


def dates(ts: np.ndarray) -> np.ndarray:
    """int64 ns timestamps as datetime64 (matplotlib's date axis)."""
    return np.asarray(ts, dtype=np.int64).astype("datetime64[ns]")


def mean_curve(segs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Equal-weight mean of the segments' rebased equity on the union of their timestamps."""
    ts = np.unique(np.concatenate([s.ts for s in segs]))
    acc = np.zeros(ts.shape[0])
    for s in segs:
        eq = s.equity / s.equity[0]
        i = np.searchsorted(s.ts, ts, side="right") - 1
        acc += np.where(i >= 0, eq[np.maximum(i, 0)], 1.0)
    return ts, acc / len(segs)


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (its folder made) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    pyplot().close(fig)
    return path
