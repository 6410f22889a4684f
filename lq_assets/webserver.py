"""``python -m lq_assets.webserver ARGS``: dagster-webserver (same arguments) behind a guard against
requests a web page can make (issue 20 #16).

dagster-webserver on 127.0.0.1 answered any Host header and ran GraphQL mutations sent over GET: a
page the user opened could delete a run (CSRF: ``<img src="http://127.0.0.1:3000/graphql?query=
mutation{deleteRun(...)}">``) or, through DNS rebinding (a foreign host name resolving to
127.0.0.1), read the instance. The guard (an ASGI middleware around Dagster's app) refuses, with 403:

- a Host header other than ``127.0.0.1:PORT``, ``localhost:PORT`` or ``[::1]:PORT``;
- an Origin header other than ``http://`` + one of those hosts (browsers send it on every
  cross-origin request but a plain GET, and on every WebSocket);
- ``Sec-Fetch-Site: cross-site`` or ``same-site`` (another port of localhost is the same site),
  except a top-level navigation (a link to the UI) to a page other than /graphql;

and refuses (405) a GraphQL document sent over GET with anything but queries in it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from urllib.parse import parse_qs

GRAPHQL_PATH = "/graphql"


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset(f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]"))


def _non_query_operation(document: str) -> str | None:
    """The first operation of ``document`` that is not a query ('mutation', 'subscription', or
    'unparsable'), or None."""
    from graphql import OperationDefinitionNode, parse
    from graphql.error import GraphQLError

    try:
        doc = parse(document)
    except GraphQLError:
        return "unparsable"
    for d in doc.definitions:
        if isinstance(d, OperationDefinitionNode) and d.operation.value != "query":
            return d.operation.value
    return None


def refusal(scope: dict, hosts: Iterable[str]) -> tuple[int, str] | None:
    """(status, reason) for a request the guard refuses, None for one it lets through."""
    hosts = set(hosts)
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    host = headers.get("host", "")
    if host not in hosts:
        return 403, f"Host {host!r} refused: the UI answers {', '.join(sorted(hosts))} only (DNS rebinding guard)"
    origin = headers.get("origin")
    if origin is not None and origin not in {f"http://{h}" for h in hosts}:
        return 403, f"Origin {origin!r} refused: cross-site request"
    site = headers.get("sec-fetch-site")
    path = scope.get("path", "")
    method = scope.get("method", "GET")
    if site in ("cross-site", "same-site"):
        navigate = headers.get("sec-fetch-mode") == "navigate" and method in ("GET", "HEAD")
        if not navigate or path.rstrip("/").endswith(GRAPHQL_PATH):
            return 403, f"Sec-Fetch-Site {site!r} refused: cross-site request"
    if scope["type"] == "http" and method in ("GET", "HEAD") and path.rstrip("/").endswith(GRAPHQL_PATH):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("query")
        if query:
            bad = _non_query_operation(query[0])
            if bad is not None:
                return 405, f"GraphQL {bad} over GET refused: send it with POST"
    return None


class Guard:
    """ASGI middleware: ``Guard(app, hosts)`` refuses what ``refusal`` names, passes the rest."""

    def __init__(self, app, hosts: Iterable[str]):
        self.app = app
        self.hosts = frozenset(hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        refused = refusal(scope, self.hosts)
        if refused is None:
            return await self.app(scope, receive, send)
        status, reason = refused
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403, "reason": reason[:120]})
            return
        body = (reason + "\n").encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _port(argv: list[str]) -> int:
    for i, a in enumerate(argv):
        if a in ("-p", "--port") and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--port="):
            return int(a.split("=", 1)[1])
    raise SystemExit("lq_assets.webserver: give the port (-p PORT): the guard checks Host against it")


def main() -> None:
    import dagster_webserver.cli as cli

    hosts = allowed_hosts(_port(sys.argv[1:]))
    make_app = cli.create_app_from_workspace_process_context

    def guarded_app(*args, **kwargs):
        return Guard(make_app(*args, **kwargs), hosts)

    cli.create_app_from_workspace_process_context = guarded_app
    sys.argv[0] = "dagster-webserver"
    cli.main()


if __name__ == "__main__":
    main()
