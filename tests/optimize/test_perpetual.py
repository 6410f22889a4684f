"""Perpetuals in the optimizer: ``instrument = "perpetual"`` books each symbol's funding (carried by
the frozen dataset) in both stages; its round trips show it; missing funding and portfolio strategies
are refused with errors naming them."""

from __future__ import annotations

import numpy as np
import pytest

from lq_engine.data.samples import generate_synthetic
from lq_engine.optimize import dataset_from_frame, optimize, run_stage1
from lq_engine.optimize.config import ConfigError
from lq_engine.optimize.inputs import view_of
from lq_engine.optimize.tasks import Span
from lq_engine.replay.engine import replay

from optimize.data import MA, small_config

HOUR = 3_600_000_000_000


def _datasets():
    df = generate_synthetic(2, 3, seed=31)
    spot = dataset_from_frame(df, "syn_perp")
    funding = {}
    for k, sym in enumerate(spot.symbols):
        ts = spot.series(sym).ts
        t = np.arange(ts[0] + HOUR, ts[-1], HOUR, dtype=np.int64)  # hourly funding (large rates: the effect shows)
        funding[sym] = (t, np.random.default_rng(k).normal(3e-3, 2e-3, t.size))
    return spot, dataset_from_frame(df, "syn_perp", funding=funding)


@pytest.fixture(scope="module")
def perp():
    spot, ds = _datasets()
    cfg = small_config(instrument="perpetual")
    return spot, ds, optimize(ds, MA, cfg)


def test_both_stages_book_funding(perp):
    spot, ds, res = perp
    assert ds.content_hash != spot.content_hash  # the funding is part of the dataset
    plain = run_stage1(spot, MA, small_config())
    assert not res.stage1.scores.equals(plain.scores)  # stage 1 ranks net of funding
    # a stage-2 row is exactly the replay of its window with the symbol's funding
    cfg = res.config
    view = view_of(ds, cfg)
    table = res.top.table
    row = table.row(int(np.argmax(table["fills"].to_numpy())), named=True)
    series = view.series[row["symbol"]]
    ts = np.asarray(series.ts)
    a, b = int(np.searchsorted(ts, row["start_ts"])), int(np.searchsorted(ts, row["end_ts"])) + 1
    bars = Span.cut(series, a, b).series(a, b)
    params = res.stage1.params[row["set_index"]]
    run = lambda f: replay("ma_cross", params, bars, cfg.execution, initial_cash=cfg.initial_cash,  # noqa: E731
                           periods_per_year=view.ppy, funding=f)
    assert run(view.funding[row["symbol"]]).metrics["total_return"] == row["total_return"]
    assert run(None).metrics["total_return"] != row["total_return"]


def test_round_trips_show_funding(perp):
    _, _, res = perp
    trips = res.holdout.round_trips
    assert {"funding_paid", "funding_received"} <= set(trips.columns)
    assert trips["funding_paid"].sum() > 0 and trips["funding_received"].sum() >= 0


def test_missing_funding_and_portfolio_strategies_are_refused():
    spot, ds = _datasets()
    with pytest.raises(ConfigError, match=r"instrument 'perpetual' but dataset syn_perp carries no funding rates "
                                          r"for \['SYN"):
        view_of(spot, small_config(instrument="perpetual"))
    with pytest.raises(ConfigError, match="'instrument' must be one of"):
        small_config(instrument="future")
    with pytest.raises(ConfigError, match="portfolio strategy, and funding is modelled for single-series"):
        run_stage1(ds, "inverse_vol", small_config(instrument="perpetual"))
