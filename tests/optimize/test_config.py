import pytest

from lq_engine.execution.config import ExecutionConfig
from lq_engine.kernels.evaluate import Costs
from lq_engine.optimize import ConfigError, OptimizeConfig


def test_defaults_are_valid_and_top_k_is_clamped():
    c = OptimizeConfig()
    assert c.top_k(994) == 20  # 2% of 994
    assert c.top_k(10) == 5  # min
    assert c.top_k(100_000) == 50  # max
    assert c.top_k(3) == 3  # never more than the grid


def test_from_mapping_reads_nested_tables():
    c = OptimizeConfig.from_mapping({"n_folds": 4, "fold_mode": "anchored", "workers": 2,
                                     "execution": {"fee_taker": 0.002, "liquidity_cap": None},
                                     "costs": {"fee": 0.0005}, "grid": {"fast": [5, 10], "slow": [20, 40]}})
    assert c.n_folds == 4 and c.fold_mode == "anchored" and c.workers == 2
    assert c.execution == ExecutionConfig(fee_taker=0.002, liquidity_cap=None)
    assert c.prefilter_costs == Costs(fee=0.0005)
    assert OptimizeConfig().prefilter_costs == Costs(fee=0.001, slippage=(1.0 + 1.0) * 1e-4)


@pytest.mark.parametrize("data, field", [
    ({"n_fold": 3}, "n_fold"),
    ({"n_folds": 0}, "n_folds"),
    ({"n_folds": "3"}, "n_folds"),
    ({"fold_mode": "sliding"}, "fold_mode"),
    ({"holdout_fraction": 1.0}, "holdout_fraction"),
    ({"train_fraction": 0}, "train_fraction"),
    ({"top_k_min": 10, "top_k_max": 5}, "top_k_max"),
    ({"pbo_splits": 7}, "pbo_splits"),
    ({"backend": "cuda"}, "backend"),
    ({"workers": True}, "workers"),
    ({"train_bars": 100}, "validation_bars"),
    ({"execution": {"fee_taker": -1.0}}, "execution"),
    ({"execution": {"fees": 0.1}}, "execution.fees"),
    ({"costs": "cheap"}, "costs"),
    ({"top_k_ratio": float("nan")}, "top_k_ratio"),
])
def test_bad_values_name_the_field(data, field):
    with pytest.raises(ConfigError, match=f"'?{field}"):
        OptimizeConfig.from_mapping(data)


def test_from_mapping_rejects_non_mapping():
    with pytest.raises(ConfigError, match="mapping"):
        OptimizeConfig.from_mapping([("n_folds", 3)])


def test_sample_size_scores_a_seeded_sample_of_the_grid():
    from lq_engine.optimize.prefilter import parameter_grid

    full = parameter_grid("ma_cross", OptimizeConfig())
    a = parameter_grid("ma_cross", OptimizeConfig(sample_size=50, seed=1))
    b = parameter_grid("ma_cross", OptimizeConfig(sample_size=50, seed=1))
    c = parameter_grid("ma_cross", OptimizeConfig(sample_size=50, seed=2))
    assert len(full) == 994 and len(a) == 50
    assert a == b and a != c
    assert all(p in full for p in a)
