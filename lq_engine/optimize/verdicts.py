"""What a result's figures say about trusting it, in plain words.

Every place that shows an optimization result (the HTML report, the terminal leaderboard, the
Dagster metadata, the ``optimization_winners`` table) takes its verdicts and readings from here, with
the thresholds below (documented in docs/explanations/verdicts.md):

- **lookahead** when the lookahead gate (``optimize.gate``) saw a decision change when later bars
  changed, for any parameter set it checked or for the winner ("lookahead: the decision at bar N
  changed when later bars changed (params ...)"), or when the result was never gated; always listed
  first, and such a result is never clean;
- **likely overfit** when PBO >= 0.5: the configuration best in sample ranks below the median out of
  sample at least half the time (Bailey et al., CSCV over every stage-1 trial, the training dates
  cut into ``pbo_splits`` groups: ``optimize.overfit``);
- **not significant** when the deflated Sharpe ratio < 0.95: less than 95% probability that the
  winner's Sharpe (validation returns averaged per date: T = distinct dates) beats what the best of
  N tried configurations (distinct stage-1 sets) would show by luck;
- **lost money out of sample** when the holdout's total return is negative;
- **fewer than 20 trades** when the holdout has fewer round trips than that (all symbols together):
  too few to judge;
- **trails its benchmark** when the holdout's total return is ``benchmark_trail`` (10 percentage
  points) or more below the benchmark's (the universe bought and held with inverse-volatility
  weights over the same holdout, ``run.benchmark_holdout``): the optimization did worse than doing
  nothing clever; a result without a benchmark is not judged;
- **synthetic data** when the bars are generated, not market data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Thresholds:
    pbo_overfit: float = 0.5  # PBO at or above: likely overfit
    dsr_significant: float = 0.95  # DSR below: not significant
    min_trades: int = 20  # holdout round trips below: too few to judge
    # holdout total return this far (a difference of returns: 0.10 = 10 percentage points) or more
    # below the inverse-volatility buy-and-hold benchmark's: trails its benchmark
    benchmark_trail: float = 0.10


THRESHOLDS = Thresholds()
THRESHOLDS_TEXT = ("lookahead (first) when the lookahead gate saw a decision change when later bars changed; "
                   f"likely overfit when PBO >= {THRESHOLDS.pbo_overfit:g}; not significant when DSR < "
                   f"{THRESHOLDS.dsr_significant:g}; lost money when the holdout return is negative; fewer than "
                   f"{THRESHOLDS.min_trades} holdout round trips is too few to judge; trails its benchmark when "
                   f"the holdout return is {THRESHOLDS.benchmark_trail * 100:g} percentage points or more below the "
                   "inverse-volatility buy-and-hold benchmark's")


@dataclass(frozen=True)
class Verdict:
    key: str  # lookahead | overfit | not_significant | lost_money | few_trades | trails_benchmark | synthetic
    text: str


def _num(summary: Mapping[str, Any], key: str) -> float:
    v = summary.get(key)
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def verdicts(summary: Mapping[str, Any], t: Thresholds = THRESHOLDS) -> list[Verdict]:
    """The warnings a result's summary (``OptimizeResult.summary()``, a row of optimization_winners)
    earns; a figure that could not be computed (NaN) earns none."""
    out = []
    look = summary.get("lookahead")
    if isinstance(look, str) and look:
        out.append(Verdict("lookahead", look))
    pbo, dsr = _num(summary, "pbo"), _num(summary, "dsr")
    ret, trades = _num(summary, "holdout_mean_total_return"), _num(summary, "holdout_trades")
    if pbo >= t.pbo_overfit:
        out.append(Verdict("overfit", f"likely overfit (PBO {pbo:.2f} >= {t.pbo_overfit:g})"))
    if dsr < t.dsr_significant:
        out.append(Verdict("not_significant", f"not significant (DSR {dsr:.2f} < {t.dsr_significant:g})"))
    if ret < 0:
        out.append(Verdict("lost_money", f"lost money out of sample (holdout return {ret:+.1%})"))
    if trades < t.min_trades:
        out.append(Verdict("few_trades", f"fewer than {t.min_trades} trades (holdout: {trades:.0f})"))
    gap = benchmark_gap(summary)
    if gap <= -t.benchmark_trail:
        bench = _num(summary, "benchmark_holdout_total_return")
        out.append(Verdict("trails_benchmark", f"trails its benchmark by {-gap * 100:.1f} points (holdout return "
                                               f"{ret:+.1%}, buy and hold {bench:+.1%})"))
    if summary.get("synthetic"):
        out.append(Verdict("synthetic", "synthetic data"))
    return out


def benchmark_gap(summary: Mapping[str, Any]) -> float:
    """Holdout total return minus the benchmark's (a difference of returns; NaN without a benchmark)."""
    return _num(summary, "holdout_mean_total_return") - _num(summary, "benchmark_holdout_total_return")


# How a result stands, for ordering the leaderboard: a clean winner first, then one with warnings,
# then one that cannot be judged at all (no holdout trade, or a lookahead verdict: its figures are
# what a cheat would claim).
CLEAN, FLAGGED, UNUSABLE = 0, 1, 2
STANDING_NAMES = {CLEAN: "clean", FLAGGED: "flagged", UNUSABLE: "no trades or lookahead"}


def standing(summary: Mapping[str, Any], t: Thresholds = THRESHOLDS) -> int:
    """``CLEAN`` (no warning but "synthetic data"), ``FLAGGED`` or ``UNUSABLE`` (a lookahead verdict,
    or no round trip in the holdout)."""
    keys = {v.key for v in verdicts(summary, t)} - {"synthetic"}
    if "lookahead" in keys or not _num(summary, "holdout_trades") > 0:
        return UNUSABLE
    return FLAGGED if keys else CLEAN


def verdict_line(summary: Mapping[str, Any], t: Thresholds = THRESHOLDS) -> str:
    """The verdicts as one line; "no warning" when there is none."""
    v = verdicts(summary, t)
    return "; ".join(x.text for x in v) if v else "no warning"


def readings(summary: Mapping[str, Any], t: Thresholds = THRESHOLDS) -> list[tuple[str, str]]:
    """(figure, a one-line plain-language reading of its value) for the headline figures."""
    g = lambda k: _num(summary, k)  # noqa: E731
    n = summary.get("n_trials", "N")
    out = [
        ("holdout Sharpe", f"{g('holdout_mean_sharpe'):.2f}: annualized return per unit of volatility on the holdout, "
                           "data that selection never saw (scored once)"),
        ("holdout return", f"{g('holdout_mean_total_return'):+.1%}: total return over the holdout "
                           "(the mean over symbols for a single-symbol strategy)"),
        ("DSR", f"{g('dsr'):.2f}: probability that the winner's Sharpe (its validation returns averaged per date) "
                f"is real rather than the luck of the best of {n} distinct configurations tried; "
                f"{t.dsr_significant:g} or more to call it significant"),
        ("PBO", f"{g('pbo'):.2f}: share of splits of the training dates into halves where the configuration best on "
                f"one half ranks at or below the median of all {n} configurations on the other; "
                f"{t.pbo_overfit:g} or more means likely overfit"),
        ("trades", f"{g('holdout_trades'):.0f} round trips in the holdout; "
                   f"fewer than {t.min_trades} is too few to judge"),
        ("stage-1 fidelity", f"Spearman {g('spearman_validation'):.2f}: how well the fast prefilter's ranking "
                             "predicted the full replay's (1 = the same order)"),
    ]
    look = summary.get("lookahead")
    if isinstance(look, str):
        out.insert(0, ("lookahead gate", look or (
            f"clean: no decision of the {g('lookahead_sets'):.0f} parameter sets checked (every Choice and Bool "
            "value, the range extremes, the longest warm-up, a sample, the winner) changed when later bars were "
            f"cut or changed ({g('lookahead_seconds'):.2f} s)")))
    b = g("benchmark_holdout_total_return")
    if b == b:
        diff = g("holdout_mean_total_return") - b
        out.append(("benchmark", f"inverse-volatility buy and hold returned {b:+.1%} over the holdout: the winner did "
                                 f"{'better' if diff > 0 else 'worse'} by {abs(diff):.1%}"))
    return out
