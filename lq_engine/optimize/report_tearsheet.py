"""The winner's tearsheet in the report: what a trader reads first about the holdout.

- ``underwater_png``: drawdown below the running peak over the holdout;
- ``exposure_png``: the exposure held at each close (per symbol; a portfolio's gross weight);
- ``monthly_rows``: the holdout's return per calendar month, a row per year;
- ``trade_rows`` / ``trade_stats``: the round trips (``replay.round_trips``) and their figures.

The holdout equity against buy and hold is ``report_portfolio.benchmark_png``.
"""

from __future__ import annotations

import calendar
from pathlib import Path
from typing import Any

import polars as pl

from lq_engine.kernels import metrics as M
from lq_engine.optimize.charts import dates, mean_curve, pyplot, save
from lq_engine.optimize.folds import HOLDOUT
from lq_engine.optimize.report_plotly import underwater_chart
from lq_engine.replay.round_trips import trade_stats

MAX_TRADE_ROWS = 40  # the report lists the latest trips; the table winner_round_trips has all of them


def _holdout(result: Any) -> list[Any]:
    return [s for s in result.holdout.segments if s.kind == HOLDOUT]


def underwater_png(result: Any, path: str | Path, title: str = "") -> Path | None:
    segs = _holdout(result)
    if not segs:
        return None
    ts, eq = mean_curve(segs)
    dd = M.underwater(eq)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 2.8), dpi=100)
    ax.fill_between(dates(ts), dd * 100.0, 0.0, color="#c62828", alpha=0.35, lw=0)
    ax.plot(dates(ts), dd * 100.0, color="#c62828", lw=0.8)
    ax.set_ylabel("drawdown (%)")
    ax.set_title(f"{title}\nholdout: underwater (below the running peak)", fontsize=10)
    fig.autofmt_xdate()
    return save(fig, path)


def exposure_png(result: Any, path: str | Path, title: str = "") -> Path | None:
    segs = [s for s in _holdout(result) if getattr(s, "exposure", None) is not None]
    if not segs:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 2.8), dpi=100)
    for s in segs[:12]:
        ax.step(dates(s.ts), s.exposure, where="post", lw=0.9, label=s.symbol if not result.portfolio else "gross")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_ylabel("exposure")
    ax.set_title(f"{title}\nholdout: exposure held at each close"
                 + (" (sum of |weight|)" if result.portfolio else " (share of equity, short < 0)"), fontsize=10)
    ax.legend(loc="best", fontsize=8, ncol=min(6, len(segs)))
    fig.autofmt_xdate()
    return save(fig, path)


def monthly_rows(result: Any) -> list[dict[str, Any]]:
    """One row per year: the return of each month (the symbols' mean curve), and the year's."""
    segs = _holdout(result)
    if not segs:
        return []
    ts, eq = mean_curve(segs)
    by_month = M.monthly_returns(ts, eq)
    rows = []
    for year in sorted({y for y, _ in by_month}):
        row: dict[str, Any] = {"year": str(year)}
        growth = 1.0
        for m in range(1, 13):
            r = by_month.get((year, m))
            row[calendar.month_abbr[m]] = "" if r is None else f"{r:+.1%}"
            growth *= 1.0 + (r or 0.0)
        row["year total"] = f"{growth - 1.0:+.1%}"
        rows.append(row)
    return rows


def holdout_trips(result: Any) -> pl.DataFrame | None:
    trips = getattr(result.holdout, "round_trips", None)
    return trips.filter(pl.col("window") == HOLDOUT) if trips is not None else None


def trade_rows(trips: pl.DataFrame) -> list[dict[str, Any]]:
    """The latest round trips, readable: times to the minute, prices to 4 significant digits."""
    rows = []
    for t in trips.sort("entry_time", descending=True).head(MAX_TRADE_ROWS).to_dicts():
        rows.append({"symbol": t["symbol"], "side": t["side"],
                     "entry": t["entry_time"].strftime("%Y-%m-%d %H:%M"),
                     "exit": t["exit_time"].strftime("%Y-%m-%d %H:%M"),
                     "bars": t["bars"], "entry price": f"{t['entry_price']:.4g}",
                     "exit price": f"{t['exit_price']:.4g}",
                     "PnL": f"{t['pnl']:,.2f}", "return": f"{t['return']:+.2%}", "exit reason": t["exit_reason"]})
        if t.get("funding_paid") is not None:  # a perpetual: the PnL is net of it
            rows[-1]["funding paid / received"] = f"{t['funding_paid']:,.2f} / {t['funding_received']:,.2f}"
    return rows


def stats_pairs(trips: pl.DataFrame) -> list[tuple[str, str]]:
    s = trade_stats(trips)
    pct = lambda x: "n/a" if x != x else f"{x:+.2%}"  # noqa: E731
    return [("round trips", f"{s['trades']:.0f}"),
            ("win rate", "n/a" if s["win_rate"] != s["win_rate"] else f"{s['win_rate']:.0%}"),
            ("best / worst trade", f"{pct(s['best_trade'])} / {pct(s['worst_trade'])}"),
            ("average trade / win / loss",
             f"{pct(s['average_trade'])} / {pct(s['average_win'])} / {pct(s['average_loss'])}"),
            ("expectancy (mean PnL per trade)",
             "n/a" if s["expectancy"] != s["expectancy"] else f"{s['expectancy']:,.2f}"),
            ("average length",
             "n/a" if s["average_bars"] != s["average_bars"] else f"{s['average_bars']:.1f} bars"),
            *_funding_pairs(trips)]


def _funding_pairs(trips: pl.DataFrame) -> list[tuple[str, str]]:
    """A perpetual's funding over the trips: paid, received, net (in the trips' PnL already)."""
    if "funding_paid" not in trips.columns:
        return []
    paid, got = float(trips["funding_paid"].fill_null(0.0).sum()), float(trips["funding_received"].fill_null(0.0).sum())
    return [("funding paid / received / net", f"{paid:,.2f} / {got:,.2f} / {got - paid:+,.2f}")]


def tearsheet_html(result: Any, folder: Path, slug: str, label: str, table: Any, kv: Any) -> list[str]:
    """The tearsheet's HTML pieces (``table``/``kv``: the report's renderers): the drawdown is an
    interactive chart (``report_plotly``), the exposure an image."""
    out = ["<h3>Holdout tearsheet</h3>"]
    dd = underwater_chart(result, "chart-drawdown", label)
    if dd is not None:
        out.append(dd)
    png = exposure_png(result, folder / f"{slug}_exposure.png", label)
    if png is not None:
        out.append(f"<img src='{png.name}' alt='exposure'>")
    months = monthly_rows(result)
    if months:
        out.append("<h4>Monthly returns (holdout)</h4>")
        out.append(table(months))
    trips = holdout_trips(result)
    if trips is not None:
        out.append("<h4>Trades (holdout round trips)</h4>")
        out.append(kv(stats_pairs(trips)))
        if trips.height > MAX_TRADE_ROWS:
            out.append(f"<p class='note'>The latest {MAX_TRADE_ROWS} of {trips.height}; every one is in the table "
                       "<code>winner_round_trips</code> (<code>lq sql</code>).</p>")
        out.append(table(trade_rows(trips)))
    return out
