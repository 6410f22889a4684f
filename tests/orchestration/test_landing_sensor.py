"""The landing sensor, evaluated with Dagster's test helpers against a temp instance."""

from __future__ import annotations

import json
import time

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from lq_assets.definitions import defs
from lq_assets.market.sensors import landing_sensor
from lq_assets.resources import LakeResource
from tests.orchestration.bars import age, write_daily_csv


def _evaluate(instance, data_paths, cursor=None):
    ctx = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={"lake": LakeResource(data_dir=str(data_paths.root))},
    )
    return landing_sensor(ctx)


def test_new_file_becomes_one_run_over_its_partitions(data_paths, dagster_home):
    f = write_daily_csv(data_paths.landing / "two.csv", ["BBB", "AAA"], "2024-01-20", 20)
    age(f)
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        result = _evaluate(instance, data_paths)
        assert len(result.run_requests) == 1
        rr = result.run_requests[0]
        assert rr.tags[ASSET_PARTITION_RANGE_START_TAG] == "2024-01|AAA"
        assert rr.tags[ASSET_PARTITION_RANGE_END_TAG] == "2024-02|BBB"
        assert rr.run_config["ops"]["market_bars"]["config"]["files"] == [str(f)]
        assert rr.run_key and f.name in rr.run_key
        (req,) = result.dynamic_partitions_requests
        assert list(req.partition_keys) == ["AAA", "BBB"]
        assert json.loads(result.cursor)[f.name]


def test_seen_file_is_not_processed_twice_but_a_replaced_one_is(data_paths, dagster_home):
    f = write_daily_csv(data_paths.landing / "one.csv", ["AAA"], "2024-03-01", 5)
    age(f)
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        first = _evaluate(instance, data_paths)
        assert len(first.run_requests) == 1
        again = _evaluate(instance, data_paths, cursor=first.cursor)
        assert not again.run_requests
        write_daily_csv(f, ["AAA"], "2024-03-01", 6)
        age(f, 30)
        replaced = _evaluate(instance, data_paths, cursor=first.cursor)
        assert len(replaced.run_requests) == 1
        assert replaced.run_requests[0].run_key != first.run_requests[0].run_key


def test_file_still_being_written_waits_for_a_later_tick(data_paths, dagster_home):
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        write_daily_csv(data_paths.landing / "fresh.csv", ["AAA"], "2024-03-01", 5)
        result = _evaluate(instance, data_paths)
        assert not result.run_requests


def test_unreadable_file_is_quarantined_not_run(data_paths, dagster_home):
    bad = data_paths.landing / "garbage.csv"
    bad.write_bytes(b"\x00\x01\x02 not a bar file \xff\xfe" * 100)
    age(bad)
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        result = _evaluate(instance, data_paths)
        assert not result.run_requests
        assert not bad.exists()
        reports = list(data_paths.quarantine.glob("*.reason.json"))
        assert len(reports) == 1
        assert "garbage.csv" in reports[0].read_text()


def test_file_the_cli_already_ingested_is_known_by_content(data_paths, dagster_home):
    """`lq ingest` logs each file's sha256: the sensor (fresh cursor, as in a daemon started after the
    CLI) skips those bytes, also under another name; a file with new bytes is still ingested."""
    from lq_assets.launch import ingest_in_dagster

    f = write_daily_csv(data_paths.landing / "cli.csv", ["AAA"], "2024-03-01", 5)
    age(f)
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        ingest_in_dagster(instance, [f])
        copy = data_paths.landing / "copy.csv"
        copy.write_bytes(f.read_bytes())
        age(copy)
        result = _evaluate(instance, data_paths)
        assert not result.run_requests, [r.run_key for r in result.run_requests]
        assert set(json.loads(result.cursor)) == {"cli.csv", "copy.csv"}  # remembered: not hashed again
        age(write_daily_csv(data_paths.landing / "more.csv", ["AAA"], "2024-03-01", 6))
        again = _evaluate(instance, data_paths, cursor=result.cursor)
        assert [r.tags["lq/landing_file"] for r in again.run_requests] == ["more.csv"]


def test_a_file_that_landed_before_a_later_ingest_is_not_applied_over_it(data_paths, dagster_home):
    """Issue 20 #1: v3 sits in the landing folder unlogged (its ingest was killed); the user then
    ingests v2. A sensor started later must not apply v3 over v2 (it used to: every partition
    silently became v3). It is quarantined with the reason; a file that lands afterwards still runs."""
    from lq_engine.data.ingest import ingest_file
    from lq_engine.data.lake import lake_fingerprint

    v3 = write_daily_csv(data_paths.landing / "v3.csv", ["AAA", "BBB", "CCC"], "2024-01-01", 182, price=200.0)
    age(v3)
    time.sleep(0.05)
    (data_paths.root / "elsewhere").mkdir()
    v2 = write_daily_csv(data_paths.root / "elsewhere" / "v2.csv", ["AAA", "BBB", "CCC"], "2024-01-01", 182)
    ingest_file(v2, data_paths)
    lake_v2 = lake_fingerprint(data_paths)
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        result = _evaluate(instance, data_paths)
        assert not result.run_requests, [r.run_key for r in result.run_requests]
        assert not v3.exists()
        (report,) = data_paths.quarantine.glob("v3.csv.reason.json")
        assert "superseded" in report.read_text() and "v2.csv" in report.read_text()
        assert lake_fingerprint(data_paths) == lake_v2
        later = write_daily_csv(data_paths.landing / "v4.csv", ["AAA"], "2024-01-01", 10, price=300.0)
        age(later)
        again = _evaluate(instance, data_paths, cursor=result.cursor)
        assert [r.tags["lq/landing_file"] for r in again.run_requests] == [later.name]


def test_a_file_that_landed_after_one_applied_later_is_still_applied(data_paths, dagster_home):
    """Two files for the same partitions land one after the other; the first is ingested only
    later (it settled a tick sooner): the second landed after the first was asked for, so it is
    newer and still runs."""
    from lq_engine.data.ingest import ingest_file

    first = write_daily_csv(data_paths.landing / "first.csv", ["AAA"], "2024-01-01", 10)
    time.sleep(0.05)
    second = write_daily_csv(data_paths.landing / "second.csv", ["AAA"], "2024-01-01", 10, price=300.0)
    age(second)
    time.sleep(0.05)
    ingest_file(first, data_paths)
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        result = _evaluate(instance, data_paths)
    assert [r.tags["lq/landing_file"] for r in result.run_requests] == ["second.csv"]
    assert second.exists()


def test_funding_file_is_merged_not_run_as_bars(data_paths, dagster_home):
    """A perpetual's funding rates (``*.funding.csv``, header symbol,ts,funding_rate) go into
    ``funding/symbol=X/`` at the tick, with no bar run; a bad one is quarantined."""
    from lq_engine.data.funding import last_funding_ns

    good = data_paths.landing / "btc.funding.csv"
    good.write_text("symbol,ts,funding_rate\nBTCUSDT,2024-01-01T08:00:00Z,0.0001\n")
    bad = data_paths.landing / "eth.funding.csv"
    bad.write_text("symbol,ts,funding_rate\nETHUSDT,yesterday,0.0001\n")
    age(good)
    age(bad)
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        result = _evaluate(instance, data_paths)
        assert not result.run_requests
        assert last_funding_ns(data_paths, "BTCUSDT") == 1_704_096_000_000_000_000
        assert not bad.exists() and (data_paths.quarantine / "eth.funding.csv.reason.json").exists()
        assert {good.name, bad.name} <= set(json.loads(result.cursor))
