"""``lq paper``: paper-trade a strategy on lake data with crash-safe state; ``lq paper status``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lq_assets.cli.brackets import add_bracket_flags, bracket_legs
from lq_assets.cli.inputs import check_dataset, check_strategies
from lq_engine.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "paper",
        help="paper-trade a strategy (crash-safe: restart resumes), or show a run's status",
        description="Replay a frozen dataset's bars at --speed bars/s (default: as fast as possible) "
        "through the event engine, a durable outbox and a simulated venue with its own journal. "
        "Killed at any point, the same command resumes without losing or duplicating an order. "
        "One run per state folder: a second run on it is refused (naming the running pid); "
        "status reads it while it runs. "
        "Parameters: --params JSON, else the winner of the latest optimization of this dataset and "
        "strategy (with the brackets it was optimized with), else the strategy's defaults. "
        "Results go to the catalog (paper_runs, paper_fills, "
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
    p.add_argument("--json", action="store_true", help="status: every field as JSON (default: aligned lines)")
    p.add_argument("--rebuild-from-venue", action="store_true",
                   help="rebuild the trader's state from the venue journal")
    p.add_argument("--allow-lookahead", action="store_true",
                   help="paper-trade the optimization winner even though its lookahead gate failed (to watch it "
                        "fall apart: the paper trader decides at bar i from bars up to i only)")
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


def winner_lookahead(paths, dataset: str, strategy: str) -> str:
    """The lookahead gate's failure of the latest optimization winner of (dataset, strategy), "" when
    it passed, had none, or was stored before the gate existed (the report says "not checked")."""
    from lq_engine.data.results import read_table

    df = read_table(paths, "optimization_winners", {"dataset": dataset, "strategy": strategy})
    if not df.height or "lookahead" not in df.columns:
        return ""
    text = df["lookahead"][0]
    return text if isinstance(text, str) and text.startswith("lookahead:") else ""


def refuse_lookahead(args: argparse.Namespace, failure: str) -> None:
    """Trading the winner (no --params) whose decisions read later bars is refused, naming the
    verdict, unless --allow-lookahead."""
    if failure and args.params is None and not args.allow_lookahead:
        raise UsageError(f"the latest optimization winner of {args.strategy} on {args.dataset} failed the lookahead "
                         f"gate: {failure}. Paper trading it would trade a strategy that reads the future: fix it "
                         "and optimize again, give other parameters with --params, or pass --allow-lookahead to "
                         "watch its paper result fall apart")


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

    check_dataset(args.dataset)
    check_strategies([args.strategy])
    if args.speed is not None and not args.speed > 0:
        raise UsageError(f"--speed: bars per second must be > 0, got {args.speed:g}")
    if args.max_bars is not None and args.max_bars < 1:
        raise UsageError(f"--max-bars must be >= 1, got {args.max_bars}")
    paths = setup(args.verbose)
    import dagster as dg

    from lq_assets.datasets.lookup import current_frozen
    from lq_engine.live.ops import record_to_catalog, status
    from lq_engine.live.run import run_paper
    from lq_engine.live.trader import hold_state
    from lq_engine.execution.sizing import BracketSpec
    from lq_engine.strategies.registry import resolve

    portfolio = resolve(args.strategy).is_portfolio
    with dg.DagsterInstance.get() as instance:
        ds = current_frozen(instance, args.dataset, paths)
        folder = ds.folder
        if portfolio and args.symbol:
            raise UsageError(f"strategy '{args.strategy}' is a portfolio strategy: it trades the whole universe of "
                             f"{args.dataset}; drop --symbol")
        if args.symbol and args.symbol not in ds.symbols:
            raise UsageError(f"--symbol: {args.symbol} is not in dataset {args.dataset}; its symbols: "
                             f"{', '.join(ds.symbols)}")
        symbol = None if portfolio else (args.symbol or ds.symbols[0])
        where = args.dataset if portfolio else f"{args.dataset}-{symbol}"
        state = args.state_dir or paths.root / "paper" / f"{where}-{args.strategy}"
        if args.action == "status":
            st = status(state)
            print(json.dumps(st, indent=2, default=str) if args.json else status_text(st, state))
            return 0
        refuse_lookahead(args, winner_lookahead(paths, args.dataset, args.strategy))
        params, legs = choose(args, winner_of(paths, args.dataset, args.strategy))
        if portfolio:
            if legs and bracket_legs(args):
                raise UsageError(f"strategy '{args.strategy}' is a portfolio strategy: bracket flags do not apply")
            legs = {}  # protective orders are per entry of one symbol
        step(f"paper trading {args.strategy} {json.dumps(params) if params else '(default parameters)'} "
             f"brackets {json.dumps(legs) if legs else 'none'} on {args.dataset}"
             f"{'' if portfolio else '/' + symbol}; state in {state}")
        with hold_state(state):  # one run per state folder, until its record is in the catalog
            r = run_paper(state, args.strategy, params, frozen=folder, symbol=symbol, speed=args.speed,
                          max_bars=args.max_bars, brackets=BracketSpec(**legs), reset_state=args.reset_state,
                          rebuild_from_venue=args.rebuild_from_venue)
            row = record_to_catalog(paths, state)
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key="paper_trading",
            metadata={
                "run_id": r.run_id, "dataset": args.dataset, "symbol": symbol or "PORTFOLIO", "strategy": args.strategy,
                "positions": json.dumps(r.positions),
                "params": json.dumps(params or {}), "brackets": json.dumps(legs),
                "bars": r.bars_processed, "fills": len(r.fills),
                "position": float(r.position), "cash": round(float(r.cash), 2), "equity": round(float(r.equity), 2),
                "resumed_from_bar": -1 if r.recovery.restored_bar is None else int(r.recovery.restored_bar),
                "resent_intents": len(r.recovery.resent), "state_dir": dg.MetadataValue.path(str(state)),
                "replay_check": r.replay_check.message() if r.replay_check else "not checked (no history)",
                "diverged_at_bar": -1 if r.replay_check is None or r.replay_check.bar is None else r.replay_check.bar,
            },
        ))
    start = status(state).get("initial_cash") or 0.0
    step(f"done: {r.bars_processed:,} bars, {len(r.fills):,} fills, equity {r.equity:,.2f}{_return(r.equity, start)} "
         f"(recorded as paper run {row.get('run_id', r.run_id)} in the catalog)")
    if r.replay_check is not None:
        step(replay_check_line(r.replay_check))
    return 0


def replay_check_line(check) -> str:
    """The paper run's decisions against the replay's: a WARNING line when they diverge (lookahead).

    A warning, not a failed command: the paper run itself is sound (each bar was decided from the bars
    up to it, as live), its state is valid and resumable; what the divergence invalidates is the
    strategy's replay and optimization figures, which the line says."""
    return ("WARNING: " if check.diverged else "") + check.message()


def _return(equity: float | None, start: float | None) -> str:
    """' (+1.23% from 100,000.00)': the return from the starting capital."""
    if not start or equity is None:
        return ""
    return f", {equity / start - 1.0:+.2%} from the starting capital of {start:,.2f}"


def status_text(st: dict, state: Path) -> str:
    """The status of a paper run as aligned lines, figures rounded (``--json`` for every field)."""
    def money(v) -> str:
        return "-" if v is None else f"{v:,.2f}"

    start = st.get("initial_cash")
    eq = st.get("equity")
    ret = "-" if not start or eq is None else f"{eq / start - 1.0:+.2%}"
    positions = ", ".join(f"{k} {v:,.4g}" for k, v in sorted((st.get("positions") or {}).items())) or "flat"
    orders = st.get("open_orders") or []
    behind = st.get("lag_bars")
    since = st.get("seconds_since_last_bar")
    rows = [
        ("paper run",
         f"{st.get('run_id') or '-'}  ({st.get('strategy')} on {st.get('symbol') or 'the whole universe'})"),
        ("parameters", json.dumps(st.get("params") or {})),
        ("bars processed", f"{st.get('bars_processed', 0):,}"
         + (f"  (last bar {st.get('last_event_time')}, {behind} behind the feed)"
            if st.get("last_bar") is not None else "")),
        ("fills", f"{st.get('fills_count', 0):,}"),
        ("starting capital", money(start)),
        ("equity", money(eq)),
        ("return", ret),
        ("cash", money(st.get("cash"))),
        ("positions", positions),
        ("open orders", ", ".join(f"{o['side']} {o['quantity']:,.4g} ({o['status']})" for o in orders) or "none"),
        ("unacknowledged", f"{st.get('outbox_unacknowledged', 0)} intent(s) in the outbox"),
        ("last update", "-" if since is None else f"{since:,.0f} s ago"),
        ("state", str(state)),
    ]
    if st.get("replay_check"):
        rows.append(("replay check", ("WARNING: " if st.get("diverged_at_bar") is not None else "")
                     + str(st["replay_check"])))
    if st.get("refused"):
        rows.append(("refused", str(st["refused"])))
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)
