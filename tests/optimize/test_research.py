"""``lq_engine.research.evaluate``: the research entry point runs the optimizer's stage-1 path and
gives the same numbers, bit for bit, from every kind of input a notebook has."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from lq_engine.data.paths import DataPaths
from lq_engine.data.samples import generate_synthetic, write_synthetic_to_landing
from lq_engine.data.ingest import ingest_files
from lq_engine.errors import InputError
from lq_engine.execution.config import Costs
from lq_engine.kernels import metrics as M
from lq_engine.optimize.inputs import view_of
from lq_engine.optimize.config import OptimizeConfig
from lq_engine.prefilter.evaluate import evaluate_grid, evaluate_panel
from lq_engine.research import evaluate
from lq_engine.strategies import resolve
from tests.optimize.data import small_dataset

AXES = {"fast": [5, 10, 20], "slow": [30, 60]}


def test_a_dataset_gives_one_row_per_set_and_symbol_equal_to_the_optimizers_path():
    ds = small_dataset(2, 2)
    out = evaluate("ma_cross", ds, AXES, costs=0.0005, backend="numba")
    spec = resolve("ma_cross")
    sets = spec.grid(AXES).rows()
    assert out.columns[:2] == ["symbol", "set_index"]
    assert out.height == len(sets) * 2 == 12
    view = view_of(ds, OptimizeConfig())
    for sym in ds.symbols:
        ref = evaluate_grid(view.series[sym], spec, sets, Costs(fee=0.0005), backend="numba",
                            periods_per_year=view.ppy)
        got = out.filter(pl.col("symbol") == sym)
        assert got["fast"].to_list() == [p["fast"] for p in sets]
        for name in M.METRIC_NAMES:  # bit-identical, NaN where the reference has NaN
            np.testing.assert_array_equal(got[name].to_numpy(), ref.metrics[name])
    assert out["trade_count"].sum() > 0  # not vacuous: the sets traded


def test_a_frame_and_bars_of_one_series_give_the_same_rows_and_the_callers_arrays_stay_writable():
    df = generate_synthetic(1, 2, seed=3)
    close = df["close"].to_numpy().copy()
    cols = {f: df[f].to_numpy().copy() for f in ("open", "high", "low", "close", "volume")}
    by_frame = evaluate("ma_cross", df.drop("symbol"), AXES)
    by_arrays = evaluate("ma_cross", cols, AXES)
    assert "symbol" not in by_frame.columns
    assert by_frame.select(M.METRIC_NAMES).equals(by_arrays.select(M.METRIC_NAMES))  # ts or not: 1m bars
    assert cols["close"].flags.writeable and np.array_equal(cols["close"], close)  # a frozen copy was scored


def test_a_sample_draws_distinct_feasible_sets_from_the_space_seeded():
    spec = resolve("ma_cross")
    a = spec.space.sample(spec.schema, 200, seed=7)
    assert len(a) == 200 and a == spec.space.sample(spec.schema, 200, seed=7)
    assert a != spec.space.sample(spec.schema, 200, seed=8)
    assert all(p["fast"] < p["slow"] for p in a)  # ma_cross's constraint
    assert len({tuple(sorted(p.items())) for p in a}) == 200
    out = evaluate("ma_cross", small_dataset(1, 2), 50, seed=7)
    assert out["fast"].to_list() == [p["fast"] for p in a[:50]]


def test_a_portfolio_strategy_is_scored_once_over_the_universe():
    ds = small_dataset(3, 2)
    spec = resolve("xs_momentum")
    sets = spec.default_grid()[:4]
    out = evaluate(spec, ds, sets)
    assert out["symbol"].unique().to_list() == ["PORTFOLIO"] and out.height == 4
    view = view_of(ds, OptimizeConfig())
    ref = evaluate_panel(view.panel, spec, sets, Costs(), periods_per_year=view.ppy)
    np.testing.assert_array_equal(out["sharpe"].to_numpy(), ref.metrics["sharpe"])


def test_a_universe_name_is_frozen_from_the_projects_lake(tmp_path, monkeypatch):
    (tmp_path / "luminaquant.toml").write_text('[universes.syn]\nsymbols = ["SYN*"]\ntimeframe = "1m"\n'
                                               'calendar = "24/7"\n')
    monkeypatch.setenv("LQ_PROJECT", str(tmp_path))
    monkeypatch.delenv("LQ_DATA_DIR", raising=False)
    monkeypatch.delenv("LQ_LAKE_URI", raising=False)
    paths = DataPaths.from_env().ensure()
    ingest_files(write_synthetic_to_landing(paths, 2, 2, seed=11), paths)
    out = evaluate("ma_cross", "syn", AXES)
    assert sorted(out["symbol"].unique().to_list()) == ["SYN000", "SYN001"]
    again = evaluate("ma_cross", "syn", AXES)  # the frozen folder is reused: same numbers
    assert out.equals(again)
    with pytest.raises(InputError, match=r"'sny' is neither a universe of luminaquant.toml.*did you mean 'syn'"):
        evaluate("ma_cross", "sny", AXES)


@pytest.mark.parametrize("kwargs, message", [
    (dict(data={"open": [1.0, 2.0], "high": [1.0, 2.0], "low": [1.0, 2.0]}), "field 'close'"),
    (dict(data=pl.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0]})), r"no column\(s\) \['close'\]"),
    (dict(costs={"fees": 0.001}), r"costs: unknown key\(s\) \['fees'\]"),
    (dict(costs=0.7), r"Costs.fee must be a finite fraction"),
    (dict(params={"fast": [5], "slow": [3]}), "no parameter set|constraint"),
    (dict(symbols=["NOPE"]), r"symbols: \['NOPE'\] not in dataset"),
])
def test_bad_input_is_named(kwargs, message):
    args = dict(strategy="ma_cross", data=small_dataset(1, 2), params=AXES)
    args.update(kwargs)
    with pytest.raises(Exception, match=message):
        evaluate(**args)
