"""The rule-vocabulary programs of the shipped MA cross, RSI, Bollinger and Donchian + ATR strategies.

The rule vocabulary (``kernels.rules``: one hysteresis state machine over the indicator bank) is what
the C and Rust backends and the numba rule kernel run. The shipped example files hold only their
public-API form (``decide``); their rule programs live here, in the machinery, and a
``StrategySpec`` finds its program by where its class is defined (``StrategySpec.rules``): a project
file or an installed strategy of the same name, or a subclass, has none and runs on its generated
numba kernel. tests/strategies/test_rules.py holds each program to its strategy's API decisions.

A program is ``program_of(row, p) -> (ip, fp)``: ``row(name)`` is the bank row of indicator ``name``
for the set, ``p`` the set's parameters (strings as themselves).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from lq_engine.kernels.rules import CLOSE_ROW, ZERO_ROW, program

LIBRARY = "lq_engine.strategies.library"  # (registry.LIBRARY_PACKAGE: the registry sits above this module)

RuleProgram = Callable[[Callable[[str], int], Mapping[str, Any]], tuple]


def _ma_cross(row: Callable[[str], int], p: Mapping[str, Any]) -> tuple:
    f, s = row("fast_ma"), row("slow_ma")
    above, below = (f, s, 0.0), (s, f, 0.0)  # fast - slow > 0 ; slow - fast > 0
    return program(p["side"], above, below, below, above)


def _rsi(row: Callable[[str], int], p: Mapping[str, Any]) -> tuple:
    r = row("rsi")
    under = (ZERO_ROW, r, -p["lower"])  # 0 - rsi > -lower
    over = (r, ZERO_ROW, p["upper"])  # rsi - 0 > upper
    return program(p["side"], under, over, over, under)


def _bollinger(row: Callable[[str], int], p: Mapping[str, Any]) -> tuple:
    z = row("z")
    return program(p["side"], (ZERO_ROW, z, p["entry_z"]), (z, ZERO_ROW, -p["exit_z"]),
                   (z, ZERO_ROW, p["entry_z"]), (ZERO_ROW, z, -p["exit_z"]))


def _donchian_atr(row: Callable[[str], int], p: Mapping[str, Any]) -> tuple:
    hh, ll, xhh, xll, a = row("hh"), row("ll"), row("exit_hh"), row("exit_ll"), row("atr")
    return program(p["side"], (CLOSE_ROW, hh, 0.0), (xll, CLOSE_ROW, 0.0), (ll, CLOSE_ROW, 0.0),
                   (CLOSE_ROW, xhh, 0.0), stop_row=a, stop_k=p["atr_k"])


PROGRAMS: dict[tuple[str, str], RuleProgram] = {  # (module, class) -> its rule program
    (f"{LIBRARY}.ma_cross", "MaCross"): _ma_cross,
    (f"{LIBRARY}.rsi", "Rsi"): _rsi,
    (f"{LIBRARY}.bollinger", "Bollinger"): _bollinger,
    (f"{LIBRARY}.donchian_atr", "DonchianAtr"): _donchian_atr,
}


def rule_program(module: str, cls_name: str) -> RuleProgram | None:
    """The rule program of the strategy class ``cls_name`` of ``module``, or None."""
    return PROGRAMS.get((module, cls_name))


__all__ = ["PROGRAMS", "RuleProgram", "rule_program"]
