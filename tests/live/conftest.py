"""Shared data for the paper-trading tests: a small seeded series, frozen through the real lake."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lq_engine.data.frozen import UniverseSpec, build_frozen
from lq_engine.data.ingest import ingest_file
from lq_engine.data.paths import DataPaths
from lq_engine.data.bars import Bars
from lq_engine.execution.sizing import BracketSpec

SYMBOL = "PAPER"
N_BARS = 160
T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00Z
PARAMS = {"fast": 4, "slow": 12, "side": "both"}
BRACKETS = BracketSpec(stop_loss=0.02, take_profit=0.03)


def make_frame(n: int = N_BARS, seed: int = 7) -> pl.DataFrame:
    """Seeded 1-minute bars with low volume so the liquidity cap splits fills (partials carried)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.008, n)))
    open_ = np.r_[100.0, close[:-1]] * (1 + rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.006, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.006, n))
    volume = rng.uniform(200, 3000, n)
    return pl.DataFrame({"symbol": [SYMBOL] * n, "timeframe": ["1m"] * n,
                         "ts": T0 + np.arange(n, dtype=np.int64) * 60_000_000_000,
                         "open": open_, "high": high, "low": low, "close": close, "volume": volume})


def series_from_frame(df: pl.DataFrame) -> Bars:
    return Bars.from_arrays(SYMBOL, *(df[c].to_numpy() for c in ("ts", "open", "high", "low", "close", "volume")))


@pytest.fixture(scope="session")
def data_paths(tmp_path_factory) -> DataPaths:
    paths = DataPaths(tmp_path_factory.mktemp("lq_data")).ensure()
    f = paths.landing / "paper_bars.parquet"
    make_frame().write_parquet(f)
    ingest_file(f, paths)
    return paths


@pytest.fixture(scope="session")
def frozen_folder(data_paths) -> Path:
    return build_frozen(data_paths, UniverseSpec("paper_test", (SYMBOL,), "1m")).folder


UNIVERSE = ("UA", "UB", "UC")
PORTFOLIO_PARAMS = {"lookback": 6, "top": 1, "every": 4, "short": True}


@pytest.fixture(scope="session")
def universe_folder(data_paths) -> Path:
    """Three symbols with staggered starts and a few missing bars, frozen as one universe."""
    frames = []
    for k, sym in enumerate(UNIVERSE):
        df = make_frame(N_BARS - 10 * k, seed=11 + k).with_columns(pl.lit(sym).alias("symbol"))
        df = df.with_columns((pl.col("ts") + 10 * k * 60_000_000_000).alias("ts"))
        frames.append(df.filter(pl.int_range(pl.len()) % 17 != 5 + k))
    f = data_paths.landing / "paper_universe.parquet"
    pl.concat(frames).write_parquet(f)
    ingest_file(f, data_paths)
    return build_frozen(data_paths, UniverseSpec("paper_universe", UNIVERSE, "1m")).folder


@pytest.fixture(scope="session")
def frozen_series(frozen_folder) -> Bars:
    from lq_engine.live.feeds import ReplayFeed

    return ReplayFeed.from_frozen(frozen_folder, SYMBOL).series
