"""``lq fetch``: an exchange's closed bars (or funding rates) through ccxt into the landing folder."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch",
        help="fetch closed bars or funding rates from an exchange (ccxt) into the landing folder",
        description="Fetch the closed OHLCV bars of one market (or, with TIMEFRAME 'funding', the funding-rate "
        "history of a perpetual) through ccxt, page by page, into CSV files in the landing folder "
        "(fetch__<exchange>__<SYMBOL>__<timeframe>__<first>-<last>.csv, written whole under a temporary name). "
        "The landing sensor (`lq ui`) ingests them through the normal validated ingest; so does "
        "`lq ingest data/landing/fetch__*`. A fetch resumes after the last bar already in the lake or in this "
        "fetch's landing files; --since is where the first one starts. Requests are rate-limited and retried "
        "with backoff; if the exchange stays unreachable, the pages fetched so far are kept and the command "
        "exits with 1 naming where it stopped: run it again to resume. Needs ccxt (the 'exchange' extra). "
        "Exit code 0: done; 1: stopped by the exchange; 2: a bad argument.",
    )
    p.add_argument("exchange", metavar="EXCHANGE", help="a ccxt exchange id: binance (spot), binanceusdm "
                   "(USD-M perpetuals), bybit, okx, ...")
    p.add_argument("symbol", metavar="SYMBOL", help="the exchange's unified symbol (BTC/USDT, BTC/USDT:USDT for a "
                   "perpetual) or its market id (BTCUSDT)")
    p.add_argument("timeframe", metavar="TIMEFRAME", help="bar timeframe (1m, 15m, 1h, 1d, ...) or 'funding' for "
                   "the funding-rate history of a perpetual (files *.funding.csv: symbol,ts,funding_rate)")
    p.add_argument("--since", metavar="WHEN", help="first bar, UTC (2024-01-01 or 2024-01-01T08:00Z): where the "
                   "first fetch starts; a later fetch starts after the last bar already there (and not before this)")
    p.add_argument("--until", metavar="WHEN", help="stop before this time, UTC (exclusive; default: now, closed bars "
                   "only)")
    p.add_argument("--as", dest="as_symbol", metavar="NAME", help="the symbol's name in the lake (default: the "
                   "exchange's market id, e.g. BTCUSDT)")
    p.add_argument("--no-resume", action="store_true", help="fetch from --since even if bars after it are already "
                   "there (the ingest's merge rule handles the overlap: identical bars change nothing)")
    p.add_argument("--min-interval", type=float, default=0.0, metavar="S",
                   help="at least S seconds between two requests, besides the exchange's own rate limit (default 0)")
    p.add_argument("--retries", type=int, default=5, metavar="N",
                   help="tries after the first per request, with exponential backoff from 1 s (default 5)")
    p.add_argument("--limit", type=int, default=1000, metavar="N", help="rows asked for per request (default 1000)")
    p.add_argument("--pages-per-file", type=int, default=10, metavar="N",
                   help="completed pages written as one landing file (default 10)")
    p.add_argument("--api-url", metavar="URL", default="",
                   help="send every request to this base URL (scheme://host:port) instead of the exchange's hosts, "
                        "keeping the paths: a mirror or a recording proxy")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step
    from lq_engine.data.fetch import FetchPolicy, fetch_to_landing, open_exchange, parse_when

    since = parse_when(args.since, "--since") if args.since else None
    until = parse_when(args.until, "--until") if args.until else None
    if since is not None and until is not None and until <= since:
        from lq_engine.errors import UsageError

        raise UsageError(f"--until {args.until} is not after --since {args.since}")
    policy = FetchPolicy(min_interval_s=args.min_interval, retries=args.retries, limit=args.limit,
                         pages_per_file=args.pages_per_file)
    paths = setup(args.verbose)
    ex = open_exchange(args.exchange, api_url=args.api_url)
    step(f"fetching {args.exchange} {args.symbol} {args.timeframe} into {paths.landing}")
    result = fetch_to_landing(ex, paths, args.symbol, args.timeframe, since_ns=since, until_ns=until,
                              as_symbol=args.as_symbol, resume=not args.no_resume, policy=policy,
                              report=lambda line: print(f"  {line}", flush=True))
    print(result.summary())
    if result.files:
        print(f"the landing sensor ingests them (lq ui), or: lq ingest {paths.landing}/fetch__{result.exchange}__"
              f"{result.symbol}__{result.kind}__*")
    return 0
