"""The local SQLite event log with ``fast_sqlite_writes`` (issue 21 #7): an event costs neither an
fsync nor a WAL checkpoint nor a new engine, and nothing is lost: every partition's materialization
is recorded, a wiped instance (its database files deleted) records into its new files, and the
WAL databases run with synchronous=NORMAL. Checked against the Dagster version installed (the
replaced ``_connect`` is private to it)."""

import shutil
import sqlite3
from pathlib import Path

import dagster as dg

from lq_assets import sqlite_speed

PARTS = dg.StaticPartitionsDefinition([f"p{i:03d}" for i in range(60)])


@dg.asset(partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run())
def many(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)})


def _materialize_all(instance: dg.DagsterInstance) -> None:
    keys = PARTS.get_partition_keys()
    result = dg.materialize([many], instance=instance, tags={"dagster/asset_partition_range_start": keys[0],
                                                             "dagster/asset_partition_range_end": keys[-1]})
    assert result.success


def test_events_recorded_with_kept_engines_and_after_a_wipe(tmp_path: Path) -> None:
    sqlite_speed.fast_sqlite_writes()
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    assert SqliteEventLogStorage._connect is sqlite_speed._pooled_connect  # the version installed takes it
    home = tmp_path / "home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        _materialize_all(instance)
        assert len(instance.get_materialized_partitions(many.key)) == 60
        storage = instance.event_log_storage
        index = storage.path_for_shard("index")
        kept = sqlite_speed._engines.get(storage.conn_string_for_shard("index"))
        assert kept is not None, "index.db has no kept engine"

        with sqlite3.connect(index) as probe:
            sqlite_speed.on_connect(probe)
            assert probe.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert probe.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL

        instance.wipe()  # deletes the run shards' files: a kept engine must not write into them
        assert len(instance.get_materialized_partitions(many.key)) == 0
        _materialize_all(instance)
        assert len(instance.get_materialized_partitions(many.key)) == 60
        run = instance.get_runs(limit=1)[0]
        mats = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
                                            limit=1000).records
        assert len(mats) == 60  # the new run's own shard has them all

    # the same folder made again (its index.db deleted, a new file at the same path): the kept
    # engine of the old file must not take the new instance's events into the deleted one
    shutil.rmtree(home)
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        _materialize_all(instance)
        index = instance.event_log_storage.path_for_shard("index")
    with sqlite3.connect(index) as probe:  # what is on disk, read without the kept engines
        n = probe.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
        assert n.fetchone()[0] == 60
    sqlite_speed.dispose_engines()


def test_rollback_journal_databases_left_alone(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "plain.db") as conn:
        before = conn.execute("PRAGMA synchronous").fetchone()[0]
        sqlite_speed.on_connect(conn)
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == before  # not in WAL mode: untouched
