"""The lookahead gate end to end (issue 18, Deliver 4): a cheat behind a Choice value, optimized by
`lq optimize` in a user's project on the bundled data, is marked by the lookahead verdict in the CLI
output, the leaderboard, `replay_results`' metadata, the HTML report and
`optimization_winners.verdicts`; the CLI reports the gate's cost. Before the gate the same run said
"no warning" or only the statistical verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from lq_engine.optimize.report import report_text
from tests.orchestration.project import BUNDLED, bundled_toml, lq, new_project

CHEAT = (Path(__file__).parents[1] / "optimize" / "cheats" / "choice_peek.py").read_text()
VERDICT = "lookahead: the decision at bar "


@pytest.mark.slow
def test_a_cheat_is_marked_in_every_place_a_result_is_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    project = new_project(tmp_path, bundled_toml(top_k_min=3, top_k_max=3, audit_size=2), {"choice_peek": CHEAT})
    lq(["ingest", str(BUNDLED)], project)
    out = lq(["optimize", "--dataset", "us_stocks_daily", "--strategy", "choice_peek"], project).stdout
    gate_line = next(line for line in out.splitlines() if line.strip().startswith("choice_peek: lookahead gate"))
    assert "FAILED" in gate_line and "parameter sets" in gate_line and "of the optimization)" in gate_line
    board = out[out.index("Leaderboard"):]
    assert VERDICT in board and "source=next" in board

    sql = lq(["sql", "SELECT verdicts, lookahead FROM optimization_winners"], project).stdout
    assert sql.count(VERDICT) == 2  # both columns: verdicts (first) and lookahead

    import dagster as dg

    monkeypatch.setenv("DAGSTER_HOME", str(project / "dagster_home"))
    with dg.DagsterInstance.from_config(str(project / "dagster_home")) as instance:
        meta = instance.get_latest_materialization_event(dg.AssetKey("replay_results")).asset_materialization.metadata
        assert meta["verdict"].value.startswith(VERDICT) and meta["lookahead"].value.startswith(VERDICT)
        assert "FAILED" in meta["lookahead_gate"].value and meta["lookahead_seconds"].value > 0
        pre = instance.get_latest_materialization_event(dg.AssetKey("prefilter_rankings")).asset_materialization
        assert "FAILED" in pre.metadata["lookahead"].value
        report = instance.get_latest_materialization_event(dg.AssetKey("optimization_report")).asset_materialization
        html = report_text(Path(report.metadata["report"].value).parent)
    assert "Lookahead gate" in html and VERDICT in html
