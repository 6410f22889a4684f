"""market_bars -> checks -> frozen_dataset, run in process against a temp instance."""

from __future__ import annotations

import dagster as dg
import pytest

from lq_assets.definitions import defs
from lq_assets.launch import freeze_in_dagster, ingest_in_dagster
from lq_engine.data.catalog import symbol_row_counts
from tests.orchestration.bars import write_daily_csv


def test_definitions_load_with_the_expected_graph():
    dg.Definitions.validate_loadable(defs)
    defs.get_repository_def().load_all_definitions()  # what the code server does (unique op/job names)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"market_bars", "frozen_dataset", "backend_benchmark", "prefilter_rankings", "replay_results",
            "optimization_report", "paper_trading"} <= keys
    checks = {c.name for c in graph.asset_check_keys}
    assert checks, "asset checks are registered"
    for name in ("landing_sensor", "lq_automation"):
        assert defs.resolve_sensor_def(name)


def test_ingest_then_freeze_records_partitions_hash_and_checks(data_paths, dagster_home, monkeypatch):
    f = write_daily_csv(data_paths.landing / "stocks.csv", ["AAPL", "MSFT"], "2013-11-15", 40)
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        (ingest,) = ingest_in_dagster(instance, [f])
        mats = ingest.get_asset_materialization_events()
        parts = sorted(str(m.partition) for m in mats)
        assert parts == ["2013-11|AAPL", "2013-11|MSFT", "2013-12|AAPL", "2013-12|MSFT"]
        checks = ingest.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks)
        assert symbol_row_counts(data_paths) == {"AAPL": 40, "MSFT": 40}

        (frozen,) = freeze_in_dagster(instance, ["us_stocks_daily"])
        (mat,) = frozen.asset_materializations_for_node("frozen_dataset")
        h = mat.metadata["content_hash"].value
        assert len(h) >= 16 and mat.metadata["rows"].value == 80
        record = instance.get_latest_materialization_event(dg.AssetKey("frozen_dataset"))
        assert record is not None

        # The same data frozen again: the same content hash, hence the same data version.
        (again,) = freeze_in_dagster(instance, ["us_stocks_daily"])
        (mat2,) = again.asset_materializations_for_node("frozen_dataset")
        assert mat2.metadata["content_hash"].value == h
        assert mat2.tags.get("dagster/data_version") == h


def test_universe_without_data_is_skipped_not_failed(data_paths, dagster_home):
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        (res,) = freeze_in_dagster(instance, ["synthetic_1m"])
        assert res.success
        assert not res.asset_materializations_for_node("frozen_dataset")


def test_bad_file_fails_the_run_quarantines_and_leaves_lake_alone(data_paths, dagster_home):
    from lq_engine.data.lake import lake_fingerprint

    good = write_daily_csv(data_paths.landing / "good.csv", ["AAPL"], "2013-11-15", 10)
    bad = write_daily_csv(data_paths.landing / "bad.csv", ["AAPL"], "2013-11-20", 10)
    text = bad.read_text().splitlines()
    cols = text[3].split(",")
    cols[4] = str(float(cols[3]) + 100)  # low far above high
    text[3] = ",".join(cols)
    bad.write_text("\n".join(text) + "\n")
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        ingest_in_dagster(instance, [good])
        before = lake_fingerprint(data_paths)
        with pytest.raises(RuntimeError, match=r"bad\.csv.*row 3"):
            ingest_in_dagster(instance, [bad])
        assert lake_fingerprint(data_paths) == before
        assert not bad.exists()
        q = data_paths.quarantine
        assert list(q.glob("bad.csv*.reason.json")) or list(q.glob("*bad.csv*.reason.json"))
