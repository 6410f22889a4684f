"""The two stages run separately, with stage 1 saved and loaded between, equal one optimize() call."""

from __future__ import annotations

import pytest

from lq_engine.optimize import load_stage1, optimize, run_stage1, run_stage2, save_stage1

from optimize.data import MA, small_config, small_dataset, strategy


def test_split_stages_through_disk_equal_one_call(tmp_path):
    ds = small_dataset(symbols=2, days=3, seed=31)
    cfg = small_config()
    whole = optimize(ds, MA, cfg)
    s1 = run_stage1(ds, MA, cfg)
    folder = save_stage1(s1, tmp_path / "stage1")
    back = load_stage1(folder)
    assert back.params == s1.params and back.backend == s1.backend
    assert back.scores.equals(s1.scores) and back.rankings.equals(s1.rankings)
    assert back.order.tobytes() == s1.order.tobytes() and back.objective.tobytes() == s1.objective.tobytes()
    split = run_stage2(ds, MA, back, cfg)
    assert split.winner == whole.winner
    a, b = split.tables(), whole.tables()
    for name in a:
        assert a[name].equals(b[name]), name
    # saving again replaces the folder atomically
    save_stage1(s1, folder)
    assert load_stage1(folder).rankings.equals(s1.rankings)


def test_stage2_refuses_a_stage1_of_another_grid(tmp_path):
    ds = small_dataset(symbols=2, days=3, seed=31)
    s1 = run_stage1(ds, MA, small_config())
    other = strategy("ma_cross", {"fast": (5, 10), "slow": (30, 40)})
    with pytest.raises(ValueError, match="another grid"):
        run_stage2(ds, other, s1, small_config())


def test_missing_stage1_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialize prefilter_rankings"):
        load_stage1(tmp_path / "nothing")


def test_stage2_refuses_a_stage1_of_other_data_or_another_strategy_version(tmp_path):
    from dataclasses import replace

    from lq_engine.optimize.stages import StageContractError

    ds = small_dataset(symbols=2, days=3, seed=31)
    other_data = small_dataset(symbols=2, days=3, seed=32)
    s1 = run_stage1(ds, MA, small_config())
    assert s1.dataset_hash == ds.content_hash and s1.strategy_version
    with pytest.raises(StageContractError, match=f"dataset hash {ds.content_hash[:16]}, stage 2 was given "
                                                 f"{other_data.content_hash[:16]}"):
        run_stage2(other_data, MA, s1, small_config())
    with pytest.raises(StageContractError, match="strategy version old-version"):
        run_stage2(ds, MA, replace(s1, strategy_version="old-version"), small_config())
    # the contract travels with the saved stage 1 (JSON + Parquet + .npy, no pickle anywhere)
    save_stage1(s1, tmp_path / "s1")
    back = load_stage1(tmp_path / "s1")
    assert (back.dataset_hash, back.strategy_version) == (s1.dataset_hash, s1.strategy_version)
    assert not [p for p in (tmp_path / "s1").rglob("*") if p.suffix in (".pkl", ".pickle")]
