"""A stand-in for Binance USD-M futures on 127.0.0.1: recorded responses (tests/data/exchange/), served
the way the exchange pages them, so a real ``ccxt.binanceusdm`` pointed here (``--api-url``) runs its
own request and parsing code, never the internet.

Endpoints: ``/fapi/v1/exchangeInfo`` (what ccxt's loadMarkets reads), ``/fapi/v1/klines`` (1h bars of
BTCUSDT from ``startTime``, ``limit`` of them, as Binance answers) and ``/fapi/v1/fundingRate``.
Faults: ``rate_limited = n`` answers the next n data requests with HTTP 429 (Binance's body, and a
``Retry-After`` header); ``fail_after = k`` answers every data request after the k-th with 503 (an
outage). ``requests`` records (path, query) of every request.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

RECORDED = Path(__file__).parent / "exchange"
KLINES = json.loads((RECORDED / "binanceusdm_klines_BTCUSDT_1h.json").read_text())
FUNDING = json.loads((RECORDED / "binanceusdm_fundingRate_BTCUSDT.json").read_text())
EXCHANGE_INFO = (RECORDED / "binanceusdm_exchangeInfo.json").read_bytes()
HOUR_MS = 3_600_000


class FakeBinanceUsdm:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.rate_limited = 0
        self.retry_after = "1"
        self.fail_after: int | None = None
        self.data_requests = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                u = urlparse(self.path)
                q = {k: v[-1] for k, v in parse_qs(u.query).items()}
                status, body, headers = fake.answer(u.path, q)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def __enter__(self) -> FakeBinanceUsdm:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def data_starts(self, path: str) -> list[int]:
        """The ``startTime`` of each request to ``path`` that got data (not a fault)."""
        return [int(q["startTime"]) for p, q in self.requests
                if p == path and "startTime" in q and q.get("_answered") == "200"]

    def answer(self, path: str, q: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self.requests.append((path, q))
            status, body, headers = self._answer(path, q)
            q["_answered"] = str(status)
            return status, body, headers

    def _answer(self, path: str, q: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        if path == "/fapi/v1/exchangeInfo":
            return 200, EXCHANGE_INFO, {}
        if path not in ("/fapi/v1/klines", "/fapi/v1/fundingRate"):
            return 404, b'{"code":-1,"msg":"not recorded"}', {}
        self.data_requests += 1
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return 429, (b'{"code":-1003,"msg":"Too many requests; current limit of IP(127.0.0.1) is 2400 requests '
                         b'per minute. Please use the websocket for live updates to avoid polling the API."}'), \
                {"Retry-After": self.retry_after}
        if self.fail_after is not None and self.data_requests > self.fail_after:
            return 503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", {}
        start = int(q.get("startTime", 0))
        end = int(q["endTime"]) if "endTime" in q else None
        if path == "/fapi/v1/klines":
            if q.get("symbol") != "BTCUSDT" or q.get("interval") != "1h":
                return 400, b'{"code":-1121,"msg":"Invalid symbol."}', {}
            limit = int(q.get("limit", 500))
            rows = [r for r in KLINES if r[0] >= start and (end is None or r[0] <= end)][:limit]
        else:
            limit = int(q.get("limit", 100))
            rows = [r for r in FUNDING
                    if r["fundingTime"] >= start and (end is None or r["fundingTime"] <= end)][:limit]
        return 200, json.dumps(rows).encode(), {}
