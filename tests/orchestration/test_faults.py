"""Tampered or stale data is refused: a flipped byte in a frozen array is noticed and the dataset
rebuilt (same results), and an optimization uses one dataset hash from stage 1 to the report even
when an ingest lands between its stages."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from lq_assets.definitions import defs
from lq_assets.launch import freeze_in_dagster, ingest_in_dagster, optimize_in_dagster
from lq_assets.partitions import optimize_key, register_strategies
from lq_engine.data.frozen import open_frozen
from lq_engine.data.results import read_table
from lq_engine.data.samples import write_synthetic_to_landing
from lq_engine.optimize import load_result
from lq_assets.optimize.settings import stage_dir

SETTINGS = {"sample_size": 30, "top_k_min": 4, "top_k_max": 4, "seed": 3}


@pytest.fixture
def frozen(data_paths, dagster_home, monkeypatch):
    monkeypatch.setenv("LQ_NATIVE_BACKEND", "numba")
    files = write_synthetic_to_landing(data_paths, 2, 3, 11, "2024-01-01")
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        ingest_in_dagster(instance, files)
        freeze_in_dagster(instance, ["synthetic_1m"])
        yield instance


def _hash(instance) -> str:
    ev = instance.get_latest_materialization_event(dg.AssetKey("frozen_dataset"))
    return str(ev.asset_materialization.metadata["content_hash"].value)


def _results(paths):
    where = {"dataset": "synthetic_1m", "strategy": "ma_cross"}
    return (read_table(paths, "optimization_winners", where).drop("created_at", strict=False),
            read_table(paths, "prefilter_scores", where))


@pytest.mark.slow
def test_a_flipped_byte_in_a_frozen_array_is_rebuilt_and_results_are_unchanged(frozen, data_paths):
    instance = frozen
    optimize_in_dagster(instance, "synthetic_1m", ["ma_cross"], SETTINGS)
    winners, scores = _results(data_paths)
    h = _hash(instance)
    ds = open_frozen(data_paths, "synthetic_1m", h)
    close = ds.folder / "close.npy"
    original = close.read_bytes()
    data = bytearray(original)
    data[-100] ^= 0x01  # one byte of one price
    close.write_bytes(bytes(data))

    runs = optimize_in_dagster(instance, "synthetic_1m", ["ma_cross"], SETTINGS)
    (rep,) = runs[0].asset_materializations_for_node("replay_results")
    w2, s2 = _results(data_paths)
    assert w2.equals(winners) and s2.equals(scores)
    assert close.read_bytes() == original  # rebuilt from the lake, byte for byte
    assert load_result(stage_dir(data_paths, "synthetic_1m", "ma_cross")).dataset_hash == h
    assert json.loads(rep.metadata["winner"].value) == json.loads(winners["winner_params"][0])


def test_an_ingest_between_the_stages_does_not_mix_data_versions(frozen, data_paths):
    instance = frozen
    register_strategies(instance)
    job = defs.resolve_job_def("optimize")
    key = str(optimize_key("synthetic_1m", "ma_cross"))
    cfg = {"ops": {"prefilter_rankings": {"config": SETTINGS}, "replay_results": {"config": SETTINGS}}}
    first = _hash(instance)
    r1 = job.execute_in_process(instance=instance, partition_key=key, run_config=cfg,
                                asset_selection=[dg.AssetKey("prefilter_rankings")])
    assert r1.success
    # new bars land and the universe is re-frozen before stage 2 runs
    files = write_synthetic_to_landing(data_paths, 2, 4, 11, "2024-01-01")
    ingest_in_dagster(instance, files)
    freeze_in_dagster(instance, ["synthetic_1m"])
    assert _hash(instance) != first
    r2 = job.execute_in_process(instance=instance, partition_key=key, run_config=cfg,
                                asset_selection=[dg.AssetKey("replay_results")])
    assert r2.success
    result = load_result(stage_dir(data_paths, "synthetic_1m", "ma_cross"))
    assert result.dataset_hash == first  # stage 2 used the data stage 1 scored
    winners = read_table(data_paths, "optimization_winners")
    assert winners["dataset_hash"].to_list() == [first]
    # a run that pins the new hash for stage 2 against the old stage 1 is refused, clearly
    pinned = {"ops": {"replay_results": {"config": {**SETTINGS, "dataset_hash": _hash(instance)}}}}
    r3 = job.execute_in_process(instance=instance, partition_key=key, run_config=pinned, raise_on_error=False,
                                asset_selection=[dg.AssetKey("replay_results")])
    assert not r3.success
    (failure,) = [e for e in r3.all_events if e.is_step_failure]
    assert "rerun prefilter_rankings" in str(failure.event_specific_data.error)
