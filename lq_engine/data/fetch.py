"""Market data from an exchange, through ccxt, into the landing folder (``lq fetch``, asset ``exchange_bars``).

What is fetched: the closed OHLCV bars of one market and timeframe, or (kind ``funding``) the
funding-rate history of a perpetual swap. Nothing goes to the lake from here: every completed batch
of pages becomes its own CSV file in the landing folder, written under a hidden temporary name and
renamed into place (``store.write_local_atomic``), so the landing sensor (or ``lq ingest``) sees
whole files only and the normal validated ingest applies them.

Files. Bars: ``fetch__<exchange>__<SYMBOL>__<timeframe>__<first>-<last>.csv`` with the header
``symbol,timeframe,ts,open,high,low,close,volume``; funding:
``fetch__<exchange>__<SYMBOL>__funding__<first>-<last>.funding.csv`` with the header
``symbol,ts,funding_rate``. ``ts`` is ISO-8601 UTC (``2024-01-01T08:00:00Z``); ``first``/``last``
are the first and last timestamp in the file (``20240101T080000Z``). A funding rate is the fraction
paid per funding interval, positive when longs pay shorts (ccxt's ``fundingRate``); its time is cut
to the whole second (Binance stamps some a few ms past the hour).

Symbol in the lake: the exchange's market id (``BTC/USDT:USDT`` on binanceusdm is ``BTCUSDT``),
plus an optional suffix, or a name given by the caller (``--as``).

Incremental. A fetch starts after the last bar already there: the later of the lake's last bar of
that symbol and timeframe (funding: the lake's funding file) and the last bar of the fetch files
still in the landing folder (written but perhaps not yet ingested). ``since`` is where a first fetch
starts (and a lower bound of a resumed one); ``resume=False`` fetches from ``since`` whatever is
there (overlapping bars are then handled by the ingest's merge rule: identical bars change nothing,
a changed bar is replaced by the later file).

Only closed bars: a bar whose interval has not ended by now (the local clock) is left out, so the
exchange's still-forming last bar never reaches the lake. Gaps stay gaps: no bar is invented.

Paging and failures. Pages of ``limit`` rows are requested from the cursor on until a page is empty
or reaches ``until`` (exclusive) or now. Requests go at most as fast as ccxt's rate limiter allows
(``enableRateLimit``, the exchange's ``rateLimit``) and at least ``min_interval_s`` apart. A network
error, a rate-limit answer (HTTP 429/418) or an exchange that is briefly unavailable is retried with
exponential backoff (a ``Retry-After`` header is honoured); when the retries run out, the pages
completed so far are written and ``FetchError`` names the exchange, symbol, timeframe and the
``since`` where it stopped. Running the same fetch again resumes there: nothing is lost, nothing
duplicated.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from lq_engine.data import funding as funding_files
from lq_engine.data.lake import last_bar_ts
from lq_engine.data.paths import DataPaths
from lq_engine.data.schema import NS_PER_SECOND, SYMBOL_RE, canonical_timeframe, format_ns, timeframe_to_ns
from lq_engine.data.store import write_local_atomic
from lq_engine.errors import InputError, LQError, did_you_mean

EXTRA = "exchange"  # the optional dependency group that carries ccxt: pip install 'luminaquant[exchange]'
FUNDING = "funding"  # the kind that fetches funding rates instead of bars
BAR_HEADER = "symbol,timeframe,ts,open,high,low,close,volume"
FUNDING_HEADER = funding_files.HEADER  # the landing contract of funding rates (``data.funding``)
FUNDING_SUFFIX = funding_files.SUFFIX
_NS_PER_MS = 1_000_000
_STAMP = "%Y%m%dT%H%M%SZ"


class FetchError(LQError, RuntimeError):
    """A fetch ran and stopped (the exchange unreachable or refusing after the retries); the message
    names the exchange, symbol, timeframe and the ``since`` where it stopped. What was fetched before
    is in the landing folder; the same fetch again resumes there. The CLI exits with code 1."""

    exit_code = 1


class CcxtMissingError(LQError, ImportError):
    """ccxt, an optional dependency, is not installed."""


def require_ccxt(purpose: str = "lq fetch") -> Any:
    """The ``ccxt`` module, or CcxtMissingError naming the extra that installs it."""
    try:
        import ccxt
    except ImportError:
        raise CcxtMissingError(
            f"{purpose} needs ccxt, an optional dependency that is not installed here: install the "
            f"'{EXTRA}' extra (pip install 'luminaquant[{EXTRA}]', or uv pip install ccxt)") from None
    return ccxt


@dataclass(frozen=True)
class FetchPolicy:
    """How fast and how stubbornly to ask."""

    min_interval_s: float = 0.0  # at least this many seconds between two requests (besides ccxt's limiter)
    retries: int = 5  # tries after the first, per request
    backoff_s: float = 1.0  # the first wait after a failure; doubles each try
    backoff_max_s: float = 60.0  # longest wait between two tries
    limit: int = 1000  # rows asked for per request (an exchange may answer fewer)
    pages_per_file: int = 10  # completed pages written as one landing file

    def __post_init__(self) -> None:
        for name in ("min_interval_s", "backoff_s", "backoff_max_s"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("retries",):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("limit", "pages_per_file"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)!r}")


@dataclass
class FetchResult:
    exchange: str
    market: str  # the exchange's unified symbol (BTC/USDT:USDT)
    symbol: str  # the symbol in the lake
    kind: str  # a timeframe, or FUNDING
    start_ns: int  # where this fetch started
    resumed_from: int | None  # the last bar already there (lake or landing), if any
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    requests: int = 0

    def summary(self) -> str:
        what = "funding rates" if self.kind == FUNDING else f"{self.kind} bars"
        span = (f"{format_ns(self.first_ns)} .. {format_ns(self.last_ns)}" if self.rows
                else f"nothing new from {format_ns(self.start_ns)}")
        return (f"{self.exchange} {self.market} -> {self.symbol}: {self.rows} {what} ({span}) in "
                f"{len(self.files)} landing file(s), {self.requests} request(s)")


def parse_when(text: str, what: str = "--since") -> int:
    """``YYYY-MM-DD`` or an ISO-8601 date-time (``Z`` or an offset; naive is UTC) -> ns UTC."""
    s = str(text).strip()
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise InputError(f"{what} {text!r} is not an ISO date or date-time (2024-01-01, 2024-01-01T08:00Z)") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return int(d.timestamp()) * NS_PER_SECOND + d.microsecond * 1000


def open_exchange(exchange_id: str, *, api_url: str = "", config: dict | None = None) -> Any:
    """A ccxt exchange with its rate limiter on. ``api_url``: send every API request to this base URL
    (scheme://host[:port]) instead of the exchange's hosts, keeping the paths (a mirror, a recording
    proxy, the tests' local server). ``config``: more ccxt constructor options."""
    ccxt = require_ccxt()
    if exchange_id not in ccxt.exchanges:
        raise InputError(f"exchange {exchange_id!r} is not one ccxt {ccxt.__version__} knows"
                         f"{did_you_mean(exchange_id, ccxt.exchanges)} (e.g. binance, binanceusdm, bybit, okx)")
    ex = getattr(ccxt, exchange_id)({"enableRateLimit": True, **(config or {})})
    if api_url:
        point_at(ex, api_url)
    return ex


def point_at(ex: Any, base_url: str) -> None:
    """Rewrite every URL of ``ex.urls['api']`` to ``base_url`` (its scheme and host), keeping its path."""
    base = urlparse(base_url)
    if not base.scheme or not base.netloc:
        raise InputError(f"api url {base_url!r} is not of the form scheme://host[:port]")

    def rewrite(v: Any) -> Any:
        if isinstance(v, str):
            return f"{base.scheme}://{base.netloc}{urlparse(v).path}"
        if isinstance(v, dict):
            return {k: rewrite(x) for k, x in v.items()}
        return v

    ex.urls["api"] = rewrite(ex.urls["api"])


def lake_symbol(market_id: str, suffix: str = "") -> str:
    """The lake's name of a market: its exchange id with the characters the lake does not take as
    ``-``, plus ``suffix``."""
    name = re.sub(r"[^A-Za-z0-9._\-]", "-", str(market_id)) + suffix
    if not SYMBOL_RE.match(name):
        raise InputError(f"symbol {name!r} (market id {market_id!r}) is not a valid lake symbol (letters, digits, "
                         "'.', '_', '-'; at most 64): name it with --as")
    return name


# ---------------------------------------------------------------------------------------------
# what is already there


def fetch_file_name(exchange_id: str, symbol: str, kind: str, first_ns: int, last_ns: int) -> str:
    stamp = "-".join(datetime.fromtimestamp(t // NS_PER_SECOND, timezone.utc).strftime(_STAMP)
                     for t in (first_ns, last_ns))
    return f"fetch__{exchange_id}__{symbol}__{kind}__{stamp}" + (FUNDING_SUFFIX if kind == FUNDING else ".csv")


def landed_last_ts(paths: DataPaths, exchange_id: str, symbol: str, kind: str) -> int | None:
    """The last timestamp of the fetch files of (exchange, symbol, kind) in the landing folder (from
    their names), or None. A file the ingest rejected has moved to the quarantine and does not count."""
    end = re.escape(FUNDING_SUFFIX if kind == FUNDING else ".csv")
    pat = re.compile(rf"^fetch__{re.escape(exchange_id)}__{re.escape(symbol)}__{re.escape(kind)}__"
                     rf"\d{{8}}T\d{{6}}Z-(\d{{8}}T\d{{6}}Z){end}$")
    last = None
    if paths.landing.is_dir():
        for f in paths.landing.iterdir():
            m = pat.match(f.name)
            if m:
                t = int(datetime.strptime(m.group(1), _STAMP).replace(tzinfo=timezone.utc).timestamp()) * NS_PER_SECOND
                last = t if last is None else max(last, t)
    return last


def already_there(paths: DataPaths, exchange_id: str, symbol: str, kind: str) -> int | None:
    """The last bar (or funding time) in the lake or in this fetch's landing files, whichever is later."""
    lake = funding_files.last_funding_ns(paths, symbol) if kind == FUNDING else last_bar_ts(paths, symbol, kind)
    landed = landed_last_ts(paths, exchange_id, symbol, kind)
    known = [t for t in (lake, landed) if t is not None]
    return max(known) if known else None


# ---------------------------------------------------------------------------------------------
# fetching


class _Caller:
    """Calls the exchange: pacing (``min_interval_s``) and retries with backoff on ccxt's network
    errors (NetworkError covers RateLimitExceeded, DDoSProtection, ExchangeNotAvailable, RequestTimeout)."""

    def __init__(self, ex: Any, policy: FetchPolicy, sleep: Callable[[float], None], log: Callable[[str], None]):
        self.ex, self.policy, self.sleep, self.log = ex, policy, sleep, log
        self.ccxt = require_ccxt()
        self.requests = 0
        self._last = None  # monotonic time of the previous request

    def _pace(self) -> None:
        if self._last is not None and self.policy.min_interval_s > 0:
            wait = self.policy.min_interval_s - (time.monotonic() - self._last)
            if wait > 0:
                self.sleep(wait)
        self._last = time.monotonic()

    def _retry_after(self) -> float:
        headers = getattr(self.ex, "last_response_headers", None) or {}
        for k, v in dict(headers).items():
            if str(k).lower() == "retry-after":
                try:
                    return float(v)
                except (TypeError, ValueError):
                    return 0.0
        return 0.0

    def __call__(self, fn: Callable[[], Any], where: Callable[[], str]) -> Any:
        p = self.policy
        for attempt in range(p.retries + 1):
            self._pace()
            self.requests += 1
            try:
                return fn()
            except self.ccxt.NetworkError as e:
                if attempt == p.retries:
                    tries = f"{attempt + 1} tries" if attempt else "1 try"
                    raise _Stopped(f"{type(e).__name__} after {tries}: {_short(e)}") from None
                wait = min(p.backoff_max_s, p.backoff_s * 2 ** attempt)
                if isinstance(e, (self.ccxt.RateLimitExceeded, self.ccxt.DDoSProtection)):
                    wait = min(p.backoff_max_s, max(wait, self._retry_after()))
                self.log(f"{where()}: {type(e).__name__} ({_short(e, 120)}); try {attempt + 2} of "
                         f"{p.retries + 1} in {wait:.1f}s")
                self.sleep(wait)
            except self.ccxt.BaseError as e:  # the exchange refused the request: no point in asking again
                raise _Stopped(f"{type(e).__name__}: {_short(e)}") from None
        raise AssertionError("unreachable")


class _Stopped(Exception):
    """A request failed for good (internal: becomes FetchError with the fetch's context)."""


def _short(e: BaseException, n: int = 300) -> str:
    return " ".join(str(e).split())[:n]


def _resolve_market(ex: Any, call: _Caller, symbol: str, kind: str) -> dict:
    try:
        call(ex.load_markets, lambda: f"{ex.id}: loading markets")
    except _Stopped as e:
        raise FetchError(f"{ex.id} {symbol} {kind}: cannot load the exchange's markets: {e}") from None
    try:
        return ex.market(symbol)
    except call.ccxt.BaseError:
        known = list(ex.symbols or []) + list((ex.markets_by_id or {}).keys())
        raise InputError(f"{ex.id} has no market {symbol!r}{did_you_mean(symbol, known)} ({len(ex.symbols or [])} "
                         "markets; unified symbols look like BTC/USDT or BTC/USDT:USDT)") from None


def _check_kind(ex: Any, market: dict, kind: str) -> str:
    """The canonical timeframe (or FUNDING) after checking the exchange offers it for this market."""
    if kind == FUNDING:
        if not ex.has.get("fetchFundingRateHistory"):
            raise InputError(f"{ex.id} has no funding-rate history in ccxt (fetchFundingRateHistory)")
        if not market.get("swap"):
            raise InputError(f"{ex.id} {market['symbol']} is not a perpetual swap: it has no funding rates "
                             "(perpetuals look like BTC/USDT:USDT)")
        return FUNDING
    tf = canonical_timeframe(kind)
    if not ex.has.get("fetchOHLCV"):
        raise InputError(f"{ex.id} has no OHLCV history in ccxt (fetchOHLCV)")
    offered = list((ex.timeframes or {}).keys())
    if tf not in offered:
        raise InputError(f"{ex.id} has no {tf} bars (timeframe {kind!r}); it offers {', '.join(offered)}")
    return tf


def _float(v: Any) -> str:
    """A number as the CSV holds it: exact and without an exponent (1e-05 -> 0.00001)."""
    return "" if v is None else np.format_float_positional(float(v), unique=True, trim="0")


def _write(paths: DataPaths, name: str, header: str, lines: list[str]) -> Path:
    target = paths.landing / name
    data = (header + "\n" + "\n".join(lines) + "\n").encode()
    write_local_atomic(lambda f: f.write(data), target)
    return target


def fetch_to_landing(
    ex: Any,
    paths: DataPaths,
    symbol: str,
    kind: str,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    as_symbol: str | None = None,
    suffix: str = "",
    resume: bool = True,
    policy: FetchPolicy = FetchPolicy(),
    now_ns: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[str], None] | None = None,
) -> FetchResult:
    """Fetch the closed bars of ``symbol`` at timeframe ``kind`` (or its funding rates: ``kind`` =
    ``"funding"``) from ``ex`` (``open_exchange``) into ``paths.landing``; see the module docstring.

    ``since_ns`` / ``until_ns``: ns UTC, ``until`` exclusive (None: up to now). ``now_ns``: the clock
    deciding which bars are closed (None: the local clock). ``report``: one line per file written
    and per retry."""
    log = report or (lambda _m: None)
    call = _Caller(ex, policy, sleep, log)
    market = _resolve_market(ex, call, symbol, kind)
    kind = _check_kind(ex, market, kind)
    name = as_symbol if as_symbol else lake_symbol(market["id"], suffix)
    if not SYMBOL_RE.match(name):
        raise InputError(f"--as {name!r} is not a valid lake symbol (letters, digits, '.', '_', '-'; at most 64)")
    now = time.time_ns() if now_ns is None else int(now_ns)
    step = NS_PER_SECOND if kind == FUNDING else timeframe_to_ns(kind)
    last = already_there(paths, ex.id, name, kind) if resume else None
    if last is not None:
        start = last + step if since_ns is None else max(last + step, since_ns)
    elif since_ns is not None:
        start = since_ns
    else:
        what = "funding rates" if kind == FUNDING else f"{kind} bars"
        raise InputError(f"no {what} of {name} in the lake or the landing folder yet: give --since "
                         "(where the first fetch starts)")
    end = now if until_ns is None else min(int(until_ns), now)
    result = FetchResult(ex.id, market["symbol"], name, kind, start, last)
    header = FUNDING_HEADER if kind == FUNDING else BAR_HEADER
    buffer: list[tuple[int, str]] = []  # (ts ns, CSV line) of completed pages not yet written
    pages = 0

    def flush() -> None:
        nonlocal buffer, pages
        if buffer:
            f = _write(paths, fetch_file_name(ex.id, name, kind, buffer[0][0], buffer[-1][0]), header,
                       [line for _, line in buffer])
            result.files.append(f)
            log(f"{f.name}: {len(buffer)} rows")
        buffer, pages = [], 0

    cursor = start
    try:
        while cursor < end and (kind == FUNDING or cursor + step <= now):
            def where(c: int = cursor) -> str:
                return f"{ex.id} {market['symbol']} {kind} since {format_ns(c)}"

            since_ms = -(-cursor // _NS_PER_MS)  # the first ms at or after the cursor
            try:
                if kind == FUNDING:
                    raw = call(lambda: ex.fetch_funding_rate_history(market["symbol"], since=since_ms,
                                                                     limit=policy.limit), where)
                    rows = [((int(r["timestamp"]) * _NS_PER_MS) // NS_PER_SECOND * NS_PER_SECOND, r)
                            for r in raw if r.get("timestamp") is not None]
                else:
                    raw = call(lambda: ex.fetch_ohlcv(market["symbol"], kind, since=since_ms,
                                                      limit=policy.limit), where)
                    rows = [(int(r[0]) * _NS_PER_MS, r) for r in raw]
            except _Stopped as e:
                raise FetchError(
                    f"{ex.id} {market['symbol']} {kind}: stopped at since={format_ns(cursor)}: {e}. "
                    f"{result.rows} rows before it are in the landing folder; run the same "
                    "fetch again to resume there") from None
            # closed bars (funding: times past) from the cursor on, before ``until``, in order, each time once
            def wanted(t: int) -> bool:
                return t < end if kind == FUNDING else (t + step <= now and (until_ns is None or t < until_ns))

            keep = sorted({t: r for t, r in rows if t >= cursor and wanted(t)}.items())
            reached_end = any(t >= cursor and not wanted(t) for t, _ in rows)
            for t, r in keep:
                if kind == FUNDING:
                    line = f"{name},{format_ns(t)},{_float(r.get('fundingRate'))}"
                else:
                    line = f"{name},{kind},{format_ns(t)}," + ",".join(_float(v) for v in r[1:6])
                buffer.append((t, line))
            result.rows += len(keep)
            if keep:
                result.first_ns = keep[0][0] if result.first_ns is None else result.first_ns
                result.last_ns = keep[-1][0]
                pages += 1
                if pages >= policy.pages_per_file:
                    flush()
            if not keep or reached_end:
                break
            cursor = keep[-1][0] + step
    finally:  # the pages completed before a failure are written: a resume continues after them
        flush()
        result.requests = call.requests
    return result
