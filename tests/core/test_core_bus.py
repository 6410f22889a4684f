import pytest

from lq_engine.core.bus import MessageBus, pattern_matches


@pytest.mark.parametrize(
    "pattern,topic,ok",
    [
        ("data.bars.*", "data.bars.BTC", True),
        ("data.bars.*", "data.bars", False),
        ("data.bars.*", "data.bars.BTC.1m", False),
        ("data.*.BTC", "data.bars.BTC", True),
        ("data.#", "data", True),
        ("data.#", "data.bars.BTC.1m", True),
        ("#.BTC", "data.bars.BTC", True),
        ("#", "anything.at.all", True),
        ("event.MARKET", "event.MARKET", True),
        ("event.MARKET", "event.FILL", False),
    ],
)
def test_pattern_matching(pattern, topic, ok):
    assert pattern_matches(pattern, topic) is ok


def test_priority_then_subscription_order():
    bus = MessageBus()
    seen = []
    bus.subscribe("a.*", lambda m: seen.append("low"), priority=0)
    bus.subscribe("a.b", lambda m: seen.append("high"), priority=10)
    bus.subscribe("#", lambda m: seen.append("low2"), priority=0)
    bus.publish("a.b", 1)
    assert seen == ["high", "low", "low2"]


def test_route_cache_invalidated_on_subscribe_and_unsubscribe():
    bus = MessageBus()
    got = []
    bus.publish("x.y", 0)  # resolves (and caches) an empty route
    sub = bus.subscribe("x.*", got.append)
    bus.publish("x.y", 1)
    bus.unsubscribe(sub)
    bus.publish("x.y", 2)
    assert got == [1]
    assert bus.published_by_topic() == {"x.y": 3}
    assert bus.delivered == 1
    with pytest.raises(KeyError):
        bus.unsubscribe(sub)


def test_failing_handler_is_isolated_counted_and_reported():
    bus = MessageBus(error_topic="bus.errors")
    got, errors = [], []
    bus.subscribe("t", lambda m: 1 / 0, priority=5)
    bus.subscribe("t", got.append)
    bus.subscribe("bus.errors", errors.append)
    bus.subscribe("bus.errors", lambda m: 1 / 0)  # must not recurse
    bus.publish("t", "hello")
    assert got == ["hello"]
    assert bus.failed == 2
    assert len(errors) == 1 and "ZeroDivisionError" in errors[0].error and errors[0].topic == "t"
    assert len(bus.errors) == 2
    assert bus.delivered == 2  # got.append + errors.append


def test_publish_rejects_patterns():
    with pytest.raises(ValueError, match="concrete topic"):
        MessageBus().publish("a.*", 1)


def test_publish_batch_matches_repeated_publish():
    def record(bus):
        seen = []
        bus.subscribe("a.*", lambda m: seen.append(("w", m)))
        bus.subscribe("a.b", lambda m: seen.append(("x", m)) if m != 2 else 1 / 0, priority=1)
        return seen

    one, many = MessageBus(), MessageBus()
    s1, s2 = record(one), record(many)
    for m in range(4):
        one.publish("a.b", m)
    many.publish_batch("a.b", range(4))
    assert s1 == s2 and len(s1) == 7
    assert (one.published, one.delivered, one.failed) == (many.published, many.delivered, many.failed) == (4, 7, 1)


def test_specialized_routes_none_one_many_and_equal_topic_strings():
    """Routes of 0, 1 and many handlers, and a topic given as equal but distinct string objects."""
    bus = MessageBus()
    one, many = [], []
    bus.subscribe("solo.t", one.append)
    bus.subscribe("multi.*", many.append)
    bus.subscribe("multi.t", lambda m: many.append(-m), priority=1)
    topic = "".join(["solo", ".", "t"])  # equal to "solo.t", another object
    assert topic == "solo.t" and topic is not "solo.t"  # noqa: F632
    for i in range(3):
        bus.publish("nobody.t", i)
        bus.publish("solo.t", i)
        bus.publish(topic, 10 + i)
        bus.publish("multi.t", i + 1)
    assert one == [0, 10, 1, 11, 2, 12]
    assert many == [-1, 1, -2, 2, -3, 3]
    assert bus.published_by_topic() == {"nobody.t": 3, "solo.t": 6, "multi.t": 3}
    assert bus.published == 12 and bus.delivered == 12 and bus.failed == 0
    assert all(type(v) is int for v in bus.published_by_topic().values())


def test_single_handler_failure_isolated_and_wildcard_single_route():
    bus = MessageBus()
    bus.subscribe("event.*", lambda m: 1 / m)
    for m in (1, 0, 2):
        bus.publish("event.MARKET", m)
    assert bus.failed == 1 and bus.delivered == 2 and bus.published == 3
    assert bus.errors[0].topic == "event.MARKET" and "ZeroDivisionError" in bus.errors[0].error


def test_held_route_follows_subscriptions_and_counting_it_equals_publish():
    """A route is one object for the bus's lifetime: re-resolved in place on subscribe/unsubscribe, so
    a publisher may hold it and count a message nobody receives instead of calling publish."""
    held, plain = MessageBus(), MessageBus()
    route = held.route("a.b")
    got_held, got_plain = [], []

    def send(m):
        if route.handlers:
            held.publish("a.b", m)
        else:
            route.published += 1.0
        plain.publish("a.b", m)

    send(0)
    subs = (held.subscribe("a.*", got_held.append), plain.subscribe("a.*", got_plain.append))
    assert held.route("a.b") is route and route.handlers == (got_held.append,)
    send(1)
    send(2)
    held.unsubscribe(subs[0])
    plain.unsubscribe(subs[1])
    assert route.handlers == ()
    send(3)
    assert got_held == got_plain == [1, 2]
    for bus in (held, plain):
        assert bus.published_by_topic() == {"a.b": 4} and bus.published == 4 and bus.delivered == 2
