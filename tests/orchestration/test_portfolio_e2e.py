"""Portfolio strategies end to end on the bundled universe (issue: "Portfolios", must-show): pairs and
cross-sectional momentum optimized through `lq optimize` and Dagster, their weights and contributions
in the catalog, the report and the asset metadata beside the inverse-volatility benchmark, and the
winner paper-traded over the whole universe from one account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lq_engine.optimize.report import report_text
from tests.orchestration.project import bundled_toml, BUNDLED, lq, new_project

PROJECT_TOML = bundled_toml()
SYMBOLS = {"AAPL", "GOOG", "IBM", "MSFT"}


@pytest.mark.slow
def test_pairs_and_momentum_are_optimized_reported_against_the_benchmark_and_paper_traded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    project = new_project(tmp_path, PROJECT_TOML)
    lq(["ingest", str(BUNDLED)], project)
    out = lq(["optimize", "--dataset", "us_stocks_daily", "--strategy", "pairs", "xs_momentum"], project).stdout
    assert "pairs" in out and "xs_momentum" in out

    import dagster as dg

    monkeypatch.setenv("DAGSTER_HOME", str(project / "dagster_home"))
    with dg.DagsterInstance.from_config(str(project / "dagster_home")) as instance:
        for name in ("pairs", "xs_momentum"):
            key = dg.MultiPartitionKey({"dataset": "us_stocks_daily", "strategy": name})
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("replay_results"), asset_partitions=[str(key)]),
                limit=1).records
            ev = records[0].event_log_entry
            meta = ev.asset_materialization.metadata
            assert ("every" if name == "xs_momentum" else "pair") in json.loads(meta["winner"].value)
            assert "weights" in meta and "contributions" in meta and "winner_vs_benchmark" in meta, name
            assert meta["benchmark_holdout_sharpe"].value == meta["benchmark_holdout_sharpe"].value  # a number

    import duckdb

    with duckdb.connect(str(project / "data" / "catalog.duckdb"), read_only=True) as con:
        for name in ("pairs", "xs_momentum"):
            symbols = {r[0] for r in con.execute("SELECT DISTINCT symbol FROM winner_weights WHERE strategy = ?",
                                                 [name]).fetchall()}
            assert symbols and symbols <= SYMBOLS, (name, symbols)
            biggest, = con.execute("SELECT max(abs(weight)) FROM winner_weights WHERE strategy = ?", [name]).fetchone()
            assert 0 < biggest <= 1.0, (name, biggest)
            n, = con.execute("SELECT count(*) FROM winner_contributions WHERE strategy = ?", [name]).fetchone()
            b, = con.execute("SELECT benchmark_holdout_total_return FROM optimization_winners WHERE strategy = ?",
                             [name]).fetchone()
            assert n > 0 and b == b, name
    page = report_text(project / "data" / "results" / "report")  # the index and a page per strategy
    assert page.count("<h3 id='portfolio-weights-and-contributions'>") == 2 and "inverse-volatility" in page
    assert page.count("<div id='chart-weights' class='chart'") == 2  # interactive: equal weights apart on hover

    paper = lq(["paper", "run", "--dataset", "us_stocks_daily", "--strategy", "xs_momentum", "--max-bars", "900"],
               project).stdout
    assert "fills" in paper.lower(), paper
    with duckdb.connect(str(project / "data" / "catalog.duckdb"), read_only=True) as con:
        traded = {r[0] for r in con.execute("SELECT DISTINCT f.symbol FROM paper_fills f JOIN paper_runs r "
                                            "USING (run_id) WHERE r.strategy = 'xs_momentum'").fetchall()}
    assert len(traded) >= 2 and traded <= SYMBOLS, traded
