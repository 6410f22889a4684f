"""Sizing edge cases of plan_orders (compiled) and its Python twin (the event engine's)."""

import math

import pytest

from lq_engine.execution.sizing import plan_orders, plan_orders_py

NAN = math.nan
EQUITY_BASIS = (1, 0.002, 0.0, 0.0, 0.0, NAN, NAN, NAN)  # basis 'equity', c = 0.002, no brackets


@pytest.mark.parametrize("plan", [plan_orders, plan_orders_py])
def test_close_of_a_short_that_lost_more_than_its_stake_pays_a_fee(plan):
    # short 10 units sold at 100 (cash 2,000 with the stake); the price is now 250: E = 2000 - 2500 < 0
    cq, cs, cf, oq, *_ = plan(2000.0, -10.0, 0.0, 0, 250.0, 260.0, 240.0, 250.0, *EQUITY_BASIS)
    assert (cq, cs, oq) == (10.0, 1, 0.0)
    assert cf == pytest.approx(0.002 * 10 * 250.0) and cf > 0.0


@pytest.mark.parametrize("plan", [plan_orders, plan_orders_py])
def test_close_pays_on_the_closed_notional(plan):
    # long 10 at an open of 100 with 5 cash: E = 1005; the close fee is c * |held| * open exactly
    cq, cs, cf, oq, *_ = plan(5.0, 10.0, 0.0, 0, 100.0, 101.0, 99.0, 100.0, *EQUITY_BASIS)
    assert (cq, cs, oq) == (10.0, -1, 0.0) and cf == 0.002 * 10.0 * 100.0


@pytest.mark.parametrize("plan", [plan_orders, plan_orders_py])
def test_fractional_targets(plan):
    # flat, E = 1000 at an open of 100: half long costs c * 0.5 * E and holds 0.5 * (E - fee) / open units
    cq, cs, cf, oq, osd, of, sl, tp, tr, rsz = plan(1000.0, 0.0, 0.0, 0.5, 100.0, 101.0, 99.0, 100.0, *EQUITY_BASIS)
    assert (cq, rsz, osd) == (0.0, False, 1) and of == 0.002 * 0.5 * 1000.0
    assert oq == 0.5 * (1000.0 - of) / 100.0
    # from 0.5 long (5 units, 500 cash) to 0.8: one resize buy for the difference, fee on the notional moved
    cq, cs, cf, oq, osd, of, sl, tp, tr, rsz = plan(500.0, 5.0, 0.0, 0.8, 100.0, 101.0, 99.0, 100.0, *EQUITY_BASIS)
    assert (cq, rsz, osd) == (0.0, True, 1)
    assert of == 0.002 * abs(0.8 * 1000.0 - 5.0 * 100.0)
    assert oq == pytest.approx(0.8 * (1000.0 - of) / 100.0 - 5.0)
    # and down to 0.2: a resize sell; to -0.5: a close of all 5 units, then a short open
    *_, osd, of, sl, tp, tr, rsz = plan(500.0, 5.0, 0.0, 0.2, 100.0, 101.0, 99.0, 100.0, *EQUITY_BASIS)
    assert (osd, rsz) == (-1, True)
    cq, cs, cf, oq, osd, of, sl, tp, tr, rsz = plan(500.0, 5.0, 0.0, -0.5, 100.0, 101.0, 99.0, 100.0, *EQUITY_BASIS)
    assert (cq, cs, osd, rsz) == (5.0, -1, -1, False) and cf == 0.002 * 5.0 * 100.0
    assert oq == 0.5 * (1000.0 - cf - of) / 100.0


@pytest.mark.parametrize("plan", [plan_orders, plan_orders_py])
def test_a_resize_never_carries_a_bracket(plan):
    args = (1, 0.002, 0.0, 0.0, 0.0, 0.02, 0.05, 0.03)
    *_, sl, tp, tr, rsz = plan(500.0, 5.0, 0.0, 0.8, 100.0, 101.0, 99.0, 100.0, *args)
    assert rsz and sl != sl and tp != tp and tr != tr
    *_, sl, tp, tr, rsz = plan(1000.0, 0.0, 0.0, 0.8, 100.0, 101.0, 99.0, 100.0, *args)
    assert not rsz and sl == 100.0 * (1 - 0.02) and tp == 100.0 * 1.05 and tr == 100.0 * 0.03


def test_compiled_and_twin_agree_bit_for_bit_on_the_losing_short():
    args = (2000.0, -10.0, 0.0, 1, 250.0, 260.0, 240.0, 250.0, *EQUITY_BASIS)
    a, b = plan_orders(*args), plan_orders_py(*args)
    assert [x if x == x else "nan" for x in a] == [x if x == x else "nan" for x in b]
