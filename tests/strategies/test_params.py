import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lq_engine.authoring.params import ParamError
from lq_engine.strategies import (
    UnknownStrategyError, compile_sweep, default_grid, grid, list_strategies, resolve, sampled_grid,
    validate_param_sets,
)
from kernels.series import random_bars


SHIPPED = ["band_reversion", "bollinger", "breakout_atr", "donchian_atr", "inverse_vol", "ma_cross", "mtf_trend",
           "pairs", "perp_trend", "rsi", "rsi_both", "rsi_time_stop", "trend_vol_target", "vwap_reversion",
           "xs_momentum"]


def test_registry_lists_the_shipped_strategies():
    assert list_strategies() == SHIPPED
    assert resolve("rsi").name == "rsi"
    assert [n for n in SHIPPED if resolve(n).rules is not None] == ["bollinger", "donchian_atr", "ma_cross", "rsi"]
    assert list_strategies(portfolio=True) == ["inverse_vol", "pairs", "xs_momentum"]


def test_default_grids_match_the_benchmark_sweeps():
    ma = default_grid("ma_cross")
    assert len(ma) == 994
    assert all(p["fast"] < p["slow"] and p["side"] == "long" for p in ma)
    assert len(default_grid("rsi")) == 1000


def test_unknown_strategy():
    with pytest.raises(UnknownStrategyError, match="unknown strategy 'nope'.*ma_cross"):
        resolve("nope")


def test_unknown_parameter_names_set_and_field():
    with pytest.raises(ParamError, match=r"parameter set 1: unknown parameter\(s\) \['speed'\]"):
        validate_param_sets("ma_cross", [{"fast": 5, "slow": 10}, {"fast": 5, "slow": 10, "speed": 3}])


def test_fast_not_below_slow():
    with pytest.raises(ParamError, match="constraint 'fast < slow' violated"):
        validate_param_sets("ma_cross", [{"fast": 20, "slow": 20}])


def test_negative_window():
    with pytest.raises(ParamError, match="'fast' = -3 is below its minimum"):
        validate_param_sets("ma_cross", [{"fast": -3, "slow": 20}])


@pytest.mark.parametrize("value", ["10", 10.5, None, True])
def test_wrong_type(value):
    with pytest.raises(ParamError, match="parameter 'period'"):
        validate_param_sets("rsi", [{"period": value, "lower": 30.0, "upper": 70.0}])


def test_bad_side_choice():
    with pytest.raises(ParamError, match="'side' must be one of"):
        validate_param_sets("ma_cross", [{"fast": 5, "slow": 10, "side": "sideways"}])


def test_missing_required_parameter():
    with pytest.raises(ParamError, match="missing parameter 'slow'"):
        validate_param_sets("ma_cross", [{"fast": 5}])


def test_explicit_grid_filters_constraints_and_fills_defaults():
    g = grid("ma_cross", {"fast": [5, 10, 30], "slow": [10, 20]})
    assert g == [
        {"fast": 5, "slow": 10, "side": "long"},
        {"fast": 5, "slow": 20, "side": "long"},
        {"fast": 10, "slow": 20, "side": "long"},
    ]
    with pytest.raises(ParamError, match="unknown grid parameter"):
        grid("ma_cross", {"fats": [5]})


def test_sampled_grid_is_seeded_distinct_and_valid():
    axes = {"fast": range(1, 2000), "slow": range(2, 5000), "side": ("long", "short", "both")}  # ~30M sets
    a = sampled_grid("ma_cross", axes, 200, seed=7)
    b = sampled_grid("ma_cross", axes, 200, seed=7)
    c = sampled_grid("ma_cross", axes, 200, seed=8)
    assert a == b and a != c
    assert len(a) == 200 and len({tuple(p.values()) for p in a}) == 200
    assert all(p["fast"] < p["slow"] for p in a)


def test_small_grid_sample_takes_everything_valid():
    axes = {"fast": [5, 10], "slow": [8, 20]}
    assert sampled_grid("ma_cross", axes, 10, seed=1) == grid("ma_cross", axes)


def test_bank_shares_rows_across_the_grid():
    sw = compile_sweep("ma_cross", default_grid("ma_cross"), random_bars(300, 1))
    windows = set(range(5, 51, 2)) | set(range(20, 201, 4))
    assert sw.bank.shape[0] == 2 + len(windows)  # zero row, close row, one SMA row per window
    assert not sw.bank.flags.writeable


def test_validation_happens_before_compilation():
    with pytest.raises(ParamError, match="parameter set 2"):
        compile_sweep("ma_cross", [{"fast": 5, "slow": 9}, {"fast": 5, "slow": 9}, {"fast": 9, "slow": 5}],
                      random_bars(50, 1))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4).flatmap(lambda k: st.lists(
    st.lists(st.sampled_from([-3.5, -1.0, 0.0, 0.25, 2.0, 7.0, 1e9]), min_size=k, max_size=k),
    min_size=1, max_size=60)))
def test_distinct_rows_are_numpys_unique_rows_in_the_same_order(rows):
    from lq_engine.strategies.spec import distinct_rows

    cols = np.array(rows, dtype=np.float64)
    want_rows, want_inverse = np.unique(cols, axis=0, return_inverse=True)
    got_rows, got_inverse = distinct_rows(cols)
    assert np.array_equal(got_rows, want_rows)
    assert np.array_equal(got_inverse, want_inverse.reshape(-1))
    assert np.array_equal(got_rows[got_inverse], cols)
