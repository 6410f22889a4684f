"""The optimizer report: a folder with ``index.html`` (the leaderboard, grouped by standing, each row
linking to its page), one page per dataset x strategy (``<dataset>/<strategy>.html``: a table of
contents, an anchor per section, PNG charts inline and interactive plotly charts), and one shared
``plotly.min.js`` (``report_plotly``): it opens offline and from anywhere the folder is copied.
``build_report`` rewrites only the pages whose inputs changed (``page_key``).

``heatmap_png`` and ``equity_png`` are also what the Dagster assets attach as metadata images.
Synthetic datasets are labelled SYNTHETIC in every title and heading.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import math
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lq_engine.data.paths import REPORT_INDEX
from lq_engine.optimize.folds import HOLDOUT, TRAIN, VALIDATION
from lq_engine.optimize.replay_stage import EquitySegment
from lq_engine.optimize.charts import dates, mean_curve, pyplot
from lq_engine.optimize.leaderboard import RIGHT, columns_of, leaderboard_rows
from lq_engine.optimize.report_plotly import (
    PLOTLY_JS, benchmark_chart, equity_chart, install_plotly_js, weights_chart,
)
from lq_engine.optimize.report_portfolio import contribution_rows
from lq_engine.optimize.report_tearsheet import tearsheet_html
from lq_engine.optimize.search_report import search_html
from lq_engine.optimize.verdicts import THRESHOLDS_TEXT, readings, verdicts
from lq_engine.strategies.registry import resolve

COLORS = {TRAIN: "#9e9e9e", VALIDATION: "#1f77b4", HOLDOUT: "#d62728"}
SHADES = {VALIDATION: "#dbe9f6", HOLDOUT: "#fbe0dc"}



def _label(result: Any) -> str:
    tag = " [SYNTHETIC]" if result.synthetic else ""
    return f"{result.dataset} / {result.strategy}{tag}"




def _thin(ts: np.ndarray, eq: np.ndarray, points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point (and the last) so a year of minute bars plots quickly."""
    if ts.shape[0] <= points:
        return ts, eq
    idx = np.unique(np.append(np.arange(0, ts.shape[0], ts.shape[0] // points), ts.shape[0] - 1))
    return ts[idx], eq[idx]


def equity_png(segments: Sequence[EquitySegment], path: str | Path, title: str = "") -> Path:
    """Winner equity per window (rebased to 1; symbols averaged equal-weight), train dashed grey,
    validation blue, holdout red; validation and holdout spans shaded."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, int], list[EquitySegment]] = {}
    for s in segments:
        groups.setdefault((s.kind, s.fold), []).append(s)
    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=100)
    seen = set()
    order = {TRAIN: 0, VALIDATION: 1, HOLDOUT: 2}
    for (kind, fold), segs in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 3), kv[0][1])):
        ts, eq = _thin(*mean_curve(segs))
        x = dates(ts)
        if kind in SHADES:
            ax.axvspan(x[0], x[-1], color=SHADES[kind], alpha=0.6, lw=0)
        label = None if kind in seen else kind
        seen.add(kind)
        ax.plot(x, eq, color=COLORS.get(kind, "k"), lw=1.6 if kind != TRAIN else 0.9,
                ls="--" if kind == TRAIN else "-", label=label)
    ax.axhline(1.0, color="k", lw=0.5)
    n_sym = len({s.symbol for s in segments})
    ax.set_title(f"{title}\nwinner equity per window, rebased to 1 (mean of {n_sym} symbol(s))", fontsize=10)
    ax.set_ylabel("equity")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _axes_for(result: Any) -> list[str]:
    """Parameters that vary across the grid, in schema order."""
    names = result.param_names
    ps = result.stage1.params
    return [n for n in names if len({json.dumps(p[n]) for p in ps}) > 1 and not isinstance(ps[0][n], str)]


def heatmap_png(result: Any, path: str | Path) -> Path | None:
    """Stage-1 objective over the first two varying parameters (others fixed at the winner's
    values); the winner is starred. None when fewer than two parameters vary."""
    axes = _axes_for(result)
    search = getattr(result.stage1, "search", None)
    if len(axes) < 2 or (search is not None and search.sampler):  # a sampler's sets are no grid: see the contour
        return None
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    xa, ya = axes[0], axes[1]
    win = result.winner.params
    fixed = {k: v for k, v in win.items() if k not in (xa, ya)}
    pts = [(p[xa], p[ya], result.stage1.objective[i]) for i, p in enumerate(result.stage1.params)
           if all(p[k] == v for k, v in fixed.items())]
    xs, ys = sorted({p[0] for p in pts}), sorted({p[1] for p in pts})
    grid = np.full((len(ys), len(xs)), np.nan)
    for x, y, v in pts:
        grid[ys.index(y), xs.index(x)] = v
    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    finite = grid[np.isfinite(grid)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
    fig.colorbar(im, ax=ax, label="stage-1 objective (mean window score)")

    def ticks(vals):
        step = max(1, math.ceil(len(vals) / 12))
        idx = list(range(0, len(vals), step))
        return idx, [f"{vals[i]:g}" for i in idx]

    ax.set_xticks(*ticks(xs))
    ax.set_yticks(*ticks(ys))
    ax.set_xlabel(xa)
    ax.set_ylabel(ya)
    if win[xa] in xs and win[ya] in ys:
        ax.plot(xs.index(win[xa]), ys.index(win[ya]), marker="*", color="red", ms=16, mec="white")
    extra = (", " + ", ".join(f"{k}={v}" for k, v in fixed.items())) if fixed else ""
    ax.set_title(f"{_label(result)}\nstage-1 objective, {xa} x {ya}{extra}; star = winner", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- HTML

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
.wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;
text-align:right;max-width:28em;overflow-wrap:break-word}th{background:#f2f2f2;white-space:nowrap}td.l,th.l{text-align:left}
.syn{background:#c62828;color:#fff;padding:2px 8px;border-radius:4px;font-size:.8em}.note{color:#555;font-size:13px}
h2{border-top:2px solid #333;padding-top:.6em}img{max-width:100%;border:1px solid #ddd;margin:.3em 0}
.verdict{padding:.5em .8em;border-radius:4px;margin:.6em 0;font-weight:600}.warn{background:#fdecea;color:#8a1c1c}
.ok{background:#e8f5e9;color:#1b5e20}td.r{text-align:right}.nav{margin:0 0 .4em}.toc{font-size:13px;
line-height:1.8;background:#f7f7f7;padding:.4em .8em;border-radius:4px}a.anchor{color:#bbb;text-decoration:none;
font-size:.8em}tr.clean td:first-child{border-left:4px solid #2e7d32}tr.flagged td:first-child{border-left:4px solid
#f9a825}tr.no td:first-child{border-left:4px solid #9e9e9e}.chart{width:100%;margin:.3em 0}"""


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={val}" for k, val in v.items())
    return str(v)


def _table(rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "<p class='note'>(none)</p>"
    cols = list(columns or rows[0].keys())
    head = "".join(f"<th class='l'>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cls = " class='l'" if isinstance(v, str) else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='wrap'><table><tr>{head}</tr>{''.join(body)}</table></div>"


def _kv(pairs: Sequence[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th class='l'>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
                               for k, v in pairs) + "</table>"


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _section(r: Any, folder: Path) -> str:
    slug = _slug(f"{r.dataset}_{r.strategy}")
    hm = heatmap_png(r, folder / f"{slug}_heatmap.png")
    syn = " <span class='syn'>SYNTHETIC</span>" if r.synthetic else ""
    o, f, w = r.overfitting, r.fidelity, r.winner
    out = [f"<h1>{html.escape(r.dataset)} / {html.escape(r.strategy)}{syn}</h1>"]
    if r.synthetic:
        out.append("<p class='note'><b>SYNTHETIC data</b>: generated bars, not market data.</p>")
    out.append(f"<p class='note'>dataset hash {html.escape(r.dataset_hash[:16])}, "
               f"timeframe {html.escape(r.timeframe)}, "
               f"calendar {html.escape(r.calendar)} ({r.periods_per_year:g} bars/year), "
               f"{r.stage1.n_sets} parameter sets, backend {html.escape(r.stage1.backend)}</p>")
    out.append(verdict_html(r.summary()))
    out.append(lookahead_html(r))
    out.append("<h3>Winner</h3>")
    out.append(_kv([("parameters", w.params), ("grid index", w.set_index), ("stage-1 rank", w.stage1_rank),
                    ("stage-1 objective", w.stage1_objective),
                    ("validation objective (median - penalty x MAD)", w.validation_objective),
                    ("validation median Sharpe", w.validation_median_sharpe)]))
    out.append("<h3>Out-of-sample holdout (scored once)</h3>")
    hold_cols = ["symbol", "start_ts", "end_ts", "n_bars", "total_return", "cagr", "sharpe", "sortino",
                 "max_drawdown", "trade_count", "win_rate", "exposure", "fills"]
    rows = r.holdout.table.select(hold_cols).to_dicts() if r.holdout.table.height else []
    for row in rows:
        row["start_ts"], row["end_ts"] = _day(row["start_ts"]), _day(row["end_ts"])
    out.append(_table(rows))
    out.append(_kv(list(r.holdout_summary.items())))
    out.append("<h3>Reading this result</h3>")
    out.append(_kv(readings(r.summary())))
    out.append("<h3>Overfitting</h3>")
    out.append(_kv([("deflated Sharpe ratio (validation returns averaged per date)", o.dsr),
                    ("winner per-period Sharpe / SR0 (expected max of N null trials)", f"{o.sharpe:.4g} / {o.sr0:.4g}"),
                    ("T observations (distinct dates; symbol returns before averaging)", f"{o.n_obs} ({o.n_returns})"),
                    ("N trials (distinct stage-1 configurations)", f"{o.n_trials} (stage-2 replays not recounted: "
                                                                   f"{o.n_stage2})"),
                    ("variance of stage-1 trial Sharpes (per period)", o.trial_sr_variance),
                    ("PBO (CSCV over every stage-1 trial)", o.pbo),
                    ("PBO input", f"{o.pbo_candidates} trials x {o.pbo_splits} time groups of the training span "
                                  f"({o.pbo_periods} returns per trial, symbols and windows pooled per group)"),
                    ("selection stability (CSCV among the top-k candidates only; not a verdict)",
                     getattr(o, "selection_stability", float("nan")))]))
    out.append("<h3>Fidelity audit (stage 1 vs stage 2)</h3>")
    out.append(_kv([("Spearman: stage-1 objective vs replay (train windows)", f.spearman_train),
                    ("Spearman: stage-1 objective vs replay validation objective", f.spearman_validation),
                    (f"top-{f.k} recall", f.top_k_recall),
                    ("audited configurations", f"{f.n_audited} ({f.k} top k + {f.n_outside_top_k} sampled outside)")]))
    if r.config.brackets.any:
        out.append("<p class='note'>" + html.escape(
            f"Stage 2 replays with brackets ({_brackets_long(r.config.brackets)}); stage 1 ranks without them, "
            "so these figures include the gap the brackets make.") + "</p>")
    out.append("<h3>Equity</h3>")
    out.append(equity_chart(r.selection_detail.segments + r.holdout.segments, "chart-equity", _label(r)))
    out += _benchmark_and_portfolio(r, folder, slug)
    out += tearsheet_html(r, folder, slug, _label(r), _table, _kv)
    if hm is not None:
        out.append("<h3>Parameter heatmap</h3>")
        out.append(f"<img src='{html.escape(hm.name)}' alt='parameter heatmap'>")
    out.append(search_section(r, folder, slug))
    out.append("<h3>Leaderboard (stage 2 replays)</h3>")
    cand = r.candidates.sort(["role", "stage2_rank", "stage1_rank"], descending=[True, False, False])
    out.append(_table(cand.to_dicts(), ["role", "stage2_rank", "stage1_rank", "params", "stage1_objective",
                                        "stage2_train_objective", "stage2_validation_objective",
                                        "validation_median_sharpe"]))
    out.append("<h3>Stage 1 (top 15 of the grid)</h3>")
    rk = r.stage1.rankings.head(15)
    out.append(_table(rk.to_dicts(), ["rank", "params", "objective", "mean_sharpe", "mean_trades", "n_windows"]))
    out.append("<h3>Folds</h3>")
    fold_rows = [{"window": k, "first bar": _day(a), "last bar": _day(b)} for k, (a, b) in r.clock_bounds.items()]
    out.append(_table(fold_rows))
    c = r.config
    out.append("<h3>Settings</h3>")
    out.append(_kv([("brackets (stage 2: top k, audit, winner, holdout)", _brackets_long(c.brackets)),
                    ("stage 1 (prefilter)", "ranks without brackets: its kernel cannot model them"
                     + ("; the fidelity audit measures that gap" if c.brackets.any else ""))]))
    out.append("<p class='note'>" + html.escape(
        f"folds: {c.fold_mode}, {c.n_folds} folds, gap {c.gap_bars} bars, holdout {c.holdout_fraction:g}; "
        f"top k {f.k} (ratio {c.top_k_ratio:g}, min {c.top_k_min}, max {c.top_k_max}); seed {c.seed}; "
        f"stage timings (s): " + ", ".join(f"{k}={v:.2f}" for k, v in r.timings.items())) + "</p>")
    return "\n".join(out)


def search_section(r: Any, folder: Path, slug: str) -> str:
    """Search settings, counts, trace, importances and contour (``search_report``)."""
    try:
        schema = resolve(r.strategy).schema
    except (LookupError, ValueError):  # the strategy is gone: the section needs its declarations
        return "<h3>Search</h3><p class='note'>(strategy no longer available)</p>"
    return search_html(r.stage1, schema, folder, slug, _label(r), _kv)


def _benchmark_and_portfolio(r: Any, folder: Path, slug: str) -> list[str]:
    """The benchmark beside the winner (every result), and a portfolio winner's weights and contributions."""
    out = []
    if r.benchmark is not None:
        bm = benchmark_chart(r, "chart-benchmark", _label(r))
        out.append("<h3>Benchmark: inverse-volatility buy and hold (holdout)</h3>")
        h = r.holdout_summary
        out.append(_kv([("winner holdout Sharpe / total return", f"{_fmt(h.get('mean_sharpe', float('nan')))} / "
                         f"{_fmt(h.get('mean_total_return', float('nan')))}"),
                        ("benchmark holdout Sharpe / total return", f"{_fmt(r.benchmark.metrics['sharpe'])} / "
                         f"{_fmt(r.benchmark.metrics['total_return'])}"),
                        ("benchmark", f"{r.benchmark.name} {r.benchmark.params}: the universe's symbols, weights "
                                      "1 / volatility, bought and held")]))
        if bm is not None:
            out.append(bm)
    if r.portfolio:
        wp = weights_chart(r, "chart-weights", _label(r))
        out.append("<h3>Portfolio: weights and contributions</h3>")
        if wp is not None:
            out.append(wp)
        out.append("<p class='note'>Contribution: each symbol's PnL net of its fees as a share of the starting "
                   "cash (the symbols add up to the window's return); turnover: the sum of |change of weight|.</p>")
        out.append(_table(contribution_rows(r)))
    return out


def _brackets_long(b: Any) -> str:
    """Each leg with its percentage, for the report's prose."""
    legs = [f"{label} {v:.4g} ({v * 100:.4g}% of the entry price)"
            for label, v in (("stop-loss", b.stop_loss), ("take-profit", b.take_profit), ("trailing stop", b.trailing))
            if v is not None]
    return "; ".join(legs) if legs else "none"


def _embed_images(doc: str, images: Path) -> str:
    """Every ``<img src='NAME'>`` of a chart drawn into ``images`` as an inline data URI: the report
    is one self-contained file."""
    def inline(m: re.Match) -> str:
        p = images / html.unescape(m.group(1))
        if not p.is_file():
            return m.group(0)
        return "<img src='data:image/png;base64," + base64.b64encode(p.read_bytes()).decode() + "'"

    return re.sub(r"<img src='([^':]+)'", inline, doc)


def verdict_html(summary: dict[str, Any]) -> str:
    v = verdicts(summary)
    if not v:
        return "<p class='verdict ok'>No warning: no lookahead found, not overfit by PBO, significant by DSR, " \
               "profitable on the holdout, enough trades, not trailing its benchmark.</p>"
    return "<p class='verdict warn'>" + html.escape("; ".join(x.text for x in v).capitalize()) + "</p>"


def lookahead_html(r: Any) -> str:
    """The lookahead gate of a result (``optimize.gate``): what it checked, what it cost, every failure."""
    g = getattr(r, "lookahead", None)
    out = ["<h3>Lookahead gate</h3>"]
    if g is None:
        return out[0] + "<p class='verdict warn'>Not checked: this result was made before the lookahead gate.</p>"
    total = sum(r.timings.values()) if r.timings else float("nan")
    share = f" ({g.seconds / total:.1%} of the optimization)" if total == total and total > 0 else ""
    out.append("<p class='note'>" + html.escape(
        f"Checked before stage 1 on the selection data (train and validation span, never the holdout): "
        f"{g.before.n_sets} parameter sets (every Choice and Bool value, the range extremes, the longest warm-up, "
        f"a seeded sample), truncated at several cuts and each bar field scaled or shuffled after the cut; the "
        f"winner's parameters checked again. {g.runs} decision runs, {g.seconds:.2f} s{share}.") + "</p>")
    fails = [f for s in g.scans for f in s.failures]
    if fails:
        out.append(_table([{"parameters": f.params, "symbol": f.symbol or "(panel)", "first changed bar": f.bar,
                            "cut": f.cut, "change": f.how} for f in fails]))
    return "\n".join(out)


REPORT_FORMAT = 1  # bump to rebuild every page once (a change of the code below does so by itself)
# The modules a page's HTML comes from: a change of their source is a change of every page's inputs.
PAGE_CODE = ("report.py", "report_plotly.py", "report_tearsheet.py", "report_portfolio.py", "search_report.py",
             "verdicts.py", "leaderboard.py", "charts.py")
INDEX = REPORT_INDEX
KEY_SUFFIX = ".key"  # beside each page: the content hash of the inputs it was built from


@dataclass(frozen=True)
class ReportBuild:
    """What ``build_report`` did: the index, each result's page ("dataset/strategy" -> path), and
    which pages it rewrote, kept (inputs unchanged) or removed (no such result any more)."""

    index: Path
    pages: dict[str, Path]
    rebuilt: tuple[str, ...]
    kept: tuple[str, ...]
    removed: tuple[str, ...]

    def text(self) -> str:
        """The index and every page, one after the other (for a reader that wants all of it)."""
        return "\n".join(p.read_text(encoding="utf-8") for p in (self.index, *self.pages.values()))


def report_text(folder: str | Path) -> str:
    """The text of a report folder's index and of every page in it, one after the other."""
    folder = Path(folder)
    return "\n".join(p.read_text(encoding="utf-8") for p in [folder / INDEX, *sorted(folder.glob("*/*.html"))])


def page_name(result: Any) -> str:
    """A result's page, relative to the report folder: ``<dataset>/<strategy>.html``."""
    return f"{_slug(result.dataset)}/{_slug(result.strategy)}.html"


def page_key(result: Any) -> str:
    """The content hash of what a result's page is built from: the result's headline figures, its
    timings (another run of the same optimization is another result), its settings, the dataset and
    strategy versions, and the report's code (``PAGE_CODE``, ``REPORT_FORMAT``). Equal keys, equal pages."""
    h = hashlib.sha256()
    parts = (REPORT_FORMAT, _code_hash(), result.dataset, result.strategy, result.dataset_hash, result.strategy_version,
             result.summary(), result.timings, repr(result.config), result.clock_bounds)
    h.update(json.dumps(parts, sort_keys=True, default=repr).encode())
    return h.hexdigest()


@functools.cache
def _code_hash() -> str:
    h = hashlib.sha256()
    for name in PAGE_CODE:
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()


def _write(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file (a reader never sees half a page)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _document(title: str, body: Sequence[str], scripts: str = "") -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style>{scripts}</head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _anchors(body: str) -> tuple[str, list[tuple[str, str]]]:
    """Every ``<h3>`` of a page given an id (its title, slugged); returns the page and (id, title)
    for its table of contents."""
    toc: list[tuple[str, str]] = []

    def anchor(m: re.Match) -> str:
        title = html.unescape(re.sub(r"<[^>]+>", "", m.group(1)))
        ident = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
        while ident in {i for i, _ in toc}:
            ident += "-2"
        toc.append((ident, title))
        return f"<h3 id='{ident}'>{m.group(1)} <a class='anchor' href='#{ident}'>#</a></h3>"

    return re.sub(r"<h3>(.*?)</h3>", anchor, body), toc


def page_html(result: Any, key: str = "") -> str:
    """One result's page: a link back to the index, a table of contents, and its sections (each an
    anchor); PNG charts inline, the interactive ones drawn by ``../plotly.min.js``."""
    title = _label(result)
    with tempfile.TemporaryDirectory(prefix="lq-report-") as images:
        body, toc = _anchors(_section(result, Path(images)))
        body = _embed_images(body, Path(images))
    nav = ("<p class='nav'><a href='../index.html'>&larr; all results (index)</a></p>"
           "<nav class='toc'><b>On this page:</b> "
           + " &middot; ".join(f"<a href='#{i}'>{html.escape(t)}</a>" for i, t in toc) + "</nav>")
    stamp = (f"<p class='note'>Page built {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} "
             f"(inputs {(key or page_key(result))[:12]}); verdicts: {html.escape(THRESHOLDS_TEXT)}.</p>")
    script = f"<script src='../{PLOTLY_JS}'></script>"
    return _document(f"{title}: LuminaQuant optimization", [nav, body, stamp], script)


def index_html(results: Sequence[Any], skipped: dict[str, str] | None = None) -> str:
    """The index: every result's leaderboard row, grouped by standing (clean winners, then those with
    warnings, then those that cannot be judged), each linking to its page; then what could not be
    read (``skipped``: "dataset/strategy" -> reason)."""
    syn = any(r.synthetic for r in results)
    title = "LuminaQuant optimization report" + (" (contains SYNTHETIC data)" if syn else "")
    rows = leaderboard_rows(results)
    pages = {(r.dataset + (" [SYNTHETIC]" if r.synthetic else ""), r.strategy): page_name(r) for r in results}
    cols = columns_of(rows)
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='note'>{len(results)} optimizations, one page each (dataset / strategy). Generated "
            f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. Holdout = out of sample, scored once; "
            "vs benchmark = holdout return minus that of the universe bought and held with inverse-volatility "
            f"weights. Verdicts: {html.escape(THRESHOLDS_TEXT)}.</p>",
            "<p class='note'>Objectives: window score = Sharpe - trade_penalty x max(0, 1 - trades/min_trades); "
            "stage 1 ranks by the mean window score over training windows; the winner maximizes median validation "
            "score - dispersion_penalty x scaled MAD among the top k; the holdout is scored once, after selection.</p>"]
    headings = {"clean": "Clean winners (no warning)", "flagged": "Winners with warnings",
                "no trades or lookahead": "Cannot be judged: no holdout trade, or lookahead"}
    for standing, heading in headings.items():
        group = [r for r in rows if r.get("standing") == standing]
        if not group:
            continue
        head = "".join(f"<th class='l'>{html.escape(c)}</th>" for c in cols)
        lines = []
        for r in group:
            href = pages[(r["dataset"], r["strategy"])]
            cells = []
            for c in cols:
                v = html.escape(str(r.get(c, "")))
                if c in ("dataset", "strategy"):
                    v = f"<a href='{html.escape(href)}'>{v}</a>"
                cells.append(f"<td class='{'r' if c in RIGHT else 'l'}'>{v}</td>")
            lines.append(f"<tr class='{standing.split()[0]}'>" + "".join(cells) + "</tr>")
        body.append(f"<h2 id='{standing.split()[0]}'>{html.escape(heading)} ({len(group)})</h2>")
        body.append(f"<div class='wrap'><table class='board'><tr>{head}</tr>{''.join(lines)}</table></div>")
    if skipped:
        body.append("<h2 id='unreadable'>Results that could not be read</h2>")
        body.append(_table([{"result": k, "reason": v} for k, v in sorted(skipped.items())]))
    return _document(title, body)


def build_report(results: Sequence[Any], folder: str | Path, skipped: dict[str, str] | None = None) -> ReportBuild:
    """Write the report into ``folder``: ``index.html`` (always: it is cheap), one page per result
    (``page_name``) and one ``plotly.min.js`` the pages share. A page is rewritten only when the
    content hash of its inputs (``page_key``, kept beside it in ``<page>.key``) changed; pages of
    results no longer given are removed. Works offline: nothing is loaded from the network."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    install_plotly_js(folder)
    pages: dict[str, Path] = {}
    rebuilt, kept = [], []
    for r in results:
        name = page_name(r)
        pages[f"{r.dataset}/{r.strategy}"] = folder / name
        (rebuilt if write_page(r, folder) else kept).append(name)
    removed = _remove_stale(folder, {p.relative_to(folder).as_posix() for p in pages.values()})
    index = folder / INDEX
    _write(index, index_html(results, skipped))
    return ReportBuild(index, pages, tuple(rebuilt), tuple(kept), tuple(removed))


def write_page(result: Any, folder: str | Path) -> bool:
    """``result``'s page in the report ``folder`` (``page_name``), unless the page there was built from
    the same inputs (its ``page_key``): True if it was (re)written. ``build_report`` calls it for each
    result; ``lq demo``'s workers call it as each optimization ends, and the report then keeps those."""
    path = Path(folder) / page_name(result)
    key_file = path.with_name(path.name + KEY_SUFFIX)
    key = page_key(result)
    if path.is_file() and key_file.is_file() and key_file.read_text().strip() == key:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    key_file.unlink(missing_ok=True)  # a page without its key is rebuilt next time
    _write(path, page_html(result, key))
    _write(key_file, key + "\n")
    return True


def _remove_stale(folder: Path, live: set[str]) -> list[str]:
    """Pages (and keys) of results no longer in the report, and the single-file report of older
    versions (``report.html``)."""
    removed = []
    for page in sorted(folder.glob("*/*.html")):
        name = page.relative_to(folder).as_posix()
        if name not in live:
            page.unlink()
            page.with_name(page.name + KEY_SUFFIX).unlink(missing_ok=True)
            removed.append(name)
            if not any(page.parent.iterdir()):
                page.parent.rmdir()
    (folder / "report.html").unlink(missing_ok=True)
    return removed


def write_report(results: Any, folder: str | Path) -> Path:
    """``build_report`` for one or several ``OptimizeResult``s; returns the index's path."""
    if not isinstance(results, (list, tuple)):
        results = [results]
    return build_report(results, folder).index
