"""In-process message bus: pub/sub with wildcards and priorities, point-to-point, request/response.

Topics are dot-separated segments (``data.bars.BTCUSDT``). A subscription pattern may use
``*`` for exactly one segment and ``#`` for zero or more segments (``data.#`` matches ``data``,
``data.bars`` and ``data.bars.X``); any other segment is literal.

Delivery order for a topic is deterministic: higher ``priority`` first, then subscription order.
The handler list of each concrete topic is resolved once and cached (the cache is dropped on
every subscribe/unsubscribe), so ``publish`` is a dict lookup plus the handler calls.

A handler that raises is isolated: the exception is counted, recorded in ``errors`` (the last
``max_error_records``), logged, and, if ``error_topic`` is set, published there as a
``HandlerError``; the remaining handlers still receive the message. Failures of handlers on the
error topic itself are recorded but not re-published.

Request/response is synchronous and in-process: ``request`` calls the endpoint's responder with a
``Request`` carrying a fresh correlation id and returns a ``Response``. Rules: no responder
registered raises ``NoResponderError`` (a wiring mistake); a responder that raises is recorded
like a failing handler and the call returns ``None``; a responder that takes longer than the
timeout (measured after it returns: in-process code cannot be pre-empted) has its answer
discarded, is counted in ``timeouts`` and the call returns ``None``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], Any]


class NoEndpointError(LookupError):
    pass


class NoResponderError(LookupError):
    pass


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


@dataclass(frozen=True, slots=True)
class Request:
    correlation_id: str
    endpoint: str
    payload: Any


@dataclass(frozen=True, slots=True)
class Response:
    correlation_id: str
    endpoint: str
    value: Any


class _Route:
    """Resolved handlers of one concrete topic plus its publish counter."""

    __slots__ = ("handlers", "published")

    def __init__(self, handlers: tuple[Handler, ...]) -> None:
        self.handlers = handlers
        self.published = 0


class _RouteCache(dict):
    """topic -> _Route; a missing topic is resolved against the subscriptions and stored."""

    __slots__ = ("_resolve",)

    def __init__(self, resolve: Callable[[str], _Route]) -> None:
        super().__init__()
        self._resolve = resolve

    def __missing__(self, topic: str) -> _Route:
        return self._resolve(topic)


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
    def __init__(self, error_topic: str | None = None, max_error_records: int = 1000) -> None:
        self._subs: list[Subscription] = []
        self._routes = _RouteCache(self._resolve)
        self._order = 0
        self._endpoints: dict[str, Handler] = {}
        self._responders: dict[str, Handler] = {}
        self._correlation = 0
        self.error_topic = error_topic
        self.errors: deque[HandlerError] = deque(maxlen=max_error_records)
        self.failed = 0
        self.timeouts = 0
        self.sent = 0
        # counters of routes already dropped from the cache (see _drop_routes)
        self._published_by_topic: dict[str, int] = {}
        self._attempts_folded = 0

    # -- pub/sub -----------------------------------------------------------------------------

    def subscribe(self, pattern: str, handler: Handler, priority: int = 0) -> Subscription:
        if not pattern or any(s == "" for s in pattern.split(".")):
            raise ValueError(f"invalid topic pattern {pattern!r}: empty segment")
        sub = Subscription(pattern, handler, int(priority), self._order)
        self._order += 1
        self._subs.append(sub)
        self._drop_routes()
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        try:
            self._subs.remove(subscription)
        except ValueError:
            raise KeyError(f"not subscribed: {subscription.pattern!r} -> {_handler_name(subscription.handler)}") from None
        self._drop_routes()

    def publish(self, topic: str, message: Any) -> None:
        route = self._routes[topic]  # a miss resolves and caches (_RouteCache.__missing__)
        route.published += 1
        for handler in route.handlers:
            try:
                handler(message)
            except Exception as exc:  # isolation: one bad handler never costs the others
                self._handler_failed(topic, handler, message, exc)

    def publish_batch(self, topic: str, messages: Iterable[Any]) -> None:
        """Same deliveries, in the same order, as ``publish`` for each message; one route lookup."""
        route = self._routes[topic]
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
        return self._routes[topic].handlers

    def _resolve(self, topic: str) -> _Route:
        if "*" in topic or "#" in topic:
            raise ValueError(f"publish needs a concrete topic, got pattern {topic!r}")
        matched = [s for s in self._subs if pattern_matches(s.pattern, topic)]
        matched.sort(key=lambda s: (-s.priority, s.order))
        route = _Route(tuple(s.handler for s in matched))
        self._routes[topic] = route
        return route

    def _drop_routes(self) -> None:
        for topic, route in self._routes.items():
            if route.published:
                self._published_by_topic[topic] = self._published_by_topic.get(topic, 0) + route.published
                self._attempts_folded += route.published * len(route.handlers)
        self._routes.clear()

    def _handler_failed(self, topic: str, handler: Handler, message: Any, exc: Exception) -> None:
        self.failed += 1
        record = HandlerError(topic, _handler_name(handler), f"{type(exc).__name__}: {exc}", message)
        self.errors.append(record)
        log.error("bus handler %s failed on topic %s: %s", record.handler, topic, record.error)
        if self.error_topic is not None and topic != self.error_topic:
            self.publish(self.error_topic, record)

    # -- counters -----------------------------------------------------------------------------

    def published_by_topic(self) -> dict[str, int]:
        out = dict(self._published_by_topic)
        for topic, route in self._routes.items():
            if route.published:
                out[topic] = out.get(topic, 0) + route.published
        return out

    @property
    def published(self) -> int:
        return sum(self.published_by_topic().values())

    @property
    def delivered(self) -> int:
        """Handler calls that returned normally (attempts minus failures)."""
        live = sum(r.published * len(r.handlers) for r in self._routes.values())
        return self._attempts_folded + live - self.failed

    # -- point-to-point -----------------------------------------------------------------------

    def register_endpoint(self, endpoint: str, handler: Handler) -> None:
        if endpoint in self._endpoints:
            raise ValueError(f"endpoint {endpoint!r} already has a handler ({_handler_name(self._endpoints[endpoint])})")
        self._endpoints[endpoint] = handler

    def deregister_endpoint(self, endpoint: str) -> None:
        if self._endpoints.pop(endpoint, None) is None:
            raise NoEndpointError(f"no handler registered for endpoint {endpoint!r}")

    def send(self, endpoint: str, message: Any) -> bool:
        """Deliver to the one handler of ``endpoint``; False if it raised (recorded), True otherwise."""
        handler = self._endpoints.get(endpoint)
        if handler is None:
            raise NoEndpointError(f"no handler registered for endpoint {endpoint!r}")
        self.sent += 1
        try:
            handler(message)
        except Exception as exc:
            self._handler_failed(endpoint, handler, message, exc)
            return False
        return True

    # -- request/response ---------------------------------------------------------------------

    def register_responder(self, endpoint: str, responder: Handler) -> None:
        if endpoint in self._responders:
            raise ValueError(f"endpoint {endpoint!r} already has a responder")
        self._responders[endpoint] = responder

    def request(self, endpoint: str, payload: Any, timeout_s: float = 1.0) -> Response | None:
        responder = self._responders.get(endpoint)
        if responder is None:
            raise NoResponderError(f"no responder registered for endpoint {endpoint!r}")
        self._correlation += 1
        req = Request(f"{endpoint}#{self._correlation}", endpoint, payload)
        started = time.perf_counter()
        try:
            value = responder(req)
        except Exception as exc:
            self._handler_failed(endpoint, responder, req, exc)
            return None
        if time.perf_counter() - started > timeout_s:
            self.timeouts += 1
            log.warning("request %s to %s timed out after %.3fs", req.correlation_id, endpoint, timeout_s)
            return None
        return Response(req.correlation_id, endpoint, value)
