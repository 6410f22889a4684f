"""The shipped perpetuals example (``perp_trend``): a hand-computed funding ledger for a small case,
long then short through three funding times, the same in the replay, the event engine, the paper
trader's bar-by-bar path and the round trips."""

import numpy as np
import pytest

from lq_engine.core.events import BarEvent
from lq_engine.data.bars import Bars
from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.funding import FundingRates
from lq_engine.optimize.report_tearsheet import stats_pairs, trade_rows
from lq_engine.replay.engine import replay
from lq_engine.replay.event_engine import EventEngine, PrecomputedDecider
from lq_engine.replay.round_trips import round_trips, trips_frame
from lq_engine.strategies.registry import resolve

H = 3_600_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
CLOSE = np.array([100.0, 102.0, 104.0, 106.0, 103.0, 101.0, 99.0, 98.0])
FREE = ExecutionConfig(fee_taker=0.0, fee_maker=0.0, spread_bps=0.0, slippage_bps=0.0, slippage_vol_k=0.0,
                       liquidity_cap=None)
P = {"fast": 1, "slow": 2, "band": 0.0}


def _case():
    open_ = np.concatenate([[100.0], CLOSE[:-1]])
    ts = T0 + np.arange(8, dtype=np.int64) * H  # hourly bars 00:00 .. 07:00
    s = Bars.from_arrays("BTCPERP", ts, open_, np.maximum(open_, CLOSE) + 0.5, np.minimum(open_, CLOSE) - 0.5,
                         CLOSE, np.full(8, 1e6))
    # 03:00 (on bar 3's open), 05:30 (between bars 5 and 6), 07:00 (bar 7's open)
    f = FundingRates(np.array([T0 + 3 * H, T0 + 5 * H + H // 2, T0 + 7 * H]), np.array([0.001, 0.002, -0.001]))
    return s, f


def test_hand_computed_funding_ledger():
    """fast=1, slow=2: long after a rise, short after a fall. Decisions: 0, +1 (close 1), +1, +1,
    -1 (close 4), ...; orders fill at the next open. Long 100 units bought at 102 (10,200 cash);
    03:00, rate +0.1%: the long pays 100 x 104 (close of bar 2) x 0.001 = 10.4. At bar 5's open (103)
    the long is sold and a short of equity / open = (10,300 - 10.4) / 103 units opened. 05:30, rate
    +0.2%: the short receives q x 101 (close of bar 5) x 0.002; 07:00, rate -0.1%: the short pays
    q x 99 x 0.001. Costs are zero, so equity = cash + trades' PnL - funding."""
    s, f = _case()
    r = replay("perp_trend", P, s, FREE, initial_cash=10_200.0, funding=f)
    assert r.target.tolist() == [0.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0]
    assert r.fills.rows() == [(T0 + 2 * H, 1, 100.0, 102.0, 0.0, "market"),
                              (T0 + 5 * H, -1, 100.0, 103.0, 0.0, "market"),
                              (T0 + 5 * H, -1, pytest.approx(99.89902912621359, rel=1e-15), 103.0, 0.0, "market")]
    q = 10_289.6 / 103.0
    expect = [0.0, 0.0, 0.0, 10.4, 0.0, 0.0, -q * 101.0 * 0.002, q * 99.0 * 0.001]
    np.testing.assert_allclose(r.funding, expect, rtol=1e-14, atol=0)
    assert r.funding[3] == 100.0 * 104.0 * 0.001  # the long's payment, exactly as the rule writes it
    assert r.funding_paid == pytest.approx(10.4 + q * 0.099, rel=1e-14)
    assert r.funding_received == pytest.approx(q * 0.202, rel=1e-14)
    final = 10_200.0 + 100.0 * (103.0 - 102.0) + q * (103.0 - 98.0) - 10.4 + q * 0.202 - q * 0.099
    assert r.equity[-1] == pytest.approx(final, rel=1e-14)
    assert r.equity[3] == pytest.approx(10_200.0 + 100.0 * (106.0 - 102.0) - 10.4, rel=1e-15)

    # the event engine, run over the series and stepped bar by bar (the paper trader's path): the same ledger
    for by_bar in (False, True):
        e = EventEngine("BTCPERP", PrecomputedDecider("perp_trend", P, s), FREE, initial_cash=10_200.0, funding=f)
        if by_bar:
            for k in range(8):
                e.step(BarEvent(int(s.ts[k]), k, "BTCPERP", float(s.open[k]), float(s.high[k]), float(s.low[k]),
                                float(s.close[k]), float(s.volume[k])))
        else:
            e.run(s)
        assert e.funding_paid == r.funding.tolist() and e.equity == r.equity.tolist()

    # round trips: each trip carries the funding paid while it was open, and its PnL is net of it
    fl = r.fills
    trips = round_trips(["BTCPERP"] * len(fl), fl.ts, fl.bar, fl.side, fl.quantity, fl.price, fl.fee,
                        ["market"] * len(fl), {"BTCPERP": (int(s.ts[-1]), 7, 98.0)}, funding={"BTCPERP": r.funding})
    long_, short = trips
    assert (long_["side"], long_["funding_paid"], long_["funding_received"]) == ("long", 10.4, 0.0)
    assert long_["pnl"] == pytest.approx(100.0 - 10.4, rel=1e-15)
    assert short["side"] == "short" and short["exit_reason"] == "open"
    assert short["funding_paid"] == pytest.approx(q * 0.099, rel=1e-14)
    assert short["funding_received"] == pytest.approx(q * 0.202, rel=1e-14)
    assert long_["pnl"] + short["pnl"] == pytest.approx(r.equity[-1] - 10_200.0, rel=1e-13)
    frame = trips_frame(trips)
    assert {"funding_paid", "funding_received"} <= set(frame.columns)
    # the tearsheet shows them: per trip, and in total
    paid, got = 10.4 + q * 0.099, q * 0.202
    assert dict(stats_pairs(frame))["funding paid / received / net"] == f"{paid:,.2f} / {got:,.2f} / {got - paid:+,.2f}"
    assert [t["funding paid / received"] for t in trade_rows(frame)] == [f"{q * 0.099:,.2f} / {got:,.2f}",
                                                                         "10.40 / 0.00"]


def test_spot_run_has_no_funding_and_the_strategy_is_registered():
    s, f = _case()
    spot = replay("perp_trend", P, s, FREE, initial_cash=10_200.0)
    perp = replay("perp_trend", P, s, FREE, initial_cash=10_200.0, funding=f)
    assert spot.funding is None and spot.equity[-1] != perp.equity[-1]
    assert spot.equity[:3].tolist() == perp.equity[:3].tolist()  # before the first funding time
    assert resolve("perp_trend").rules is None and not resolve("perp_trend").is_portfolio
