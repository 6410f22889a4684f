from __future__ import annotations

import base64
import dataclasses
import html
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from lq_engine.optimize import build_report, equity_png, heatmap_png, optimize, write_report
from lq_engine.optimize.replay_stage import EquitySegment
from lq_engine.optimize.verdicts import verdict_line, verdicts

from optimize.data import MA, small_config, small_dataset, strategy

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results():
    ds = small_dataset()
    cfg = small_config()
    return [optimize(ds, MA, cfg),
            optimize(ds, strategy("rsi", {"period": (5, 10, 15), "lower": (25,), "upper": (70,)}), cfg)]


def test_the_report_is_an_index_and_a_page_per_result_with_verdicts_and_tearsheets(results, tmp_path: Path):
    built = build_report(results, tmp_path / "rep")
    folder = tmp_path / "rep"
    assert built.index == folder / "index.html" and write_report(results, folder) == built.index
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.html")) == [
        "index.html", "syn_3x3d/ma_cross.html", "syn_3x3d/rsi.html"]  # one page per dataset x strategy
    assert (folder / "plotly.min.js").stat().st_size > 1_000_000  # plotly.js once, for every page
    text = built.text()
    for page in built.pages.values():
        doc = page.read_text()
        # offline: the only script loaded is the shared local copy; images are inline
        assert re.findall(r"<script src='([^']+)'", doc) == ["../plotly.min.js"]
        assert not re.search(r"(src|href)=['\"]https?:", doc) and not re.search(r"<img src='(?!data:)", doc)
        for src in re.findall(r"<img src='([^']+)'", doc):
            assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
        # interactive charts where people look closer: equity, winner vs benchmark, drawdown
        for chart in ("chart-equity", "chart-benchmark", "chart-drawdown"):
            assert f"<div id='{chart}' class='chart'" in doc and f"Plotly.newPlot('{chart}'" in doc, chart
        assert "alt='exposure'" in doc and "<a href='../index.html'>" in doc
        ids = re.findall(r" id='([^']+)'", doc)
        assert len(ids) == len(set(ids)), ids  # a chart drawn into the heading of the same name drew nothing
        # a table of contents whose every link is an anchor of the page
        toc = re.search(r"<nav class='toc'>(.*?)</nav>", doc).group(1)
        anchors = re.findall(r"href='#([^']+)'", toc)
        assert {"winner", "equity", "overfitting", "holdout-tearsheet", "settings"} <= set(anchors)
        assert all(f"<h3 id='{a}'>" in doc for a in anchors)
    assert "SYNTHETIC" in text and "Generated " in text and "likely overfit when PBO &gt;= 0.5" in text
    for r in results:
        assert r.strategy in text
        shown = ", ".join(f"{k}={v}" for k, v in r.winner.params.items())
        assert shown in text  # the winner's parameters
        assert html.escape(verdict_line(r.summary()).capitalize()) in text or verdict_line(r.summary()) == "no warning"
    assert "deflated Sharpe" in text and "PBO" in text and "Spearman" in text
    assert text.count("inverse-volatility buy and hold") >= 2 and all(r.benchmark is not None for r in results)
    assert text.count("Monthly returns (holdout)") == 2 and text.count("Trades (holdout round trips)") == 2
    assert "Reading this result" in text and "is real rather than the luck of the best of" in text


def _standin(strategy: str, ret: float, bench: float, trades: int, sharpe: float, pbo: float = 0.1):
    """What the index reads of a result (``leaderboard_rows``, ``page_name``), with chosen figures."""
    summary = {"holdout_mean_sharpe": sharpe, "holdout_mean_total_return": ret, "holdout_trades": trades,
               "benchmark_holdout_total_return": bench, "dsr": 0.99, "pbo": pbo, "lookahead": "", "synthetic": False}
    return SimpleNamespace(dataset="us_stocks_daily", strategy=strategy, synthetic=False,
                           winner=SimpleNamespace(params={"n": 1}), config=SimpleNamespace(brackets=SimpleNamespace(
                               any=False)), summary=lambda: summary)


def test_the_index_puts_clean_winners_first_and_says_when_a_winner_trails_its_benchmark():
    """The report read in alphabetical order with no verdict for a winner 35 points behind buy and
    hold (issue 21, finding 5): the index groups clean, flagged, then no-trade results, and the
    trailing winner carries the verdict in every leaderboard (the index, the terminal)."""
    from lq_engine.optimize.leaderboard import leaderboard_rows, text_table
    from lq_engine.optimize.report import index_html, page_name

    results = [_standin("aaa_no_trades", 0.0, 0.05, 0, float("nan")),
               _standin("bbb_trails", 0.05, 0.40, 60, 2.5),  # best Sharpe, but 35 points behind buy and hold
               _standin("ccc_overfit", 0.10, 0.05, 60, 1.0, pbo=0.8),
               _standin("ddd_clean", 0.12, 0.05, 60, 0.8)]
    doc = index_html(results)
    order = [m for m in re.findall(r"<a href='us_stocks_daily/(\w+)\.html'>", doc)][::2]  # dataset and strategy
    assert order == ["ddd_clean", "bbb_trails", "ccc_overfit", "aaa_no_trades"], order
    assert doc.index("Clean winners") < doc.index("Winners with warnings") < doc.index("Cannot be judged")
    assert "trails its benchmark by 35.0 points (holdout return +5.0%, buy and hold +40.0%)" in doc
    rows = leaderboard_rows(results)
    assert [r["strategy"] for r in rows] == order and rows[1]["vs benchmark"] == "-35.0%"
    assert "trails its benchmark by 35.0 points" in text_table(rows)  # `lq optimize` / `lq demo` print this
    assert all(page_name(r) == f"us_stocks_daily/{r.strategy}.html" for r in results)


def test_a_winner_trailing_its_benchmark_by_the_threshold_or_more_gets_a_verdict():
    from lq_engine.optimize.verdicts import THRESHOLDS, THRESHOLDS_TEXT, standing

    clean = {"pbo": 0.10, "dsr": 0.99, "holdout_mean_total_return": 0.08, "holdout_trades": 60}
    assert THRESHOLDS.benchmark_trail == 0.10 and "10 percentage points" in THRESHOLDS_TEXT
    assert verdicts({**clean, "benchmark_holdout_total_return": 0.17}) == []  # 9 points behind: within
    trailing = {**clean, "benchmark_holdout_total_return": 0.43}
    assert [v.key for v in verdicts(trailing)] == ["trails_benchmark"]
    assert verdict_line(trailing) == "trails its benchmark by 35.0 points (holdout return +8.0%, buy and hold +43.0%)"
    assert verdicts({**clean, "benchmark_holdout_total_return": float("nan")}) == []  # no benchmark: not judged
    assert [standing(clean), standing(trailing), standing({**clean, "holdout_trades": 0})] == [0, 1, 2]


def test_the_report_rebuilds_only_the_pages_whose_result_changed(results, tmp_path: Path):
    """Every `lq optimize` rebuilt the whole report (issue 21, finding 5): a page is now rewritten
    only when the content hash of its inputs (kept beside it) changed; the index always."""
    folder = tmp_path / "rep"
    first = build_report(results, folder)
    assert sorted(first.rebuilt) == ["syn_3x3d/ma_cross.html", "syn_3x3d/rsi.html"] and not first.kept

    def state():
        return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
                for p in folder.rglob("*") if p.is_file() and p.name != "index.html"}

    before = state()
    again = build_report(results, folder)
    assert again.rebuilt == () and sorted(again.kept) == sorted(first.rebuilt) and again.removed == ()
    assert state() == before  # nothing but the index rewritten: same bytes, same mtimes

    ma, rsi = results
    rerun = dataclasses.replace(rsi, timings={**rsi.timings, "stage1": rsi.timings["stage1"] + 1.0})  # another run
    third = build_report([ma, rerun], folder)
    assert third.rebuilt == ("syn_3x3d/rsi.html",) and third.kept == ("syn_3x3d/ma_cross.html",)
    after = state()
    assert after["syn_3x3d/ma_cross.html"] == before["syn_3x3d/ma_cross.html"]
    assert after["syn_3x3d/rsi.html.key"] != before["syn_3x3d/rsi.html.key"]

    gone = build_report([ma], folder)  # a result no longer there: its page goes, and its row
    assert gone.removed == ("syn_3x3d/rsi.html",) and not (folder / "syn_3x3d" / "rsi.html.key").exists()
    assert "rsi.html" not in gone.index.read_text()


def test_every_link_of_the_index_and_the_pages_resolves(results, tmp_path: Path):
    built = build_report(results, tmp_path / "rep", skipped={"us_stocks_daily/old": "written by another version"})
    index = built.index.read_text()
    links = re.findall(r"<a href='([^'#]+)'>", index)
    assert len(links) == 2 * len(results)  # dataset and strategy cells
    assert all((built.index.parent / link).is_file() for link in links)
    assert "Results that could not be read" in index and "written by another version" in index
    for page in built.pages.values():
        doc = page.read_text()
        for link in re.findall(r"(?:href|src)='([^'#][^']*)'", doc):
            if not link.startswith("data:"):
                assert (page.parent / link).resolve().is_file(), (page, link)


def test_round_trips_add_up_to_the_winners_result_and_match_its_fills(results):
    for r in results:
        trips, fills = r.round_trips(), pl.concat([r.selection_detail.trades, r.holdout.trades])
        assert trips.height > 0 and set(trips["exit_reason"]) <= {"signal", "open", "stop_loss", "take_profit",
                                                                    "trailing_stop"}
        for (fold, window, sym), t in trips.group_by(["fold", "window", "symbol"]):
            f = fills.filter((pl.col("fold") == fold) & (pl.col("window") == window) & (pl.col("symbol") == sym))
            seg = next(s for d in (r.selection_detail, r.holdout) for s in d.segments
                       if (s.fold, s.kind, s.symbol) == (fold, window, sym))
            # every trip's PnL together is the window's final equity minus its starting cash (no fill at bar 0)
            assert t["pnl"].sum() == pytest.approx(seg.equity[-1] - seg.equity[0], rel=1e-9, abs=1e-9 * seg.equity[0])
            pos = f["position"].to_numpy()
            before = np.r_[0.0, pos[:-1]]
            opened = ((before == 0) & (pos != 0)) | ((before != 0) & (np.sign(pos) == -np.sign(before)))
            assert t.height == int(opened.sum())  # a trip per fill that leaves flat or crosses zero
            assert t["entry_time"].cast(pl.Int64).min() == f["ts"][0]
            closed = t.filter(pl.col("exit_reason") != "open")
            assert closed["exit_time"].cast(pl.Int64).to_list() == f.filter(pl.Series(pos == 0))["ts"].to_list()
        assert r.summary()["holdout_trades"] == trips.filter(pl.col("window") == "holdout").height


def test_verdicts_warn_on_an_overfit_result_and_stay_quiet_on_a_clean_one():
    overfit = {"pbo": 0.85, "dsr": 0.40, "holdout_mean_total_return": -0.12, "holdout_trades": 7, "synthetic": True}
    clean = {"pbo": 0.10, "dsr": 0.99, "holdout_mean_total_return": 0.08, "holdout_trades": 60, "synthetic": False}
    assert [v.key for v in verdicts(overfit)] == ["overfit", "not_significant", "lost_money", "few_trades", "synthetic"]
    assert verdict_line(overfit).startswith("likely overfit (PBO 0.85 >= 0.5); not significant (DSR 0.40 < 0.95)")
    assert "lost money out of sample (holdout return -12.0%)" in verdict_line(overfit)
    assert "fewer than 20 trades (holdout: 7)" in verdict_line(overfit)
    assert verdicts(clean) == [] and verdict_line(clean) == "no warning"
    edge = {**clean, "pbo": 0.5, "dsr": 0.95}  # the thresholds: PBO 0.5 is overfit, DSR 0.95 is significant
    assert [v.key for v in verdicts(edge)] == ["overfit"]
    assert verdicts({**clean, "pbo": float("nan"), "dsr": float("nan")}) == []  # not computed: not judged


def test_heatmap_needs_two_varying_parameters(results, tmp_path: Path):
    ma, rsi = results
    p = heatmap_png(ma, tmp_path / "h.png")
    assert p is not None and p.read_bytes()[:8] == PNG
    assert heatmap_png(rsi, tmp_path / "none.png") is None  # only 'period' varies


def test_equity_png_writes_a_png(tmp_path: Path):
    ts = np.arange(10, dtype=np.int64) * 60_000_000_000
    segs = [EquitySegment("SYN000", "validation", 0, ts, np.linspace(1.0, 1.1, 10)),
            EquitySegment("SYN000", "holdout", -1, ts + 10 * 60_000_000_000, np.linspace(1.0, 0.9, 10))]
    p = equity_png(segs, tmp_path / "e.png", "t")
    assert p.read_bytes()[:8] == PNG


def test_the_terminal_leaderboard_is_aligned_rounded_and_carries_verdicts(results):
    from lq_engine.optimize.leaderboard import leaderboard_rows, text_table

    rows = leaderboard_rows(results)
    lines = text_table(rows).splitlines()
    assert len(lines) == 2 + len(results) and lines[0].startswith("dataset")
    start = lines[0].index("holdout Sharpe")
    end = start + len("holdout Sharpe")
    for line in lines[2:]:
        cell = line[start:end].strip()
        assert re.fullmatch(r"-?\d+\.\d\d|n/a", cell), line  # right-aligned under its header, two decimals
        assert "{" not in line and '"' not in line  # no raw JSON
        assert line.rstrip().endswith(tuple(r["verdict"] for r in rows))
    assert all(r["verdict"] for r in rows) and "synthetic data" in rows[0]["verdict"]
