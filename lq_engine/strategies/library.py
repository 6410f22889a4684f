"""The shipped strategies, each declared once: schema, default grid, and compile-to-rule-program.

``compile(bank, p)`` returns the integer and float program rows (see ``rules``) for one validated
parameter set, registering the indicator rows it needs in the shared bank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from lq_engine.strategies.bank import IndicatorBank
from lq_engine.strategies.params import SIDES, Constraint, Param, StrategySchema, explicit_grid
from lq_engine.strategies.rules import CLOSE_ROW, N_FLOAT, N_INT, NEVER, ZERO_ROW

Program = tuple[list[int], list[float]]


@dataclass(frozen=True)
class Strategy:
    schema: StrategySchema
    description: str
    compile: Callable[[IndicatorBank, Mapping[str, Any]], Program]

    @property
    def name(self) -> str:
        return self.schema.name

    def default_params(self) -> dict[str, Any]:
        """The first set of the default grid: what a run without parameters uses."""
        return explicit_grid(self.schema, self.schema.default_grid)[0]

    def validated(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """``params`` validated, or the default set when None."""
        return self.schema.validate(dict(params)) if params is not None else self.default_params()


def _program(side: str, long_in, long_out, short_in, short_out, stop_row=-1, stop_k=0.0) -> Program:
    """Each condition is (a, b, t) meaning bank[a] - bank[b] > t."""
    off = (ZERO_ROW, ZERO_ROW, NEVER)
    if side == "short":
        long_in = long_out = off
    if side == "long":
        short_in = short_out = off
    conds = (long_in, long_out, short_in, short_out)
    ip = [c[i] for c in conds for i in (0, 1)] + [stop_row]
    fp = [float(c[2]) for c in conds] + [float(stop_k)]
    assert len(ip) == N_INT and len(fp) == N_FLOAT
    return ip, fp


_SIDE = Param("side", "choice", choices=SIDES, default="long")


def _ma_cross(bank: IndicatorBank, p: Mapping[str, Any]) -> Program:
    f, s = bank.row("sma", p["fast"]), bank.row("sma", p["slow"])
    above, below = (f, s, 0.0), (s, f, 0.0)  # fast - slow > 0 ; fast - slow < 0
    return _program(p["side"], above, below, below, above)


def _rsi(bank: IndicatorBank, p: Mapping[str, Any]) -> Program:
    r = bank.row("rsi", p["period"])
    under = (ZERO_ROW, r, -p["lower"])  # rsi < lower
    over = (r, ZERO_ROW, p["upper"])  # rsi > upper
    return _program(p["side"], under, over, over, under)


def _bollinger(bank: IndicatorBank, p: Mapping[str, Any]) -> Program:
    z = bank.row("zscore", p["window"])
    return _program(
        p["side"],
        (ZERO_ROW, z, p["entry_z"]),  # z < -entry
        (z, ZERO_ROW, -p["exit_z"]),  # z > -exit
        (z, ZERO_ROW, p["entry_z"]),  # z > entry
        (ZERO_ROW, z, -p["exit_z"]),  # z < exit
    )


def _donchian(bank: IndicatorBank, p: Mapping[str, Any]) -> Program:
    hh, ll = bank.row("prev_high", p["window"]), bank.row("prev_low", p["window"])
    xhh, xll = bank.row("prev_high", p["exit_window"]), bank.row("prev_low", p["exit_window"])
    a = bank.row("atr", p["atr_window"])
    return _program(
        p["side"],
        (CLOSE_ROW, hh, 0.0),  # close breaks above the previous highest high
        (xll, CLOSE_ROW, 0.0),  # close below the previous lowest low of the exit channel
        (ll, CLOSE_ROW, 0.0),  # close breaks below the previous lowest low
        (CLOSE_ROW, xhh, 0.0),  # close above the previous highest high of the exit channel
        stop_row=a,
        stop_k=p["atr_k"],
    )


MA_CROSS = Strategy(
    StrategySchema(
        "ma_cross",
        (Param("fast", "int", 1, 100_000), Param("slow", "int", 2, 100_000), _SIDE),
        (Constraint("fast < slow", lambda p: p["fast"] < p["slow"]),),
        {"fast": range(5, 51, 2), "slow": range(20, 201, 4), "side": ("long",)},
    ),
    "Long when the fast SMA is above the slow SMA, short when below (per `side`).",
    _ma_cross,
)

RSI = Strategy(
    StrategySchema(
        "rsi",
        (Param("period", "int", 2, 100_000), Param("lower", "float", 0.0, 100.0),
         Param("upper", "float", 0.0, 100.0), _SIDE),
        (Constraint("lower < upper", lambda p: p["lower"] < p["upper"]),),
        {"period": range(5, 51, 5), "lower": range(10, 40, 3), "upper": range(60, 90, 3), "side": ("long",)},
    ),
    "Wilder RSI mean reversion: long below `lower` until above `upper`; short mirrors it.",
    _rsi,
)

BOLLINGER = Strategy(
    StrategySchema(
        "bollinger",
        (Param("window", "int", 2, 100_000), Param("entry_z", "float", 0.0, 100.0),
         Param("exit_z", "float", -100.0, 100.0), _SIDE),
        (Constraint("exit_z < entry_z", lambda p: p["exit_z"] < p["entry_z"]),),
        {"window": range(10, 61, 10), "entry_z": (1.5, 2.0, 2.5, 3.0), "exit_z": (0.0, 0.5, 1.0), "side": ("long",)},
    ),
    "Bollinger z-score mean reversion: long when z < -entry_z until z > -exit_z; short mirrors it.",
    _bollinger,
)

DONCHIAN = Strategy(
    StrategySchema(
        "donchian_atr",
        (Param("window", "int", 1, 100_000), Param("exit_window", "int", 1, 100_000),
         Param("atr_window", "int", 1, 100_000), Param("atr_k", "float", 0.0, 1_000.0), _SIDE),
        (Constraint("exit_window <= window", lambda p: p["exit_window"] <= p["window"]),),
        {"window": (20, 40, 60, 100), "exit_window": (10, 20, 40), "atr_window": (14, 28),
         "atr_k": (2.0, 3.0, 4.0), "side": ("long",)},
    ),
    "Donchian breakout (close vs previous channel), exit on the opposite exit channel or an ATR trailing stop.",
    _donchian,
)
