"""What ``lq strategy new NAME`` and ``lq init`` write: the commented template of a strategy file,
the test that checks it, and a new project (``init_project``).

The template is the example of docs/how-to/own-strategy.md (a test keeps them the same).
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from lq_engine.authoring.declare import StrategyError
from lq_engine.errors import LQError
from lq_engine.project import CONFIG_NAME, shipped

TEMPLATE = '''"""{title}: a moving-average trend with a volatility-sized position and a time stop.

Written with LuminaQuant's strategy API. Check it with `lq strategy check {name}`,
optimize it with `lq optimize --strategy {name}`, paper-trade it with `lq paper run --strategy {name}`.
"""

import math

import lq_engine.api as lq


class {cls}(lq.Strategy):
    """Long while the fast average is above the slow one, sized to a volatility target; out after
    `max_bars` bars in a trade (and not in again until the trend resets)."""

    # Parameters: a valid range, and the default grid the optimizer scores (grid=... or step=...).
    # luminaquant.toml can replace a grid: [strategies.{name}.grid] fast = [5, 10, 20]
    fast = lq.Int(2, 200, grid=(5, 10, 20))
    slow = lq.Int(10, 1000, grid=(50, 100, 200))
    target_vol = lq.Float(0.001, 0.05, step=0.001, grid=(0.005, 0.01))
    max_bars = lq.Int(1, 10_000, grid=(50, 200))
    constraints = [lq.less("fast", "slow")]

    # State: numbers the strategy keeps from bar to bar (one record per parameter set).
    state = lq.State(stopped=False)

    # Indicators: arrays over the bars (open, high, low, close, volume, ts), computed once per
    # distinct value of the parameters they take. Value i may use bars 0..i only.
    @lq.indicator
    def fast_ma(bars, fast):
        return lq.ta.sma(bars.close, fast)

    @lq.indicator
    def slow_ma(bars, slow):
        return lq.ta.sma(bars.close, slow)

    @lq.indicator
    def vol(bars, span=30):  # an argument with a default is a constant, not a parameter
        return lq.ta.ewm_vol(bars.close, span)

    # The decision, compiled by numba, at the close of bar i: the exposure wanted from the next open
    # on, a number in [-1, 1] (1 = all in long, 0.5 = half, -1 = all in short, 0 = flat).
    # pos.target, pos.entry_price and pos.bars_held describe the strategy's own position.
    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if not ind.fast_ma[i] > ind.slow_ma[i]:  # also False while the averages are still NaN
            st.stopped = False
            return 0.0
        if st.stopped or not ind.vol[i] > 0.0:
            return 0.0
        if pos.target > 0.0 and pos.bars_held >= p.max_bars:
            st.stopped = True
            return 0.0
        return min(1.0, p.target_vol / ind.vol[i])

    # Optional: protective orders for each entry, as fractions of the entry price (NaN for none).
    @lq.exits
    def exits(i, bars, ind, p, pos, st):
        return 0.05, math.nan, 0.08  # stop-loss 5% below the entry, trailing stop 8% behind
'''

PORTFOLIO_TEMPLATE = '''"""{title}: a portfolio strategy that holds the strongest symbols of the universe.

Written with LuminaQuant's strategy API. Check it with `lq strategy check {name}`,
optimize it with `lq optimize --strategy {name}`, paper-trade it with `lq paper run --strategy {name}`.
"""

import numpy as np

import lq_engine.api as lq


class {cls}(lq.PortfolioStrategy):
    """Every `every` bars, hold the `top` symbols with the best return over `lookback` bars among those
    trading above their `trend` average, equally weighted; cash when none qualifies."""

    # The universe: how many symbols it needs (max_symbols = None: any number), and the cap on the
    # sum of |weight| that decide may set.
    min_symbols = 2
    gross = 1.0

    lookback = lq.Int(5, 500, grid=(20, 60, 120))
    trend = lq.Int(10, 1000, grid=(50, 200))
    top = lq.Int(1, 50, grid=(1, 2))
    every = lq.Int(1, 250, grid=(5, 20))

    # Indicators see the whole universe on one clock: bars.close is (symbols x bars), bars.mask says
    # which symbol has a bar at each clock bar (a missing bar carries its last close forward).
    # Return one row per symbol. Value [s, i] may use bars 0..i only.
    @lq.indicator
    def momentum(bars, lookback):
        return np.vstack([lq.ta.roc(c, lookback) for c in bars.close])

    @lq.indicator
    def trend_ma(bars, trend):
        return np.vstack([lq.ta.sma(c, trend) for c in bars.close])

    # The decision, compiled by numba, at the close of clock bar i: write each symbol's weight into w
    # (it keeps the previous weights until you change them; positive long, negative short). Return
    # True to bring every holding back to its weight at the next open; None changes only the symbols
    # whose weight changed. pos.target[s] is the weight in force for symbol s.
    @lq.decide
    def decide(i, bars, ind, p, pos, st, w):
        if i % p.every != 0:
            return
        n_sym = w.shape[0]
        for s in range(n_sym):
            w[s] = 0.0
        k = 0
        while k < p.top:
            best = -1
            for s in range(n_sym):
                m = ind.momentum[s, i]
                ok = bars.mask[s, i] and m == m and bars.close[s, i] > ind.trend_ma[s, i]
                if ok and w[s] == 0.0 and (best < 0 or m > ind.momentum[best, i]):
                    best = s
            if best < 0:
                break
            w[best] = 1.0  # marked; scaled below
            k += 1
        for s in range(n_sym):
            if w[s] != 0.0:
                w[s] = 1.0 / k
        return True
'''

TEST_TEMPLATE = '''"""Checks of strategy {name}: the same as `lq strategy check {name}` (compile, grid, decisions,
lookahead, parity of every driver, a small sweep). Run with `pytest {test_path}`."""

from lq_engine.optimize.checks import check_strategy


def test_{name}_passes_the_strategy_checks():
    report = check_strategy("{name}", timing=False, sweep_bars=2_000)
    assert report.ok, report.summary()
'''


def check_name(name: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name or "") or keyword.iskeyword(name):
        raise StrategyError(f"strategy name {name!r}: use lower-case letters, digits and underscores, "
                            "starting with a letter (it becomes the file name)")
    return name


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) or "MyStrategy"


def render(name: str, portfolio: bool = False) -> str:
    """The template strategy file (``portfolio``: a portfolio strategy over a universe)."""
    name = check_name(name)
    text = PORTFOLIO_TEMPLATE if portfolio else TEMPLATE
    return text.format(name=name, cls=class_name(name), title=name.replace("_", " ").capitalize())


def write_strategy(project_root: Path, strategies_dir: Path, name: str, force: bool = False,
                   portfolio: bool = False) -> tuple[Path, Path]:
    """Write ``strategies/NAME.py`` (``portfolio``: the portfolio template) and
    ``tests/test_strategy_NAME.py``; refuse to overwrite."""
    name = check_name(name)
    path = strategies_dir / f"{name}.py"
    test_path = project_root / "tests" / f"test_strategy_{name}.py"
    for p in (path, test_path):
        if p.exists() and not force:
            raise StrategyError(f"{p} exists; choose another name (or --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    test_path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(name, portfolio))
    rel = test_path.relative_to(project_root)
    test_path.write_text(TEST_TEMPLATE.format(name=name, test_path=rel))
    return path, test_path


class ProjectExistsError(LQError, FileExistsError):
    pass


EXAMPLE_STRATEGY = "trend_pullback"
PROJECT_GITIGNORE = """\
# LuminaQuant runtime state: the lake, catalog, reports and paper state (data/) and the Dagster
# instance's storage (only dagster_home/dagster.yaml is configuration)
/data/
dagster_home/*
!dagster_home/dagster.yaml
__pycache__/
"""


def init_project(folder: Path) -> list[Path]:
    """Write a new project into ``folder`` (created if needed): ``luminaquant.toml`` (the shipped
    starter: the bundled and synthetic universes, optimizer defaults), ``workspace.yaml`` (the one
    code location, ``luminaquant``), ``dagster_home/dagster.yaml`` (the instance of the local
    profile), ``strategies/trend_pullback.py`` (the example strategy of ``lq strategy new``) with its
    test, and a ``.gitignore`` for the runtime state. Refuses to overwrite anything: a folder that
    already holds a project, or any of these files, is a ``ProjectExistsError``. Returns the files."""
    root = Path(folder).expanduser().resolve()
    if (root / CONFIG_NAME).exists():
        raise ProjectExistsError(f"{root} already holds a project ({CONFIG_NAME}); nothing was written")
    if root.exists() and not root.is_dir():
        raise ProjectExistsError(f"{root} exists and is not a folder; nothing was written")
    files: dict[Path, str] = {
        root / CONFIG_NAME: shipped(CONFIG_NAME).read_text(),
        root / "workspace.yaml": shipped("workspace.yaml").read_text(),
        root / "dagster_home" / "dagster.yaml": shipped("dagster_home/dagster.yaml").read_text(),
        root / "strategies" / f"{EXAMPLE_STRATEGY}.py": render(EXAMPLE_STRATEGY),
        root / "tests" / f"test_strategy_{EXAMPLE_STRATEGY}.py": TEST_TEMPLATE.format(
            name=EXAMPLE_STRATEGY, test_path=f"tests/test_strategy_{EXAMPLE_STRATEGY}.py"),
        root / ".gitignore": PROJECT_GITIGNORE,
    }
    taken = [p for p in files if p.exists()]
    if taken:
        raise ProjectExistsError(f"{taken[0]} exists; `lq init` writes a new project only (nothing was written)")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
