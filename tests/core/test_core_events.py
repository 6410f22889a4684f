import numpy as np
import pytest

from lq_engine.core.events import (
    BarEvent,
    EventKind,
    bar_batch,
    event_sort_key,
    is_replay_ordered,
    merge_bar_batches,
    replay_order,
    topic_for,
)
from lq_engine.core.sequencer import Sequencer


def test_sequencer_is_strictly_increasing_across_single_and_block():
    s = Sequencer(5)
    assert s.next() == 5
    assert list(s.next_block(3)) == [6, 7, 8]
    assert s.peek() == 9


def test_events_sort_by_timestamp_then_sequence():
    evs = [BarEvent(2, 0, "A", 1, 1, 1, 1, 1), BarEvent(1, 5, "B", 1, 1, 1, 1, 1), BarEvent(1, 3, "A", 1, 1, 1, 1, 1)]
    assert [(e.timestamp_ns, e.sequence) for e in sorted(evs, key=event_sort_key)] == [(1, 3), (1, 5), (2, 0)]
    assert topic_for(EventKind.MARKET) == "event.MARKET"


def _batch(sym, ts, seq):
    n = len(ts)
    f = np.arange(n, dtype=float) + 1
    return bar_batch(sym, np.array(ts), f, f + 1, f, f, f, seq)


def test_merge_is_deterministic_whatever_the_load_order():
    a1 = _batch("BBB", [1, 2, 3], Sequencer())
    b1 = _batch("AAA", [2, 3, 4], Sequencer(100))
    m1 = merge_bar_batches([a1, b1], Sequencer())
    m2 = merge_bar_batches([b1, a1], Sequencer())
    assert m1.symbols == ("AAA", "BBB")
    for col in ("ts", "symbol_id", "close", "sequence"):
        assert np.array_equal(getattr(m1, col), getattr(m2, col))
    assert list(m1.ts) == [1, 2, 2, 3, 3, 4]
    assert [m1.symbols[i] for i in m1.symbol_id] == ["BBB", "AAA", "BBB", "AAA", "BBB", "AAA"]
    assert is_replay_ordered(m1.ts, m1.sequence)
    assert m1.event(1).symbol == "AAA" and m1.event(1).timestamp_ns == 2


def test_replay_order_sorts_reverse_stream_and_check_detects_disorder():
    n = 1000
    ts = np.arange(n, 0, -1, dtype=np.int64) // 2  # reverse order with ties
    seq = np.arange(n, dtype=np.int64)
    assert not is_replay_ordered(ts, seq)
    idx = replay_order(ts, seq)
    assert is_replay_ordered(ts[idx], seq[idx])
    expected = sorted(range(n), key=lambda i: (ts[i], seq[i]))
    assert list(idx) == expected
    assert not is_replay_ordered(np.array([1, 1]), np.array([3, 3]))


def test_bar_batch_rejects_ragged_columns():
    with pytest.raises(ValueError, match="column 'close'"):
        bar_batch("X", np.array([1, 2]), np.ones(2), np.ones(2), np.ones(2), np.ones(3), np.ones(2), Sequencer())
