"""Walk-forward folds (rolling or anchored) and the final holdout, on a common clock.

Positions are indices into the dataset's clock (the sorted union of every symbol's timestamps), so
a window is the same calendar period for every symbol. Layout over ``n`` positions:

    [ development span ................................ ][gap][ holdout ]
      train_0 [gap] val_0 [gap] val_1 [gap] val_2 ...

- holdout: the last ``round(holdout_fraction * n)`` positions; the development span ends ``gap``
  positions before it (embargo).
- validation windows are consecutive and disjoint, each preceded by ``gap`` positions; fold k trains
  on the ``T`` positions before that gap (rolling) or on everything from 0 to it (anchored).
- lengths: ``T = floor(train_fraction * D)`` and ``V = floor((D - T) / n_folds) - gap`` for a
  development span of D positions, or explicit ``train_bars`` / ``validation_bars``; the layout is
  aligned to the end of the development span (the most recent data is used).

Selection code only ever receives ``FoldPlan.selection_windows()``; ``check_selection_window``
refuses a holdout window or any window reaching into the embargo/holdout (``HoldoutLeakError``).
"""

from __future__ import annotations

from lq_engine.errors import LQError

from dataclasses import dataclass

import numpy as np

from lq_engine.optimize.config import ConfigError, OptimizeConfig

TRAIN, VALIDATION, HOLDOUT = "train", "validation", "holdout"


class HoldoutLeakError(LQError, RuntimeError):
    """Selection code was handed data from the holdout."""


@dataclass(frozen=True)
class Window:
    kind: str  # train | validation | holdout
    fold: int  # -1 for the holdout
    start: int  # clock positions [start, stop)
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Fold:
    index: int
    train: Window
    validation: Window


@dataclass(frozen=True)
class FoldPlan:
    n: int
    mode: str
    gap: int
    folds: tuple[Fold, ...]
    holdout: Window

    @property
    def development_end(self) -> int:
        """First position selection may not touch (start of the embargo before the holdout)."""
        return self.holdout.start - self.gap

    def selection_windows(self) -> tuple[Window, ...]:
        """Every train and validation window, fold by fold; never the holdout."""
        return tuple(w for f in self.folds for w in (f.train, f.validation))

    def train_windows(self) -> tuple[Window, ...]:
        return tuple(f.train for f in self.folds)

    def validation_windows(self) -> tuple[Window, ...]:
        return tuple(f.validation for f in self.folds)


def make_folds(n: int, config: OptimizeConfig = OptimizeConfig()) -> FoldPlan:
    """The fold plan for a clock of ``n`` positions; raises ``ConfigError`` (a ValueError) when
    the data is too short for the settings."""
    c = config
    h = int(round(c.holdout_fraction * n))
    if h < c.min_window_bars:
        raise ConfigError(f"folds: holdout of {h} bars ({c.holdout_fraction:g} of {n}) is below "
                         f"min_window_bars={c.min_window_bars}; use more data or a larger holdout_fraction")
    hold = Window(HOLDOUT, -1, n - h, n)
    d = hold.start - c.gap_bars
    k = c.n_folds
    if c.train_bars is not None:
        t, v = c.train_bars, c.validation_bars
    else:
        t = int(c.train_fraction * d)
        v = (d - t) // k - c.gap_bars
    need = t + k * (c.gap_bars + v)
    if min(t, v) < c.min_window_bars or need > d:
        raise ConfigError(
            f"folds: {n} bars leave a development span of {d} (holdout {h}, gap {c.gap_bars}); "
            f"{k} folds of train {t} + validation {v} bars need {need} with windows of at least "
            f"min_window_bars={c.min_window_bars}; use more data, fewer n_folds or a smaller min_window_bars")
    offset = d - need
    folds = []
    for i in range(k):
        v0 = offset + t + c.gap_bars + i * (v + c.gap_bars)
        t1 = v0 - c.gap_bars
        t0 = 0 if c.fold_mode == "anchored" else t1 - t
        folds.append(Fold(i, Window(TRAIN, i, t0, t1), Window(VALIDATION, i, v0, v0 + v)))
    plan = FoldPlan(n, c.fold_mode, c.gap_bars, tuple(folds), hold)
    for w in plan.selection_windows():
        check_selection_window(plan, w)
    return plan


def check_selection_window(plan: FoldPlan, window: Window) -> Window:
    """Guard used by every selection path: the holdout (and its embargo) is out of bounds."""
    if window.kind == HOLDOUT or window.fold < 0:
        raise HoldoutLeakError(f"selection was handed the holdout window {window}")
    if window.stop > plan.development_end or window.start < 0 or window.start >= window.stop:
        raise HoldoutLeakError(f"selection window {window} reaches past the development span "
                               f"[0, {plan.development_end}) before the holdout {plan.holdout}")
    return window


def clock_of(ts_arrays: list[np.ndarray]) -> np.ndarray:
    """The sorted union of the symbols' timestamps (the first array itself if all are equal)."""
    first = ts_arrays[0]
    if all(a.shape == first.shape and np.array_equal(a, first) for a in ts_arrays[1:]):
        return np.asarray(first)
    return np.unique(np.concatenate(ts_arrays))


def symbol_range(clock: np.ndarray, ts: np.ndarray, window: Window) -> tuple[int, int]:
    """Row range [a, b) of one symbol's timestamps that fall inside ``window``'s clock span."""
    lo = clock[window.start]
    a = int(np.searchsorted(ts, lo, side="left"))
    b = int(np.searchsorted(ts, clock[window.stop], side="left")) if window.stop < clock.shape[0] else ts.shape[0]
    return a, b
