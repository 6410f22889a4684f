"""In-process message bus: pub/sub with wildcards and priorities.

Topics are dot-separated segments (``data.bars.BTCUSDT``). A subscription pattern may use
``*`` for exactly one segment and ``#`` for zero or more segments (``data.#`` matches ``data``,
``data.bars`` and ``data.bars.X``); any other segment is literal.

Delivery order for a topic is deterministic: higher ``priority`` first, then subscription order.
The handlers of each concrete topic are resolved once into a ``Route`` that holds one ``deliver``
callable specialized for its handler count: the handler itself when there is one, a fan-out loop for
many, a C-level no-op for none. A route lives as long as its bus (subscribe/unsubscribe re-resolve
every route in place), so a publisher on a hot path may hold one (``route(topic)``) and, when its
``handlers`` are empty, count the message itself instead of calling ``publish``. ``publish`` is a
closure over the routes that remembers the last route it used (a publisher that keeps publishing on
one topic skips even the dict lookup), counts the message in the route (totals are derived on read)
and calls ``deliver``: one Python frame besides the handler's.

A handler that raises is isolated: the exception is counted, recorded in ``errors`` (the last
``max_error_records``), logged, and, if ``error_topic`` is set, published there as a
``HandlerError``; the remaining handlers still receive the message. Failures of handlers on the
error topic itself are recorded but not re-published.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Subscription:
    pattern: str
    handler: Handler
    priority: int
    order: int


@dataclass(frozen=True, slots=True)
class HandlerError:
    topic: str
    handler: str
    error: str
    message: Any


class Route:
    """One concrete topic: its handlers in delivery order, the specialized ``deliver`` and a counter.

    ``published`` is a float: ``+= 1.0`` reuses the interpreter's float free list where an int above
    256 allocates (exact up to 2**53 messages); readers see ints. A holder may do
    ``if route.handlers: bus.publish(topic, m) else: route.published += 1.0``: the same effects as
    ``bus.publish(topic, m)`` without its call when nobody listens.
    """

    __slots__ = ("topic", "handlers", "deliver", "published", "_counted")

    def __init__(self, topic: str | None, handlers: tuple[Handler, ...], failed: Callable | None) -> None:
        self.topic = topic
        self.published = 0.0
        self._counted = 0.0  # ``published`` when the handlers last changed (delivery attempts are folded then)
        self._set(handlers, failed)

    def _set(self, handlers: tuple[Handler, ...], failed: Callable | None) -> None:
        self.handlers = handlers
        if len(handlers) == 1:
            self.deliver = handlers[0]
        elif handlers:
            self.deliver = _fan_out(self.topic, handlers, failed)
        else:
            self.deliver = id  # a one-argument builtin without effects: nobody listens, no frame


def _fan_out(topic: str, handlers: tuple[Handler, ...], failed: Callable) -> Handler:
    def deliver(message: Any) -> None:
        for handler in handlers:
            try:
                handler(message)
            except Exception as exc:  # isolation: one bad handler never costs the others
                failed(topic, handler, message, exc)

    return deliver


_NO_ROUTE = Route(None, (), None)  # matches no topic: the publisher's "last route" when there is none


def pattern_matches(pattern: str, topic: str) -> bool:
    return _match(pattern.split("."), topic.split("."))


def _match(pat: list[str], seg: list[str]) -> bool:
    if not pat:
        return not seg
    head = pat[0]
    if head == "#":
        return any(_match(pat[1:], seg[i:]) for i in range(len(seg) + 1))
    if not seg:
        return False
    return (head == "*" or head == seg[0]) and _match(pat[1:], seg[1:])


def _handler_name(h: Handler) -> str:
    return getattr(h, "__qualname__", None) or repr(h)


class MessageBus:
    publish: Callable[[str, Any], None]
    """``publish(topic, message)``: deliver ``message`` to every handler whose pattern matches the
    concrete ``topic``, in delivery order, each failure isolated (see the module docstring)."""

    def __init__(self, error_topic: str | None = None, max_error_records: int = 1000) -> None:
        self._subs: list[Subscription] = []
        self._routes: dict[str, Route] = {}
        self._order = 0
        self.error_topic = error_topic
        self.errors: deque[HandlerError] = deque(maxlen=max_error_records)
        self.failed = 0
        self._attempts_folded = 0  # delivery attempts before each route's last re-resolve (_reroute)
        self.publish = self._publisher()

    # -- pub/sub -----------------------------------------------------------------------------

    def subscribe(self, pattern: str, handler: Handler, priority: int = 0) -> Subscription:
        if not pattern or any(s == "" for s in pattern.split(".")):
            raise ValueError(f"invalid topic pattern {pattern!r}: empty segment")
        sub = Subscription(pattern, handler, int(priority), self._order)
        self._order += 1
        self._subs.append(sub)
        self._reroute()
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        try:
            self._subs.remove(subscription)
        except ValueError:
            handler = _handler_name(subscription.handler)
            raise KeyError(f"not subscribed: {subscription.pattern!r} -> {handler}") from None
        self._reroute()

    def _publisher(self) -> Callable[[str, Any], None]:
        """The bus's ``publish``."""
        route_for = self.route
        failed = self._handler_failed
        last = _NO_ROUTE

        def publish(topic: str, message: Any) -> None:
            nonlocal last
            route = last
            if route.topic is not topic:  # identity: equal strings from elsewhere take the dict path
                route = last = route_for(topic)
            route.published += 1.0
            deliver = route.deliver
            try:
                deliver(message)
            except Exception as exc:  # only a single handler raises here: a fan-out isolates its own
                failed(topic, deliver, message, exc)

        return publish

    def publish_batch(self, topic: str, messages: Iterable[Any]) -> None:
        """Same deliveries, in the same order, as ``publish`` for each message; one route lookup."""
        route = self.route(topic)
        handlers = route.handlers
        count = 0
        for message in messages:
            count += 1
            for handler in handlers:
                try:
                    handler(message)
                except Exception as exc:
                    self._handler_failed(topic, handler, message, exc)
        route.published += count

    def subscribers(self, topic: str) -> tuple[Handler, ...]:
        """Handlers that a message on ``topic`` reaches, in delivery order."""
        return self.route(topic).handlers

    def route(self, topic: str) -> Route:
        """The ``Route`` of a concrete topic (the same object for the bus's lifetime)."""
        route = self._routes.get(topic)
        if route is None:
            if "*" in topic or "#" in topic:
                raise ValueError(f"publish needs a concrete topic, got pattern {topic!r}")
            route = self._routes[topic] = Route(topic, self._handlers_of(topic), self._handler_failed)
        return route

    def _handlers_of(self, topic: str) -> tuple[Handler, ...]:
        matched = [s for s in self._subs if pattern_matches(s.pattern, topic)]
        matched.sort(key=lambda s: (-s.priority, s.order))
        return tuple(s.handler for s in matched)

    def _reroute(self) -> None:
        """Re-resolve every route after a subscription change, folding its delivery attempts so far."""
        for topic, route in self._routes.items():
            self._attempts_folded += int(route.published - route._counted) * len(route.handlers)
            route._counted = route.published
            route._set(self._handlers_of(topic), self._handler_failed)

    def _handler_failed(self, topic: str, handler: Handler, message: Any, exc: Exception) -> None:
        self.failed += 1
        record = HandlerError(topic, _handler_name(handler), f"{type(exc).__name__}: {exc}", message)
        self.errors.append(record)
        log.error("bus handler %s failed on topic %s: %s", record.handler, topic, record.error)
        if self.error_topic is not None and topic != self.error_topic:
            self.publish(self.error_topic, record)

    # -- counters -----------------------------------------------------------------------------

    def published_by_topic(self) -> dict[str, int]:
        return {topic: int(route.published) for topic, route in self._routes.items() if route.published}

    @property
    def published(self) -> int:
        return sum(self.published_by_topic().values())

    @property
    def delivered(self) -> int:
        """Handler calls that returned normally (attempts minus failures)."""
        live = sum(int(r.published - r._counted) * len(r.handlers) for r in self._routes.values())
        return self._attempts_folded + live - self.failed
