import math

import pytest

from lq_engine.execution.config import ExecutionConfig
from lq_engine.execution.fillmath import (
    TRIGGER_NONE,
    TRIGGER_STOP,
    TRIGGER_TAKE_PROFIT,
    TRIGGER_TRAILING_STOP,
    apply_fill,
    bracket_trigger,
    capped_quantity,
    fill_fee,
    liquidity_budget,
    market_fill_price,
    mark_to_market,
    trailing_update,
    volatility_fraction,
)

NAN = math.nan


def test_market_fill_price_by_hand():
    # half spread 1 bp + slippage 1 bp + 0.05 * (102 - 98) / 100 = 0.0022
    assert market_fill_price(100.0, 1, 2.0, 1.0, 0.05, 102.0, 98.0, 100.0) == pytest.approx(100.22, rel=1e-14)
    assert market_fill_price(100.0, -1, 2.0, 1.0, 0.05, 102.0, 98.0, 100.0) == pytest.approx(99.78, rel=1e-14)
    # no previous bar: no volatility term
    assert market_fill_price(50.0, 1, 0.0, 10.0, 0.05, NAN, NAN, NAN) == pytest.approx(50.05, rel=1e-14)
    assert volatility_fraction(NAN, NAN, NAN) == 0.0


def test_fee_and_liquidity_by_hand():
    assert fill_fee(10.0, 100.22, 0.001) == pytest.approx(1.0022, rel=1e-14)
    assert liquidity_budget(1000.0, 0.1) == pytest.approx(100.0)
    assert liquidity_budget(0.0, math.inf) == math.inf
    assert capped_quantity(250.0, 100.0) == 100.0
    assert capped_quantity(50.0, 100.0) == 50.0
    assert capped_quantity(50.0, 0.0) == 0.0
    assert capped_quantity(50.0, math.inf) == 50.0


@pytest.mark.parametrize(
    "direction,ohlc,stop,tp,trail,expected",
    [
        # long: plain stop / target inside the bar
        (1, (100, 101, 94, 96), 95.0, 110.0, NAN, (TRIGGER_STOP, 95.0)),
        (1, (100, 111, 99, 105), 95.0, 110.0, NAN, (TRIGGER_TAKE_PROFIT, 110.0)),
        # long: gap through the stop fills at the open; gap through the target too
        (1, (90, 93, 89, 92), 95.0, 110.0, NAN, (TRIGGER_STOP, 90.0)),
        (1, (112, 115, 111, 113), 95.0, 110.0, NAN, (TRIGGER_TAKE_PROFIT, 112.0)),
        # long: both inside one bar -> stop first
        (1, (100, 111, 94, 105), 95.0, 110.0, NAN, (TRIGGER_STOP, 95.0)),
        # long: trailing is tighter than the stop
        (1, (100, 101, 97, 98), 95.0, NAN, 98.5, (TRIGGER_TRAILING_STOP, 98.5)),
        (1, (100, 105, 99, 104), 95.0, 110.0, 98.5, (TRIGGER_NONE, NAN)),
        # short mirrors
        (-1, (100, 106, 99, 104), 105.0, 90.0, NAN, (TRIGGER_STOP, 105.0)),
        (-1, (100, 101, 89, 95), 105.0, 90.0, NAN, (TRIGGER_TAKE_PROFIT, 90.0)),
        (-1, (108, 109, 104, 106), 105.0, 90.0, NAN, (TRIGGER_STOP, 108.0)),
        (-1, (88, 89, 85, 86), 105.0, 90.0, NAN, (TRIGGER_TAKE_PROFIT, 88.0)),
        (-1, (100, 106, 89, 95), 105.0, 90.0, NAN, (TRIGGER_STOP, 105.0)),
        (-1, (100, 102.5, 99, 101), 105.0, NAN, 102.0, (TRIGGER_TRAILING_STOP, 102.0)),
        (-1, (101, 101.5, 99, 100), NAN, NAN, 101.0, (TRIGGER_TRAILING_STOP, 101.0)),
    ],
)
def test_bracket_trigger(direction, ohlc, stop, tp, trail, expected):
    code, price = bracket_trigger(direction, *map(float, ohlc[:3]), stop, tp, trail)
    assert code == expected[0]
    if code == TRIGGER_NONE:
        assert math.isnan(price)
    else:
        assert price == expected[1]


def test_trailing_update_ratchets_only_in_favour():
    assert trailing_update(1, 100.0, 104.0, 99.0, 3.0) == (104.0, 101.0)
    assert trailing_update(1, 104.0, 102.0, 95.0, 3.0) == (104.0, 101.0)
    assert trailing_update(-1, 100.0, 103.0, 96.0, 3.0) == (96.0, 99.0)
    assert trailing_update(-1, 96.0, 99.0, 97.0, 3.0) == (96.0, 99.0)


def test_apply_fill_open_add_reduce_flip():
    cash, pos, avg, r = apply_fill(1000.0, 0.0, NAN, 1, 2.0, 100.0, 0.2)
    assert (cash, pos, avg, r) == (799.8, 2.0, 100.0, 0.0)
    cash, pos, avg, r = apply_fill(cash, pos, avg, 1, 2.0, 110.0, 0.0)
    assert (pos, avg) == (4.0, 105.0)
    cash, pos, avg, r = apply_fill(cash, pos, avg, -1, 1.0, 115.0, 0.0)
    assert (pos, avg, r) == (3.0, 105.0, 10.0)
    cash, pos, avg, r = apply_fill(cash, pos, avg, -1, 5.0, 100.0, 0.0)
    assert (pos, avg, r) == (-2.0, 100.0, -15.0)
    cash, pos, avg, r = apply_fill(cash, pos, avg, 1, 2.0, 90.0, 0.0)
    assert pos == 0.0 and math.isnan(avg) and r == 20.0
    # cash: -200.2 - 220 + 115 + 500 - 180 -> 1000 + 14.8
    assert cash == pytest.approx(1014.8, rel=1e-14)
    assert mark_to_market(100.0, -2.0, 10.0) == 80.0


def test_config_validation_and_simplified():
    with pytest.raises(ValueError, match="liquidity_cap"):
        ExecutionConfig(liquidity_cap=1.5)
    with pytest.raises(ValueError, match="fee_taker"):
        ExecutionConfig(fee_taker=-0.1)
    s = ExecutionConfig(fee_taker=0.002, slippage_bps=3.0).simplified()
    assert (s.fee_taker, s.fee_maker, s.spread_bps, s.slippage_bps, s.slippage_vol_k, s.liquidity_cap) == (
        0.002, 0.002, 0.0, 3.0, 0.0, None)
    assert s.cost_basis == "equity" and s.equity_cost_rate == 0.002 + 3e-4
    assert s.cap == math.inf
