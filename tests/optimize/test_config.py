import json
import pickle
import re
import tomllib

import pytest

from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT
from lq_engine.execution.config import ExecutionConfig
from lq_engine.prefilter.evaluate import Costs
from lq_engine.optimize import ConfigError, OptimizeConfig
from lq_engine.optimize.config import brackets_json, brackets_text
from lq_engine.execution.sizing import NO_BRACKETS, BracketSpec


def test_defaults_are_valid_and_top_k_is_clamped():
    c = OptimizeConfig()
    assert c.top_k(994) == 20  # 2% of 994
    assert c.top_k(10) == 5  # min
    assert c.top_k(100_000) == 50  # max
    assert c.top_k(3) == 3  # never more than the grid


def test_from_mapping_reads_nested_tables():
    c = OptimizeConfig.from_mapping({"n_folds": 4, "fold_mode": "anchored", "workers": 2,
                                     "execution": {"fee_taker": 0.002, "liquidity_cap": None},
                                     "costs": {"fee": 0.0005}})
    assert c.n_folds == 4 and c.fold_mode == "anchored" and c.workers == 2
    assert c.execution == ExecutionConfig(fee_taker=0.002, liquidity_cap=None)
    assert c.prefilter_costs == Costs(fee=0.0005)
    assert OptimizeConfig().prefilter_costs == Costs(fee=0.001, slippage=(1.0 + 1.0) * 1e-4)


@pytest.mark.parametrize("data, field", [
    ({"n_fold": 3}, "n_fold"),
    ({"grid": {"fast": [5, 10]}}, "grid"),  # grids are per strategy now: [strategies.NAME.grid]
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
    ({"brackets": {"stop": 0.02}}, "brackets.stop"),
    ({"brackets": {"stop_loss": 1.5}}, "brackets.stop_loss"),
    ({"brackets": {"stop_loss": 0.02, "take_profit": 0.0}}, "brackets.take_profit"),
    ({"brackets": {"trailing": -0.01}}, "brackets.trailing"),
    ({"brackets": {"stop_loss": "0.02"}}, "brackets.stop_loss"),
    ({"brackets": {"stop_loss": True}}, "brackets.stop_loss"),
    ({"brackets": {"take_profit": float("inf")}}, "brackets.take_profit"),
    ({"brackets": 0.02}, "brackets"),
])
def test_bad_values_name_the_field(data, field):
    with pytest.raises(ConfigError, match=f"'?{field}"):
        OptimizeConfig.from_mapping(data)


def test_brackets_table_is_read_and_defaults_to_none():
    assert OptimizeConfig().brackets == NO_BRACKETS
    c = OptimizeConfig.from_mapping({"brackets": {"stop_loss": 0.02, "take_profit": 0.05, "trailing": None}})
    assert c.brackets == BracketSpec(stop_loss=0.02, take_profit=0.05)
    assert OptimizeConfig.from_mapping({"brackets": {}}).brackets == NO_BRACKETS
    assert OptimizeConfig.from_mapping({"brackets": None}).brackets == NO_BRACKETS
    assert json.loads(brackets_json(c.brackets)) == {"stop_loss": 0.02, "take_profit": 0.05, "trailing": None}
    assert brackets_text(c.brackets) == "stop_loss=0.02, take_profit=0.05"
    assert brackets_text(NO_BRACKETS) == "none"
    with pytest.raises(ConfigError, match="'brackets'"):
        OptimizeConfig(brackets={"stop_loss": 0.02})  # a plain dict only through from_mapping


def test_documented_brackets_example_parses():
    """The commented [optimize.brackets] example of luminaquant.toml, uncommented, is a valid config."""
    text = (REPO_ROOT / "luminaquant.toml").read_text()
    block = re.search(r"^# \[optimize\.brackets\]\n((?:# \w+ = .*\n)+)", text, re.M)
    assert block is not None
    table = tomllib.loads("[brackets]\n" + re.sub(r"^# ", "", block.group(1), flags=re.M))
    c = OptimizeConfig.from_mapping(table)
    assert c.brackets.stop_loss == 0.02 and c.brackets.any


def test_config_pickled_before_brackets_existed_loads_without_them():
    """Results saved before the field was added (no 'brackets' in the pickled state) read as no brackets,
    which is how they were replayed; so RESULT_VERSION stays."""
    old = pickle.loads(pickle.dumps(OptimizeConfig(n_folds=4)))
    del old.__dict__["brackets"]
    back = pickle.loads(pickle.dumps(old))
    assert "brackets" not in back.__dict__
    assert back.brackets == NO_BRACKETS and back.n_folds == 4


def test_from_mapping_rejects_non_mapping():
    with pytest.raises(ConfigError, match="mapping"):
        OptimizeConfig.from_mapping([("n_folds", 3)])


def test_sample_size_scores_a_seeded_sample_of_the_grid():
    from lq_engine.optimize.prefilter import parameter_grid
    from lq_engine.strategies import resolve

    full = parameter_grid(resolve("ma_cross"), OptimizeConfig())
    a = parameter_grid(resolve("ma_cross"), OptimizeConfig(sample_size=50, seed=1))
    b = parameter_grid(resolve("ma_cross"), OptimizeConfig(sample_size=50, seed=1))
    c = parameter_grid(resolve("ma_cross"), OptimizeConfig(sample_size=50, seed=2))
    assert len(full) == 994 and len(a) == 50
    assert a == b and a != c
    assert all(p in full for p in a)
