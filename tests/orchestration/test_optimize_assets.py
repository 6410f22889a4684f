"""prefilter_rankings -> replay_results -> optimization_report in process, plus the schedule and
the automation conditions evaluated with Dagster's helpers."""

import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from lq_assets.cli.main import build_parser
from lq_assets.cli.optimize import settings_of
from lq_assets.definitions import defs
from lq_assets.launch import freeze_in_dagster, ingest_in_dagster, optimize_in_dagster
from lq_assets.optimize.schedules import nightly_optimization
from lq_assets.optimize.settings import OptimizeSettings, stage_dir
from lq_assets.partitions import optimize_key, register_strategies
from lq_engine.data.catalog import catalog_reader
from lq_engine.data.samples import write_synthetic_to_landing
from lq_engine.optimize import ConfigError, load_result
from lq_engine.optimize.report import report_text
from lq_engine.execution.sizing import NO_BRACKETS, BracketSpec
from lq_engine.strategies.registry import list_strategies

BRACKETS = {"stop_loss": 0.002, "take_profit": None, "trailing": 0.004}
SETTINGS = {"sample_size": 60, "top_k_max": 5, "seed": 3, "brackets": BRACKETS}


@pytest.fixture
def synthetic_frozen(data_paths, dagster_home):
    files = write_synthetic_to_landing(data_paths, 2, 4, 11, "2024-01-01")
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        ingest_in_dagster(instance, files)
        freeze_in_dagster(instance, ["synthetic_1m"])
        yield instance


@pytest.mark.slow
def test_optimize_job_stores_every_score_and_reports(synthetic_frozen, data_paths, monkeypatch):
    monkeypatch.setenv("LQ_NATIVE_BACKEND", "numba")
    instance = synthetic_frozen
    runs = optimize_in_dagster(instance, "synthetic_1m", ["ma_cross"], SETTINGS)
    (pre,) = runs[0].asset_materializations_for_node("prefilter_rankings")
    (rep,) = runs[0].asset_materializations_for_node("replay_results")
    assert pre.partition == str(optimize_key("synthetic_1m", "ma_cross"))
    assert pre.metadata["parameter_sets"].value == 60
    assert pre.metadata["heatmap"].value.startswith("![")
    assert "data:image/png;base64," in rep.metadata["equity_curve"].value
    for name in ("deflated_sharpe", "pbo", "spearman_train", "top_k_recall", "holdout_mean_sharpe"):
        assert name in rep.metadata
    assert rep.metadata["audited_outside_top_k"].value > 0
    assert json.loads(rep.metadata["brackets"].value) == BRACKETS  # the run config's nested table reached stage 2
    with catalog_reader(data_paths) as con:
        n_scores = con.execute("SELECT count(*) FROM prefilter_scores "
                               "WHERE dataset='synthetic_1m' AND strategy='ma_cross'").fetchall()[0][0]
        winners = con.execute("SELECT winner_params, n_trials, brackets FROM optimization_winners").fetchall()
        reasons = {r[0] for r in con.execute("SELECT DISTINCT reason FROM winner_trades").fetchall()}
    assert n_scores == pre.metadata["scores_stored"].value and n_scores >= 60
    assert len(winners) == 1 and winners[0][1] >= 60 and json.loads(winners[0][2]) == BRACKETS
    assert reasons & {"stop", "trailing_stop"}, reasons
    saved = load_result(stage_dir(data_paths, "synthetic_1m", "ma_cross"))
    assert saved.config.brackets == BracketSpec(stop_loss=0.002, trailing=0.004)
    (report,) = runs[-1].asset_materializations_for_node("optimization_report")
    html = report.metadata["report"].value
    assert Path(html).name == "index.html" and report.metadata["pages_rebuilt"].value == 1
    text = report_text(Path(html).parent)
    assert "SYNTHETIC" in text and "ma_cross" in text and "<img" in text
    assert "stop-loss 0.002" in text and "ranks without brackets" in text

    # the same again: identical winner and rankings (deterministic)
    again = optimize_in_dagster(instance, "synthetic_1m", ["ma_cross"], SETTINGS)
    (rep2,) = again[0].asset_materializations_for_node("replay_results")
    (pre2,) = again[0].asset_materializations_for_node("prefilter_rankings")
    assert rep2.metadata["winner"].value == rep.metadata["winner"].value
    assert pre2.tags["dagster/data_version"] == pre.tags["dagster/data_version"]


def _cli_settings(*flags: str) -> dict:
    return settings_of(build_parser().parse_args(["optimize", *flags]))


def test_cli_bracket_flags_replace_the_file_table_for_the_run():
    file = {"brackets": {"take_profit": 0.1}, "n_folds": 4}
    assert _cli_settings("--seed", "7") == {"seed": 7}  # no bracket flag: the file's table stays
    assert OptimizeSettings(**_cli_settings()).resolve(file, "numba").brackets == BracketSpec(take_profit=0.1)
    s = _cli_settings("--stop-loss", "0.02", "--trailing", "0.03")
    assert s == {"brackets": {"stop_loss": 0.02, "take_profit": None, "trailing": 0.03}}
    cfg = OptimizeSettings(**s).resolve(file, "numba")
    assert cfg.brackets == BracketSpec(stop_loss=0.02, trailing=0.03) and cfg.n_folds == 4
    assert OptimizeSettings(**_cli_settings("--no-brackets")).resolve(file, "numba").brackets == NO_BRACKETS
    with pytest.raises(ValueError, match="--no-brackets contradicts --take-profit"):
        _cli_settings("--no-brackets", "--take-profit", "0.05")
    with pytest.raises(ConfigError, match="brackets.stop_loss"):
        OptimizeSettings(**_cli_settings("--stop-loss", "2")).resolve(file, "numba")


def test_nightly_schedule_requests_every_strategy_of_frozen_datasets(synthetic_frozen):
    ctx = dg.build_schedule_context(instance=synthetic_frozen,
                                    scheduled_execution_time=datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc))
    requests = list(nightly_optimization(ctx))
    keys = sorted(r.partition_key for r in requests)
    assert keys == sorted(str(optimize_key("synthetic_1m", s)) for s in list_strategies())  # registered by the tick
    assert len({r.run_key for r in requests}) == len(requests)


def test_nightly_schedule_skips_without_frozen_data(dagster_home):
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        at = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
        result = nightly_optimization(dg.build_schedule_context(instance=instance, scheduled_execution_time=at))
        assert isinstance(result, dg.SkipReason)


def test_automation_reoptimizes_only_what_changed(data_paths, dagster_home):
    """A dataset frozen for the first time, or with new data, asks for its optimizations; a re-freeze
    of unchanged data (same content hash, same data version) asks for nothing."""
    sel = dg.AssetSelection.assets("prefilter_rankings")
    key = dg.AssetKey("prefilter_rankings")
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        register_strategies(instance)  # what the strategies sensor does on its first tick
        files = write_synthetic_to_landing(data_paths, 2, 4, 11, "2024-01-01")
        ingest_in_dagster(instance, files)
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=sel)
        assert before.total_requested == 0  # nothing frozen yet

        freeze_in_dagster(instance, ["synthetic_1m"])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=sel,
                                                  cursor=before.cursor)
        requested = {str(p) for p in first.get_requested_partitions(key)}
        assert requested == {str(optimize_key("synthetic_1m", s)) for s in list_strategies()}

        freeze_in_dagster(instance, ["synthetic_1m"])  # unchanged data
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=sel,
                                                   cursor=first.cursor)
        assert second.total_requested == 0

        files = write_synthetic_to_landing(data_paths, 2, 5, 11, "2024-01-01")  # one more day of bars
        ingest_in_dagster(instance, files)
        freeze_in_dagster(instance, ["synthetic_1m"])
        third = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=sel,
                                                  cursor=second.cursor)
        assert {str(p) for p in third.get_requested_partitions(key)} == requested


def test_paper_trades_the_winner_with_its_brackets(data_paths):
    import polars as pl

    from lq_assets.cli.paper import choose, winner_of
    from lq_engine.data.results import write_table

    def args(*flags: str):
        return build_parser().parse_args(["paper", *flags])

    where = {"dataset": "synthetic_1m", "strategy": "ma_cross"}
    assert winner_of(data_paths, "synthetic_1m", "ma_cross") is None  # no result yet
    # a partition written before brackets were recorded
    write_table(data_paths, "optimization_winners", pl.DataFrame({"winner_params": ['{"fast": 5}']}), where)
    assert winner_of(data_paths, "synthetic_1m", "ma_cross") == ({"fast": 5}, {})
    write_table(data_paths, "optimization_winners", pl.DataFrame(
        {"winner_params": ['{"fast": 5}'], "brackets": ['{"stop_loss": 0.02, "take_profit": null, "trailing": 0.05}']}),
        where)
    winner = winner_of(data_paths, "synthetic_1m", "ma_cross")
    assert winner == ({"fast": 5}, {"stop_loss": 0.02, "take_profit": None, "trailing": 0.05})
    assert winner_of(data_paths, "synthetic_1m", "rsi") is None
    # the winner's parameters come with the brackets they were optimized with ...
    assert choose(args(), winner) == ({"fast": 5}, {"stop_loss": 0.02, "trailing": 0.05})
    # ... flags replace them, explicit parameters don't inherit them, no winner means defaults, no brackets
    assert choose(args("--take-profit", "0.1"), winner) == ({"fast": 5}, {"take_profit": 0.1})
    assert choose(args("--no-brackets"), winner) == ({"fast": 5}, {})
    assert choose(args("--params", '{"fast": 9}'), winner) == ({"fast": 9}, {})
    assert choose(args(), None) == (None, {})
    with pytest.raises(ValueError, match="--no-brackets contradicts --stop-loss"):
        choose(args("--no-brackets", "--stop-loss", "0.01"), winner)


def test_paper_refuses_a_winner_that_failed_the_lookahead_gate(data_paths):
    """The winner of a cheat is not paper-traded by default: the refusal names the verdict; explicit
    parameters or --allow-lookahead go on; a clean or unchecked winner is traded."""
    import polars as pl

    from lq_assets.cli.paper import refuse_lookahead, winner_lookahead
    from lq_engine.data.results import write_table
    from lq_engine.errors import UsageError

    def args(*flags: str):
        return build_parser().parse_args(["paper", "--dataset", "synthetic_1m", "--strategy", "ma_cross", *flags])

    where = {"dataset": "synthetic_1m", "strategy": "ma_cross"}
    verdict = "lookahead: the decision at bar 12 changed when later bars changed (params {'fast': 5}; truncated)"
    assert winner_lookahead(data_paths, "synthetic_1m", "ma_cross") == ""  # no result yet
    for text, flagged in ((verdict, True), ("", False), ("lookahead not checked (a result made before the gate)",
                                                          False)):
        write_table(data_paths, "optimization_winners", pl.DataFrame(
            {"winner_params": ['{"fast": 5}'], "lookahead": [text]}), where)
        failure = winner_lookahead(data_paths, "synthetic_1m", "ma_cross")
        assert failure == (verdict if flagged else "")
        if flagged:
            with pytest.raises(UsageError, match="failed the lookahead gate: lookahead: the decision at bar 12"):
                refuse_lookahead(args(), failure)
        else:
            refuse_lookahead(args(), failure)
        refuse_lookahead(args("--allow-lookahead"), failure)
        refuse_lookahead(args("--params", '{"fast": 9}'), failure)
