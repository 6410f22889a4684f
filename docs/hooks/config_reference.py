"""MkDocs hook (mkdocs.yml `hooks:`): fills the `<!-- config-keys -->` marker of
reference/configuration.md with the keys of luminaquant.toml, read from the code that checks them
(lq_engine.settings, OptimizeConfig, ExecutionConfig, Costs, the bracket legs, the fetch sources).

Descriptions come from the run help of each OptimizeConfig field, else its source comment, else the
table below. A key with no description fails the build, so a new key cannot go undocumented.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

from mkdocs.structure.pages import Page

MARKER = "<!-- config-keys -->"

DESCRIBED = {
    "project.strategies": "the folder of the project's strategy files (default `strategies/`)",
    "project.shipped_strategies": "which shipped strategies the project uses (a list of names; left out: all)",
    "universes.symbols": "tickers or glob patterns matched against the symbols in the lake (`SYN*`)",
    "universes.timeframe": "the bar timeframe (`1m`, `1h`, `1d`, ...)",
    "universes.calendar": "`24/7` or `equities`: sets annualization (525,600 one-minute bars or 252 days a year)",
    "universes.start": "first UTC day, inclusive, `\"YYYY-MM-DD\"` (left out: everything in the lake)",
    "universes.end": "last UTC day, inclusive, `\"YYYY-MM-DD\"`, not before `start`",
    "universes.description": "shown in the UI and the report",
    "fetch.exchange": "a ccxt exchange id (`binance`, `binanceusdm`, `bybit`, ...): [Fetch](../how-to/fetch.md)",
    "fetch.symbols": "the exchange's symbols (`BTC/USDT`, `BTC/USDT:USDT`) or market ids (`BTCUSDT`)",
    "fetch.timeframes": "bar timeframes to fetch (`[\"1h\"]`); may be empty with `funding = true`",
    "fetch.funding": "also the funding-rate history (perpetual swaps); default false",
    "fetch.since": "first UTC day, `\"YYYY-MM-DD\"`, of a market with nothing in the lake yet",
    "fetch.suffix": "appended to the market id to name the symbol in the lake (`-PERP`); default none",
    "fetch.min_interval": "seconds between two requests, at least, besides the exchange's rate limit; default 0",
    "fetch.api_url": "send the requests to this base URL instead of the exchange's hosts (a mirror or proxy)",
    "optimize.validation_bars": "explicit validation window length in bars (with `train_bars`)",
    "optimize.pbo_splits": "S, the number of time groups of the PBO's CSCV ([Verdicts](../explanations/verdicts.md))",
    "optimize.pbo_max_periods": "most periods the PBO's return series is binned to",
    "optimize.backend": "stage-1 backend: `auto` (the one `backend_benchmark` chose) or a backend name",
    "optimize.execution": "the table `[optimize.execution]` below",
    "optimize.costs": "the table `[optimize.costs]` below (left out: derived from `execution`)",
    "optimize.initial_cash": "starting capital of every replay",
    "optimize.brackets": "the table `[optimize.brackets]` below (left out: no protective orders)",
    "optimize.instrument": "`spot`, or `perpetual`: every symbol is a perpetual future and both stages book its "
                           "funding from the frozen dataset ([perpetual futures](../how-to/perpetuals.md))",
    "execution.fee_taker": "fee rate of market orders, stops, trailing stops and carried remainders",
    "execution.fee_maker": "fee rate of take-profit fills (resting limit orders)",
    "execution.spread_bps": "quoted spread in bps; a taker pays half of it",
    "execution.slippage_bps": "fixed slippage in bps paid by a taker",
    "execution.slippage_vol_k": "volatility slippage: k x (prev high - prev low) / prev close",
    "execution.liquidity_cap": "largest share of a bar's volume that fills in that bar, per symbol (`None`: no cap)",
    "execution.cost_basis": "`notional` (a real venue) or `equity` (the prefilter kernel's arithmetic)",
    "costs.fee": "stage 1's fee, a fraction of the notional traded",
    "costs.slippage": "stage 1's slippage, a fraction of the notional traded",
    "brackets.stop_loss": "stop-loss distance, a fraction of the entry price in (0, 1)",
    "brackets.take_profit": "take-profit distance, a fraction of the entry price in (0, 1)",
    "brackets.trailing": "trailing-stop distance, a fraction of the entry price in (0, 1)",
}


def _comments(cls: type) -> dict[str, str]:
    """`name: type = ...  # comment` of a dataclass body: the field's trailing comment."""
    out = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        v: Any = f.default
        if dataclasses.is_dataclass(v):
            return "see below"
        return f"`{v!r}`" if v is not None else "`None`"
    return "see below"


def _table(title: str, prefix: str, cls: type | None, keys: tuple[str, ...] = ()) -> str:
    rows = []
    if cls is not None:
        comments = _comments(cls)
        for f in dataclasses.fields(cls):
            run = f.metadata.get("run") if f.metadata else None
            text = DESCRIBED.get(f"{prefix}.{f.name}") or (run["help"] if run else None) or comments.get(f.name)
            if not text:
                raise RuntimeError(f"luminaquant.toml key {prefix}.{f.name} has no description: add one to "
                                   f"docs/hooks/config_reference.py or a comment on the field")
            flag = f" (`lq optimize {run['flag']}`)" if run else ""
            rows.append(f"| `{f.name}` | {_default(f)} | {text}{flag} |")
    for k in keys:
        if f"{prefix}.{k}" not in DESCRIBED:
            raise RuntimeError(f"luminaquant.toml key {prefix}.{k} has no description in "
                               "docs/hooks/config_reference.py")
        rows.append(f"| `{k}` | | {DESCRIBED[f'{prefix}.{k}']} |")
    return f"### `{title}`\n\n| key | default | what |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def render() -> str:
    from lq_engine.execution.config import ExecutionConfig
    from lq_engine.optimize import config
    from lq_engine.optimize.config import OptimizeConfig, bracket_legs
    from lq_engine.settings import FETCH_KEYS, PROJECT_KEYS, UNIVERSE_KEYS

    costs_cls = config.Costs  # the type of OptimizeConfig.costs, wherever it is defined
    parts = [
        _table("[project]", "project", None, PROJECT_KEYS),
        _table("[universes.NAME]", "universes", None, UNIVERSE_KEYS),
        _table("[optimize]", "optimize", OptimizeConfig),
        _table("[optimize.execution]", "execution", ExecutionConfig),
        _table("[optimize.costs]", "costs", costs_cls),
        _table("[optimize.brackets]", "brackets", None, bracket_legs()),
        _table("[fetch.NAME]", "fetch", None, FETCH_KEYS),
    ]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Page, **_: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown
