"""A researcher's own strategy, end to end, without touching the package: a new file in a temporary
project's strategies/ folder is checked, optimized through Dagster, becomes a partition of the
optimizer assets, and is paper-traded (issue: "Your own strategies", must-show)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from tests.orchestration.project import bundled_toml, BUNDLED, lq, new_project

USER_STRATEGY = '''"""Pullback entries in an EMA uptrend, sized by ATR, with a time stop and a protective stop."""

import math

import lq_engine.api as lq


class PullbackTrend(lq.Strategy):
    """In an uptrend (fast EMA above slow EMA), buy when the close dips below the fast EMA, sized so a
    2-ATR move costs about `risk` of equity; out when the trend breaks or after `max_bars` bars."""

    fast = lq.Int(3, 100, grid=(10, 20))
    slow = lq.Int(10, 400, grid=(50, 100))
    risk = lq.Float(0.001, 0.05, step=0.001, grid=(0.01, 0.02))
    max_bars = lq.Int(2, 500, grid=(10, 30))
    constraints = [lq.less("fast", "slow")]
    state = lq.State(entries=0)

    @lq.indicator
    def fast_ema(bars, fast):
        return lq.ta.ema(bars.close, fast)

    @lq.indicator
    def slow_ema(bars, slow):
        return lq.ta.ema(bars.close, slow)

    @lq.indicator
    def atr(bars, window=14):
        return lq.ta.atr(bars.high, bars.low, bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        up = ind.fast_ema[i] > ind.slow_ema[i]
        if pos.target > 0.0:
            if not up or pos.bars_held >= p.max_bars:
                return 0.0
            return pos.target
        if up and bars.close[i] < ind.fast_ema[i] and ind.atr[i] > 0.0:
            st.entries += 1
            return lq.clip(p.risk * bars.close[i] / (2.0 * ind.atr[i]), 0.1, 1.0)
        return 0.0

    @lq.exits
    def exits(i, bars, ind, p, pos, st):
        d = 3.0 * ind.atr[i] / bars.close[i]
        return (d, math.nan, math.nan) if 0.0 < d < 1.0 else (math.nan, math.nan, math.nan)
'''

PROJECT_TOML = bundled_toml("[strategies.pullback_trend.grid]\nmax_bars = [10, 20, 30]\n",
                            top_k_min=5, top_k_max=5, audit_size=3)


@pytest.mark.slow
def test_a_new_strategy_file_is_checked_optimized_partitioned_and_paper_traded(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch):
    project = new_project(tmp_path, PROJECT_TOML, {"pullback_trend": USER_STRATEGY})
    package = sorted(p.name for p in (REPO_ROOT / "lq_engine" / "strategies" / "library").iterdir())

    listed = lq(["strategy", "list"], project).stdout
    assert "pullback_trend" in listed and "project" in listed

    check = lq(["strategy", "check", "pullback_trend", "--no-timing"], project).stdout
    assert check.count("PASS") == 6 and "FAIL" not in check, check

    lq(["ingest", str(BUNDLED)], project)
    out = lq(["optimize", "--dataset", "us_stocks_daily", "--strategy", "pullback_trend"], project).stdout
    assert "pullback_trend" in out

    import dagster as dg

    monkeypatch.setenv("DAGSTER_HOME", str(project / "dagster_home"))
    with dg.DagsterInstance.from_config(str(project / "dagster_home")) as instance:
        assert "pullback_trend" in instance.get_dynamic_partitions("strategies")
        key = dg.MultiPartitionKey({"dataset": "us_stocks_daily", "strategy": "pullback_trend"})
        ev = instance.get_latest_materialization_event(dg.AssetKey("replay_results"))
        assert ev is not None and ev.dagster_event.partition == str(key)
        meta = ev.asset_materialization.metadata
        assert meta["strategy_source"].value.endswith("pullback_trend.py:PullbackTrend")
        source_hash = hashlib.sha256((project / "strategies" / "pullback_trend.py").read_bytes()).hexdigest()
        assert meta["strategy_version"].value.startswith(source_hash[:16])  # plus the project grid's hash
        ranked = instance.get_latest_materialization_event(dg.AssetKey("prefilter_rankings"))
        assert ranked.asset_materialization.metadata["parameter_sets"].value == 2 * 2 * 2 * 3  # [strategies...grid]

    paper = lq(["paper", "run", "--dataset", "us_stocks_daily", "--symbol", "AAPL", "--strategy", "pullback_trend",
                 "--max-bars", "1500"], project).stdout
    assert "fills" in paper.lower(), paper
    assert sorted(p.name for p in (REPO_ROOT / "lq_engine" / "strategies" / "library").iterdir()) == package
    assert (project / "data" / "lake").is_dir() and (project / "dagster_home" / "storage").is_dir()
