"""Search beyond grids, end to end (issue: must-show): a five-parameter strategy with continuous
ranges, written with the public API in a temporary project's strategies/ folder, optimized by TPE
through `lq optimize --search tpe --trials ... --timeout ...` (Dagster runs with that run config), with
the search trace and importance plots in the report and in the asset metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lq_engine.optimize.report import report_text
from tests.orchestration.project import bundled_toml, BUNDLED, lq, new_project

FIVE_PARAMS = '''"""Trend with a dead band, a continuous exposure and a volatility cap: five parameters, three
continuous."""

import lq_engine.api as lq


class BandTrend(lq.Strategy):
    """Long `size` while the fast SMA is more than `band` above the slow one and volatility is below `vol_cap`."""

    fast = lq.Int(2, 60)
    slow = lq.Int(10, 400, log=True)
    band = lq.Float(0.0, 0.03)
    size = lq.Float(0.2, 1.0)
    vol_cap = lq.Float(0.005, 0.1, log=True)
    constraints = [lq.less("fast", "slow")]

    @lq.indicator
    def fast_ma(bars, fast):
        return lq.ta.sma(bars.close, fast)

    @lq.indicator
    def slow_ma(bars, slow):
        return lq.ta.sma(bars.close, slow)

    @lq.indicator
    def vol(bars, span=20):
        return lq.ta.ewm_vol(bars.close, span)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if ind.fast_ma[i] > ind.slow_ma[i] * (1.0 + p.band) and ind.vol[i] < p.vol_cap:
            return p.size
        return 0.0
'''

PROJECT_TOML = bundled_toml(prune_quantile=0.25)


@pytest.mark.slow
def test_tpe_optimizes_a_five_parameter_continuous_strategy_with_plots_in_report_and_metadata(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    project = new_project(tmp_path, PROJECT_TOML, {"band_trend": FIVE_PARAMS})

    lq(["ingest", str(BUNDLED)], project)
    out = lq(["optimize", "--dataset", "us_stocks_daily", "--strategy", "band_trend", "--search", "tpe",
               "--trials", "48", "--timeout", "60", "--batch-size", "12"], project).stdout
    assert "band_trend" in out

    import dagster as dg

    monkeypatch.setenv("DAGSTER_HOME", str(project / "dagster_home"))
    with dg.DagsterInstance.from_config(str(project / "dagster_home")) as instance:
        ranked = instance.get_latest_materialization_event(dg.AssetKey("prefilter_rankings"))
        meta = ranked.asset_materialization.metadata
        search = json.loads(meta["search"].value)
        assert search["method"] == "tpe" and search["trials"] == 48 and search["timeout"] == 60
        assert search["evaluated"] == meta["parameter_sets"].value and 0 < search["evaluated"] <= 48
        assert set(search["space"]) == {"fast", "slow", "band", "size", "vol_cap"}
        assert search["space"]["vol_cap"]["log"] is True and "step" not in search["space"]["band"]
        for key in ("search_trace", "importance", "contour"):
            assert "data:image/png;base64," in meta[key].value, key
        assert set(json.loads(meta["importances"].value)) <= {"fast", "slow", "band", "size", "vol_cap"}
        run = instance.get_run_by_id(ranked.run_id)
        assert run.run_config["ops"]["prefilter_rankings"]["config"]["search"] == "tpe"
        replayed = instance.get_latest_materialization_event(dg.AssetKey("replay_results")).asset_materialization
        assert json.loads(replayed.metadata["search"].value)["method"] == "tpe"
        assert replayed.metadata["n_trials"].value >= search["evaluated"]  # every evaluated set counts in N

    page = report_text(project / "data" / "results" / "report")  # the index and a page per strategy
    for alt in ("search trace", "parameter importances", "objective over the two most important parameters"):
        assert "<img src='data:image/png;base64," in page and f"alt='{alt}'" in page, alt  # inline in its page
    assert "tpe, trials=48, timeout=60s" in page

    import duckdb

    with duckdb.connect(str(project / "data" / "catalog.duckdb"), read_only=True) as con:
        recorded, = con.execute("SELECT search FROM optimization_winners WHERE strategy = 'band_trend'").fetchone()
        n_scored, = con.execute("SELECT count(DISTINCT set_index) FROM prefilter_scores "
                                "WHERE strategy = 'band_trend'").fetchone()
    assert json.loads(recorded)["method"] == "tpe" and n_scored == search["evaluated"]
