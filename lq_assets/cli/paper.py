"""``lq paper``: paper-trade a strategy on lake data with crash-safe state; ``lq paper status``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lq_assets.cli.brackets import add_bracket_flags, bracket_legs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "paper",
        help="paper-trade a strategy (crash-safe: restart resumes), or show a run's status",
        description="Replay a frozen dataset's bars at --speed bars/s (default: as fast as possible) "
        "through the event engine, a durable outbox and a simulated venue with its own journal. "
        "Killed at any point, the same command resumes without losing or duplicating an order. "
        "Parameters: --params JSON, else the winner of the latest optimization of this dataset and "
        "strategy (with the brackets it was optimized with), else the strategy's defaults. Results go to the catalog (paper_runs, paper_fills, "
        "paper_equity) and show in Dagster as the paper_trading asset.",
    )
    p.add_argument("action", nargs="?", choices=("run", "status"), default="run")
    p.add_argument("--dataset", default="us_stocks_daily", help="universe of luminaquant.toml (frozen)")
    p.add_argument("--symbol", help="symbol of the dataset (default: its first)")
    p.add_argument("--strategy", default="ma_cross")
    p.add_argument("--params", type=json.loads, help='JSON object, e.g. \'{"fast": 10, "slow": 40, "side": "long"}\'')
    p.add_argument("--speed", type=float, help="bars per second of wall time (default: as fast as possible)")
    p.add_argument("--max-bars", type=int, help="stop after this many bars (in total, across restarts)")
    p.add_argument("--state-dir", type=Path, help="default: data/paper/<dataset>-<symbol>-<strategy>")
    p.add_argument("--reset-state", action="store_true", help="move the state files aside and start over")
    p.add_argument("--rebuild-from-venue", action="store_true", help="rebuild the trader's state from the venue journal")
    add_bracket_flags(p, "the optimization winner's brackets")
    p.set_defaults(func=run)


def winner_of(paths, dataset: str, strategy: str) -> tuple[dict, dict] | None:
    """(params, bracket legs) of the latest optimization winner of (dataset, strategy), if any."""
    from lq_engine.data.results import read_table

    df = read_table(paths, "optimization_winners", {"dataset": dataset, "strategy": strategy})
    if not df.height:
        return None
    brackets = df["brackets"][0] if "brackets" in df.columns else None  # tables written before brackets existed
    return json.loads(df["winner_params"][0]), json.loads(brackets) if brackets else {}


def choose(args: argparse.Namespace, winner: tuple[dict, dict] | None) -> tuple[dict | None, dict]:
    """Parameters and bracket legs of this run: flags first, then the winner (its brackets only with its
    parameters), then the strategy's defaults without brackets."""
    legs = bracket_legs(args)
    from_winner = args.params is None and winner is not None
    params = args.params if args.params is not None else (winner[0] if winner else None)
    if legs is None:
        legs = winner[1] if from_winner else {}
    return params, {k: v for k, v in legs.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step

    paths = setup(args.verbose)
    import dagster as dg

    from lq_assets.datasets.lookup import current_frozen
    from lq_engine.live.errors import LiveError
    from lq_engine.live.ops import record_to_catalog, status
    from lq_engine.live.run import run_paper
    from lq_engine.replay.sizing import BracketSpec
    from lq_engine.strategies.registry import resolve

    portfolio = resolve(args.strategy).is_portfolio
    with dg.DagsterInstance.get() as instance:
        ds = current_frozen(instance, args.dataset, paths)
        folder = ds.folder
        if portfolio and args.symbol:
            raise ValueError(f"strategy '{args.strategy}' is a portfolio strategy: it trades the whole universe of "
                             f"{args.dataset}; drop --symbol")
        symbol = None if portfolio else (args.symbol or ds.symbols[0])
        where = args.dataset if portfolio else f"{args.dataset}-{symbol}"
        state = args.state_dir or paths.root / "paper" / f"{where}-{args.strategy}"
        if args.action == "status":
            print(json.dumps(status(state), indent=2, default=str))
            return 0
        params, legs = choose(args, winner_of(paths, args.dataset, args.strategy))
        if portfolio:
            if legs and bracket_legs(args):
                raise ValueError(f"strategy '{args.strategy}' is a portfolio strategy: bracket flags do not apply")
            legs = {}  # protective orders are per entry of one symbol
        step(f"paper trading {args.strategy} {json.dumps(params) if params else '(default parameters)'} "
             f"brackets {json.dumps(legs) if legs else 'none'} on {args.dataset}"
             f"{'' if portfolio else '/' + symbol}; state in {state}")
        try:
            r = run_paper(state, args.strategy, params, frozen=folder, symbol=symbol, speed=args.speed,
                          max_bars=args.max_bars, brackets=BracketSpec(**legs), reset_state=args.reset_state,
                          rebuild_from_venue=args.rebuild_from_venue)
        except LiveError as e:
            raise RuntimeError(str(e)) from None
        row = record_to_catalog(paths, state)
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key="paper_trading",
            metadata={
                "run_id": r.run_id, "dataset": args.dataset, "symbol": symbol or "PORTFOLIO", "strategy": args.strategy,
                "positions": json.dumps(r.positions),
                "params": json.dumps(params or {}), "brackets": json.dumps(legs), "bars": r.bars_processed, "fills": len(r.fills),
                "position": float(r.position), "cash": float(r.cash), "equity": float(r.equity),
                "resumed_from_bar": -1 if r.recovery.restored_bar is None else int(r.recovery.restored_bar),
                "resent_intents": len(r.recovery.resent), "state_dir": dg.MetadataValue.path(str(state)),
            },
        ))
    step(f"done: {r.bars_processed} bars, {len(r.fills)} fills, equity {r.equity:,.2f} "
         f"(recorded as paper run {row.get('run_id', r.run_id)} in the catalog)")
    return 0
