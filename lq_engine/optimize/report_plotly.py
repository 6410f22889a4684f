"""The interactive charts of a report page: equity, winner against the benchmark, drawdown and a
portfolio's weights, drawn by plotly.js in the browser, offline.

plotly.js itself is one shared file beside the index, ``plotly.min.js`` (copied from the plotly
package, ``install_plotly_js``), which each page loads by a relative path: no CDN, no network, and a
page stays small (a copy inlined in every page would add 4-5 MB to each). The figures are written
as plain JSON (traces and layout) for ``Plotly.newPlot``; nothing of plotly's Python side runs but
finding that file. Hovering shows every line's value at a date, so equal lines (two symbols with
the same weight) stay readable; the weights also differ by dash style.

The PNG charts of the same figures (``report.equity_png``, ``report_portfolio``, ``report_tearsheet``)
are still drawn for the Dagster metadata, which cannot run scripts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lq_engine.kernels import metrics as M
from lq_engine.optimize.charts import mean_curve
from lq_engine.optimize.folds import HOLDOUT, TRAIN, VALIDATION

PLOTLY_JS = "plotly.min.js"  # the report folder's one copy of plotly.js
COLORS = {TRAIN: "#9e9e9e", VALIDATION: "#1f77b4", HOLDOUT: "#d62728"}
SHADES = {VALIDATION: "rgba(219,233,246,0.6)", HOLDOUT: "rgba(251,224,220,0.6)"}
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
MAX_POINTS = 4000  # per line: a year of minute bars still draws at once


def plotly_js_source() -> Path:
    """plotly.min.js as the plotly package ships it."""
    import plotly  # lazy: only to find the file

    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


def install_plotly_js(folder: Path) -> Path:
    """``folder/plotly.min.js``, copied when missing or not the installed package's (same size)."""
    src, dst = plotly_js_source(), folder / PLOTLY_JS
    if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
        tmp = folder / f".{PLOTLY_JS}.tmp"
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    return dst


def _thin(ts: np.ndarray, ys: np.ndarray, points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    if ts.shape[0] <= points:
        return ts, ys
    idx = np.unique(np.append(np.arange(0, ts.shape[0], ts.shape[0] // points), ts.shape[0] - 1))
    return ts[idx], ys[idx]


def _xy(ts: np.ndarray, ys: np.ndarray, digits: int = 6) -> dict[str, list]:
    """Milliseconds since the epoch (a date axis) and values rounded for a compact page."""
    ts, ys = _thin(np.asarray(ts, dtype=np.int64), np.asarray(ys, dtype=np.float64))
    vals = [None if not np.isfinite(v) else v for v in np.round(ys, digits).tolist()]
    return {"x": (ts // 1_000_000).tolist(), "y": vals}


def figure_html(div_id: str, traces: list[dict[str, Any]], layout: dict[str, Any], height: int = 360) -> str:
    """A div and the script that draws ``traces`` in it (the page loads plotly.js once)."""
    base = {"height": height, "margin": {"l": 60, "r": 20, "t": 50, "b": 40}, "hovermode": "x unified",
            "xaxis": {"type": "date"}, "legend": {"orientation": "h", "y": -0.15}}
    spec = json.dumps({"data": traces, "layout": {**base, **layout}}, allow_nan=False, separators=(",", ":"))
    spec = spec.replace("</", "<\\/")  # never closes the script element
    return (f"<div id='{div_id}' class='chart' style='height:{height}px'></div>"
            f"<script>(function(){{var f={spec};Plotly.newPlot('{div_id}',f.data,f.layout,"
            "{responsive:true,displaylogo:false});})();</script>")


def equity_chart(segments: Sequence[Any], div_id: str, title: str) -> str:
    """The winner's equity per window (rebased to 1, symbols averaged), train dashed grey, validation
    blue, holdout red, validation and holdout spans shaded: ``report.equity_png`` in the browser."""
    groups: dict[tuple[str, int], list[Any]] = {}
    for s in segments:
        groups.setdefault((s.kind, s.fold), []).append(s)
    order = {TRAIN: 0, VALIDATION: 1, HOLDOUT: 2}
    traces, shapes, seen = [], [], set()
    for (kind, fold), segs in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 3), kv[0][1])):
        ts, eq = mean_curve(segs)
        traces.append({"type": "scatter", "mode": "lines", "name": kind, "legendgroup": kind,
                       "showlegend": kind not in seen, **_xy(ts, eq),
                       "line": {"color": COLORS.get(kind, "#000"), "width": 0.9 if kind == TRAIN else 1.6,
                                "dash": "dash" if kind == TRAIN else "solid"}})
        seen.add(kind)
        if kind in SHADES:
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": int(ts[0]) // 1_000_000,
                           "x1": int(ts[-1]) // 1_000_000, "y0": 0, "y1": 1, "fillcolor": SHADES[kind],
                           "line": {"width": 0}, "layer": "below"})
    n_sym = len({s.symbol for s in segments})
    return figure_html(div_id, traces, {"title": {"text": f"{title}: winner equity per window, rebased to 1 "
                                                          f"(mean of {n_sym} symbol(s))", "font": {"size": 13}},
                                        "shapes": shapes, "yaxis": {"title": {"text": "equity"}}}, height=420)


def _holdout(result: Any) -> list[Any]:
    return [s for s in result.holdout.segments if s.kind == HOLDOUT]


def benchmark_chart(result: Any, div_id: str, title: str) -> str | None:
    """Holdout equity of the winner against the inverse-volatility buy and hold, both rebased to 1;
    None without a benchmark or a holdout."""
    b, segs = result.benchmark, _holdout(result)
    if b is None or not segs:
        return None
    ts, eq = mean_curve(segs)
    traces = [{"type": "scatter", "mode": "lines", **_xy(ts, eq), "line": {"color": COLORS[HOLDOUT], "width": 1.6},
               "name": f"winner ({'portfolio' if result.portfolio else 'mean of symbols'})"},
              {"type": "scatter", "mode": "lines", **_xy(b.ts, b.equity / b.equity[0]),
               "line": {"color": "#333333", "width": 1.2, "dash": "dash"},
               "name": "benchmark: inverse-volatility buy and hold"}]
    return figure_html(div_id, traces, {"title": {"text": f"{title}: holdout, winner vs benchmark, rebased to 1",
                                                  "font": {"size": 13}}})


def underwater_chart(result: Any, div_id: str, title: str) -> str | None:
    """The holdout's drawdown below its running peak, in percent; None without a holdout."""
    segs = _holdout(result)
    if not segs:
        return None
    ts, eq = mean_curve(segs)
    dd = M.underwater(eq) * 100.0
    traces = [{"type": "scatter", "mode": "lines", "fill": "tozeroy", "name": "drawdown (%)", **_xy(ts, dd, 4),
               "line": {"color": "#c62828", "width": 0.8}, "fillcolor": "rgba(198,40,40,0.35)"}]
    return figure_html(div_id, traces, {"title": {"text": f"{title}: holdout drawdown below the running peak",
                                                  "font": {"size": 13}},
                                        "yaxis": {"title": {"text": "drawdown (%)"}}, "showlegend": False}, height=300)


def weights_chart(result: Any, div_id: str, title: str) -> str | None:
    """A portfolio winner's weight per symbol over the holdout (steps). Each symbol has its own dash
    style and the hover lists every symbol's weight at a date, so equal weights do not hide each
    other. None for a single-symbol strategy."""
    w = result.holdout.weights
    if not result.portfolio or w is None or w.height == 0:
        return None
    end = int(result.clock_bounds[HOLDOUT][1]) if HOLDOUT in result.clock_bounds else int(w["ts"].max())
    traces = []
    for i, sym in enumerate(sorted(set(w["symbol"].to_list()))):
        part = w.filter(w["symbol"] == sym).sort("ts")
        vals = part["weight"].to_numpy()
        traces.append({"type": "scatter", "mode": "lines", "name": sym,
                       **_xy(np.append(part["ts"].to_numpy(), end), np.append(vals, vals[-1])),
                       "line": {"shape": "hv", "width": 1.6, "dash": DASHES[i % len(DASHES)]}})
    return figure_html(div_id, traces, {"title": {"text": f"{title}: holdout weight held per symbol",
                                                  "font": {"size": 13}},
                                        "yaxis": {"title": {"text": "weight (share of equity)"}}})
