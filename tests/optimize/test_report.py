from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lq_engine.optimize import equity_png, heatmap_png, optimize, write_report
from lq_engine.optimize.replay_stage import EquitySegment

from optimize.data import MA, small_config, small_dataset, strategy

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results():
    ds = small_dataset()
    cfg = small_config()
    return [optimize(ds, MA, cfg),
            optimize(ds, strategy("rsi", {"period": (5, 10, 15), "lower": (25,), "upper": (70,)}), cfg)]


def test_report_html_references_existing_images(results, tmp_path: Path):
    out = write_report(results, tmp_path / "rep")
    text = out.read_text()
    assert out.name == "report.html"
    srcs = re.findall(r"<img src='([^']+)'", text)
    # two equity curves, two winner-vs-benchmark plots, one heatmap (the RSI grid varies one
    # parameter), the MA grid's parameter importances (the RSI grid has too few sets for them)
    assert len(srcs) == 6 and sum("benchmark" in s for s in srcs) == 2
    for s in srcs:
        p = out.parent / s
        assert p.exists() and p.read_bytes()[:8] == PNG
    assert "SYNTHETIC" in text
    for r in results:
        assert r.strategy in text
        shown = ", ".join(f"{k}={v}" for k, v in r.winner.params.items())
        assert shown in text  # the winner's parameters
    assert "deflated Sharpe" in text and "PBO" in text and "Spearman" in text
    assert text.count("inverse-volatility buy and hold") >= 2 and all(r.benchmark is not None for r in results)


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
