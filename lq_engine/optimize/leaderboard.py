"""The leaderboard: one row per optimized (dataset, strategy), its winner's headline figures rounded
for reading and its verdicts (``verdicts``). The report, the Dagster metadata and the terminal show
these same rows, in the order of their standing (``verdicts.standing``): clean winners first, then those
with warnings, then those that cannot be judged (no holdout trade, or a lookahead verdict: their figures
are what a cheat would claim, shown for the record, never a winner to pick); best holdout Sharpe first
within each. "vs benchmark" is the holdout return minus the inverse-volatility buy-and-hold benchmark's."""

from __future__ import annotations

import math
from typing import Any, Sequence

from lq_engine.optimize.config import brackets_text
from lq_engine.optimize.verdicts import STANDING_NAMES, benchmark_gap, standing, verdict_line

COLUMNS = ("dataset", "strategy", "winner", "holdout Sharpe", "holdout return", "vs benchmark", "trades", "DSR", "PBO",
           "verdict")
RIGHT = {"holdout Sharpe", "holdout return", "vs benchmark", "trades", "DSR", "PBO"}  # numbers: right-aligned


def _f(x: Any, spec: str) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(v) else format(v, spec)


def params_text(params: dict[str, Any]) -> str:
    """``fast=10 slow=50 side=long``: floats to 4 significant digits."""
    return " ".join(f"{k}={format(v, '.4g') if isinstance(v, float) else v}" for k, v in params.items())


def leaderboard_rows(results: Sequence[Any]) -> list[dict[str, str]]:
    """Rows of ``COLUMNS`` (plus "brackets" when a result used them, and "standing": the name of
    ``verdicts.standing``, not a column), by standing, then best holdout Sharpe first."""
    rows = []
    for r in results:
        s = r.summary()
        row = {"dataset": r.dataset + (" [SYNTHETIC]" if r.synthetic else ""), "strategy": r.strategy,
               "winner": params_text(r.winner.params), "holdout Sharpe": _f(s["holdout_mean_sharpe"], ".2f"),
               "holdout return": _f(s["holdout_mean_total_return"], "+.1%"),
               "vs benchmark": _f(benchmark_gap(s), "+.1%"), "trades": _f(s["holdout_trades"], ".0f"),
               "DSR": _f(s["dsr"], ".2f"), "PBO": _f(s["pbo"], ".2f"), "verdict": verdict_line(s)}
        rank = standing(s)
        row["standing"] = STANDING_NAMES[rank]
        if r.config.brackets.any:
            row["brackets"] = brackets_text(r.config.brackets)
        sharpe = float(s["holdout_mean_sharpe"]) if s["holdout_mean_sharpe"] == s["holdout_mean_sharpe"] else -math.inf
        rows.append(((rank, -sharpe), row))
    rows.sort(key=lambda x: x[0])
    return [row for _, row in rows]


def columns_of(rows: Sequence[dict[str, str]]) -> list[str]:
    return list(COLUMNS) + (["brackets"] if any("brackets" in r for r in rows) else [])


def text_table(rows: Sequence[dict[str, str]]) -> str:
    """The rows as an aligned plain-text table (numbers right-aligned), for a terminal."""
    cols = columns_of(rows)
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    width = [max([len(c)] + [len(row[k]) for row in cells]) for k, c in enumerate(cols)]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if c in RIGHT else v.ljust(w) for v, w, c in zip(vals, width, cols)).rstrip()

    return "\n".join([line(cols), line(["-" * w for w in width]), *(line(r) for r in cells)])
