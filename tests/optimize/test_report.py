from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lq_engine.optimize import equity_png, heatmap_png, optimize, write_report
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


def test_the_report_is_one_self_contained_file_with_verdicts_and_tearsheets(results, tmp_path: Path):
    out = write_report(results, tmp_path / "rep")
    text = out.read_text()
    assert out.name == "report.html" and sorted(p.name for p in out.parent.iterdir()) == ["report.html"]
    imgs = re.findall(r"<img src='([^']+)' alt='([^']+)'", text)
    assert all(src.startswith("data:image/png;base64,") for src, _ in imgs)  # nothing outside the file
    assert not re.search(r"<img src='(?!data:)", text)
    for src, _ in imgs:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
    alts = [alt for _, alt in imgs]
    # per result: equity, winner vs benchmark, underwater, exposure; plus one heatmap (the RSI grid
    # varies one parameter) and the MA grid's parameter importances
    for alt in ("equity curve", "winner against the benchmark", "drawdown", "exposure"):
        assert alts.count(alt) == 2, alt
    assert len(imgs) == 10
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
