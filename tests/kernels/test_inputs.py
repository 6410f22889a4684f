"""Bad input is refused with a clear error before any kernel runs."""

import numpy as np
import polars as pl
import pytest

from lq_engine.data.guards import FrozenInputError, freeze
from lq_engine.prefilter.evaluate import Costs, evaluate_grid
from lq_engine.authoring.params import ParamError
from lq_engine.strategies.registry import UnknownStrategyError
from kernels.series import random_bars

GOOD = [{"fast": 5, "slow": 20}]


def _arrays(b):
    return {f: getattr(b, f) for f in ("open", "high", "low", "close")}


def test_good_input_runs_and_returns_a_frame():
    res = evaluate_grid(random_bars(300, 1), "ma_cross", GOOD + [{"fast": 7, "slow": 30}], backend="numba")
    assert res.backend == "numba" and res.n_sets == 2
    df = res.to_polars()
    assert df.columns[:4] == ["set_index", "fast", "slow", "side"] and df.height == 2
    assert np.isfinite(df["sharpe"].to_numpy()).all()


def test_dataframe_refused():
    b = random_bars(50, 1)
    frame = pl.DataFrame(_arrays(b))
    with pytest.raises(FrozenInputError, match="polars.*frozen read-only numpy arrays"):
        evaluate_grid(frame, "ma_cross", GOOD)
    with pytest.raises(FrozenInputError, match="close: got a polars"):
        evaluate_grid({**_arrays(b), "close": frame["close"]}, "ma_cross", GOOD)


def test_writable_array_refused():
    a = _arrays(random_bars(50, 1))
    a["high"] = a["high"].copy()
    with pytest.raises(FrozenInputError, match="high: array is writable"):
        evaluate_grid(a, "ma_cross", GOOD)


def test_non_contiguous_array_refused():
    a = _arrays(random_bars(100, 1))
    strided = np.repeat(a["low"], 2)[::2]
    strided.setflags(write=False)
    a["low"] = strided
    with pytest.raises(FrozenInputError, match="low: array is not C-contiguous"):
        evaluate_grid(a, "ma_cross", GOOD)


def test_nan_price_refused_with_row():
    a = _arrays(random_bars(50, 1))
    c = a["close"].copy()
    c[17] = np.nan
    a["close"] = freeze(c)
    with pytest.raises(ValueError, match="field 'close' row 17 is nan"):
        evaluate_grid(a, "ma_cross", GOOD)


def test_length_mismatch_refused():
    a = _arrays(random_bars(50, 1))
    a["open"] = freeze(a["open"][:40])
    with pytest.raises(ValueError, match="'high' has 50 rows, 'open' has 40"):
        evaluate_grid(a, "ma_cross", GOOD)


def test_fast_not_below_slow_refused():
    with pytest.raises(ParamError, match="fast < slow"):
        evaluate_grid(random_bars(50, 1), "ma_cross", [{"fast": 30, "slow": 20}])


def test_negative_window_refused():
    with pytest.raises(ParamError, match="'window' = -5 is below its minimum"):
        evaluate_grid(random_bars(50, 1), "bollinger", [{"window": -5, "entry_z": 2.0, "exit_z": 0.0}])


def test_unknown_strategy_refused():
    with pytest.raises(UnknownStrategyError, match="unknown strategy 'macd'"):
        evaluate_grid(random_bars(50, 1), "macd", GOOD)


def test_unknown_parameter_refused():
    with pytest.raises(ParamError, match=r"unknown parameter\(s\) \['slowest'\]"):
        evaluate_grid(random_bars(50, 1), "ma_cross", [{"fast": 5, "slow": 20, "slowest": 50}])


def test_bad_costs_and_backend():
    with pytest.raises(ValueError, match="Costs.fee"):
        Costs(fee=-0.1)
    with pytest.raises(ValueError, match="unknown backend 'fortran'"):
        evaluate_grid(random_bars(50, 1), "ma_cross", GOOD, backend="fortran")
