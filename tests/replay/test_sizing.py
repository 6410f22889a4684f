"""Sizing edge cases of plan_orders (compiled) and its Python twin (the event engine's)."""

import math

import pytest

from lq_engine.replay.sizing import plan_orders, plan_orders_py

NAN = math.nan
EQUITY_BASIS = (1, 0.002, 0.0, 0.0, 0.0, NAN, NAN, NAN)  # basis 'equity', c = 0.002, no brackets


@pytest.mark.parametrize("plan", [plan_orders, plan_orders_py])
def test_close_of_a_short_that_lost_more_than_its_stake_pays_a_fee(plan):
    # short 10 units sold at 100 (cash 2,000 with the stake); the price is now 250: E = 2000 - 2500 < 0
    cq, cs, cf, oq, *_ = plan(2000.0, -10.0, 0.0, 0, 250.0, 260.0, 240.0, 250.0, *EQUITY_BASIS)
    assert (cq, cs, oq) == (10.0, 1, 0.0)
    assert cf == pytest.approx(0.002 * 10 * 250.0) and cf > 0.0


@pytest.mark.parametrize("plan", [plan_orders, plan_orders_py])
def test_close_with_positive_equity_keeps_the_prefilter_arithmetic(plan):
    # long 10 at an open of 100 with 5 cash: E = 1005, close fee c * |sign(held)| * E exactly
    cq, cs, cf, oq, *_ = plan(5.0, 10.0, 0.0, 0, 100.0, 101.0, 99.0, 100.0, *EQUITY_BASIS)
    assert (cq, cs, oq) == (10.0, -1, 0.0) and cf == 0.002 * 1 * 1005.0


def test_compiled_and_twin_agree_bit_for_bit_on_the_losing_short():
    args = (2000.0, -10.0, 0.0, 1, 250.0, 260.0, 240.0, 250.0, *EQUITY_BASIS)
    a, b = plan_orders(*args), plan_orders_py(*args)
    assert [x if x == x else "nan" for x in a] == [x if x == x else "nan" for x in b]
