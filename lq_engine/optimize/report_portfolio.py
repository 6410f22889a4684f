"""Report sections for the benchmark (every optimization) and for portfolio strategies.

- ``benchmark_png``: the winner's holdout equity beside the universe bought and held with
  inverse-volatility weights over the same span (``run.benchmark_holdout``), both rebased to 1;
- ``weights_png``: a portfolio winner's weights over time (holdout), a dash style per symbol (the
  Dagster metadata's image; the report draws it interactive: ``report_plotly.weights_chart``);
- ``contribution_rows``: each symbol's share of the portfolio's PnL per window, and the turnover.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lq_engine.optimize.folds import HOLDOUT
from lq_engine.optimize.charts import dates, mean_curve, pyplot

LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))


def benchmark_png(result: Any, path: str | Path, title: str = "") -> Path | None:
    """Holdout equity of the winner (its symbols averaged equal-weight, or the portfolio) against the
    inverse-volatility buy-and-hold benchmark; None without a holdout or a benchmark."""
    b = result.benchmark
    segs = [s for s in result.holdout.segments if s.kind == HOLDOUT]
    if b is None or not segs:
        return None
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ts, eq = mean_curve(segs)
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=100)
    ax.plot(dates(ts), eq, color="#d62728", lw=1.6,
            label=f"winner ({'portfolio' if result.portfolio else 'mean of symbols'})")
    ax.plot(dates(b.ts), b.equity / b.equity[0], color="#333333", lw=1.2, ls="--",
            label="benchmark: inverse-volatility buy and hold")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_title(f"{title}\nholdout: winner vs benchmark, rebased to 1", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def weights_png(result: Any, path: str | Path, title: str = "") -> Path | None:
    """A portfolio winner's weight per symbol over time (steps), holdout window; None otherwise."""
    w = result.holdout.weights
    if not result.portfolio or w is None or w.height == 0:
        return None
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    end = int(result.clock_bounds[HOLDOUT][1]) if HOLDOUT in result.clock_bounds else int(w["ts"].max())
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=100)
    for i, sym in enumerate(sorted(set(w["symbol"].to_list()))):
        part = w.filter(w["symbol"] == sym).sort("ts")
        ts = np.append(part["ts"].to_numpy(), end)
        vals = np.append(part["weight"].to_numpy(), part["weight"].to_numpy()[-1])
        # a dash style per symbol (and thinner lines on top): equal weights would hide each other
        ax.step(dates(ts), vals, where="post", lw=2.4 - 1.6 * i / max(1, len(set(w["symbol"].to_list())) - 1),
                ls=LINESTYLES[i % len(LINESTYLES)], label=sym)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_title(f"{title}\nholdout: weight held per symbol", fontsize=10)
    ax.set_ylabel("weight (share of equity)")
    ax.legend(loc="best", fontsize=8, ncol=min(4, len(set(w["symbol"].to_list()))))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def contribution_rows(result: Any) -> list[dict[str, Any]]:
    """Per window: each symbol's PnL as a share of the starting cash (they add up to the window's
    return) and the window's turnover."""
    rows = []
    c = result.holdout.contributions
    for detail in (result.selection_detail, result.holdout):
        c = detail.contributions
        if c is None:
            continue
        for (kind, fold), part in c.group_by(["window", "fold"], maintain_order=True):
            row: dict[str, Any] = {"window": kind if fold < 0 else f"{kind} {fold}"}
            row.update({s: v for s, v in zip(part["symbol"].to_list(), part["contribution"].to_list())})
            t = detail.table.filter((detail.table["window"] == kind) & (detail.table["fold"] == fold))
            if t.height:
                row["total return"] = float(t["total_return"][0])
                row["turnover"] = float(t["turnover"][0])
            rows.append(row)
    return rows
