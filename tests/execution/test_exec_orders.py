import itertools

import pytest

from lq_engine.execution.orders import (
    TERMINAL,
    TRANSITIONS,
    Bracket,
    InvalidTransitionError,
    Order,
    OrderStatus,
)

S = OrderStatus
VALID = {
    (S.NEW, S.ACCEPTED), (S.NEW, S.REJECTED), (S.NEW, S.CANCELLED),
    (S.ACCEPTED, S.TRIGGERED), (S.ACCEPTED, S.PARTIALLY_FILLED), (S.ACCEPTED, S.FILLED),
    (S.ACCEPTED, S.PENDING_CANCEL), (S.ACCEPTED, S.CANCELLED), (S.ACCEPTED, S.EXPIRED),
    (S.TRIGGERED, S.PARTIALLY_FILLED), (S.TRIGGERED, S.FILLED), (S.TRIGGERED, S.PENDING_CANCEL),
    (S.TRIGGERED, S.CANCELLED), (S.TRIGGERED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.PENDING_CANCEL), (S.PARTIALLY_FILLED, S.CANCELLED), (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.PENDING_CANCEL, S.ACCEPTED), (S.PENDING_CANCEL, S.PARTIALLY_FILLED), (S.PENDING_CANCEL, S.FILLED),
    (S.PENDING_CANCEL, S.CANCELLED), (S.PENDING_CANCEL, S.EXPIRED),
}


def test_table_is_exactly_the_documented_set():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == VALID
    assert all(not TRANSITIONS[t] for t in TERMINAL)


@pytest.mark.parametrize("source,target", list(itertools.product(S, S)))
def test_every_pair_of_states(source, target):
    order = Order("OID-7", "BTC", 1, 1.0, status=source)
    if (source, target) in VALID:
        order.transition(target)
        assert order.status is target
    else:
        with pytest.raises(InvalidTransitionError) as err:
            order.transition(target)
        msg = str(err.value)
        assert "OID-7" in msg and f"{source.value} -> {target.value}" in msg
        assert order.status is source


def test_partial_fills_complete_exactly():
    o = Order("A", "X", 1, 0.3, status=S.ACCEPTED)
    o.record_fill(0.1, 10.0)
    o.record_fill(0.1, 12.0)
    assert o.status is S.PARTIALLY_FILLED and o.avg_fill_price == pytest.approx(11.0)
    o.record_fill(o.remaining, 11.0)
    assert o.status is S.FILLED and o.filled == 0.3


@pytest.mark.parametrize(
    "bracket,side,fragment",
    [
        (Bracket(stop_loss=110.0, take_profit=100.0), 1, "below"),
        (Bracket(stop_loss=90.0, take_profit=100.0), -1, "above"),
        (Bracket(stop_loss=-1.0), 1, "positive finite"),
        (Bracket(), 1, "no leg"),
    ],
)
def test_bracket_problems(bracket, side, fragment):
    assert fragment in bracket.problem(side)


def test_valid_brackets_have_no_problem():
    assert Bracket(90.0, 110.0, 5.0).problem(1) is None
    assert Bracket(110.0, 90.0).problem(-1) is None
