"""Brackets in the optimizer: stage 2 (top k, audit, winner, holdout) replays with them, stage 1
ranks without them, and the result records which brackets were used."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lq_engine.optimize import build_report, load_result, optimize, save_result
from lq_engine.optimize.inputs import view_of
from lq_engine.optimize.tasks import Span
from lq_engine.replay.engine import replay
from lq_engine.execution.sizing import NO_BRACKETS, BracketSpec

from optimize.data import MA, small_config, small_dataset

TIGHT = BracketSpec(stop_loss=0.001)  # 0.1% below a long entry: hit often on 1-minute bars


@pytest.fixture(scope="module")
def runs():
    ds = small_dataset(symbols=2, days=3, seed=31)
    return ds, optimize(ds, MA, small_config()), optimize(ds, MA, small_config(brackets=TIGHT))


def _reasons(trades: pl.DataFrame) -> dict[str, int]:
    return dict(trades["reason"].value_counts().rows())


def test_stage1_ignores_brackets(runs):
    _, plain, tight = runs
    assert tight.stage1.scores.equals(plain.stage1.scores)
    assert tight.top.set_indices == plain.top.set_indices  # same top k handed to stage 2
    assert tight.audit.set_indices == plain.audit.set_indices


def test_every_stage2_replay_uses_the_brackets(runs):
    _, plain, tight = runs
    for batch in ("top", "audit"):
        a, b = getattr(plain, batch).table, getattr(tight, batch).table
        keys = ("set_index", "symbol", "window", "fold")
        assert a.select(*keys).equals(b.select(*keys))
        assert (a["total_return"] != b["total_return"]).any(), batch
        assert (a["fills"] != b["fills"]).any(), batch
    for detail in ("selection_detail", "holdout"):
        assert "stop" not in _reasons(getattr(plain, detail).trades), detail
        assert _reasons(getattr(tight, detail).trades).get("stop", 0) > 0, detail


def test_stage2_rows_equal_a_direct_replay_with_the_brackets(runs):
    """A top-k window row is exactly replay(..., brackets=TIGHT) of that window, not the bracket-free one."""
    ds, _, tight = runs
    cfg = tight.config
    view = view_of(ds, cfg)
    table = tight.top.table
    row = table.row(int(np.argmax(table["fills"].to_numpy())), named=True)
    series = view.series[row["symbol"]]
    ts = np.asarray(series.ts)
    a, b = int(np.searchsorted(ts, row["start_ts"])), int(np.searchsorted(ts, row["end_ts"])) + 1
    assert b - a == row["n_bars"]
    bars = Span.cut(series, a, b).series(a, b)
    params = tight.stage1.params[row["set_index"]]

    def run(brackets: BracketSpec):
        return replay("ma_cross", params, bars, cfg.execution, brackets=brackets, initial_cash=cfg.initial_cash,
                      periods_per_year=view.ppy)

    with_, without = run(TIGHT), run(NO_BRACKETS)
    assert len(with_.fills) == row["fills"] and with_.metrics["total_return"] == row["total_return"]
    assert (len(without.fills), without.metrics["total_return"]) != (row["fills"], row["total_return"])


def test_result_records_the_brackets(runs, tmp_path: Path):
    _, plain, tight = runs
    assert tight.config.brackets == TIGHT and plain.config.brackets == NO_BRACKETS
    assert json.loads(tight.summary()["brackets"]) == {"stop_loss": 0.001, "take_profit": None, "trailing": None}
    assert json.loads(plain.summary()["brackets"]) == {"stop_loss": None, "take_profit": None, "trailing": None}
    assert tight.tables()["summary"]["brackets"].to_list() == [tight.summary()["brackets"]]
    back = load_result(save_result(tight, tmp_path / "res").parent)
    assert back.config.brackets == TIGHT and back.winner == tight.winner

    text = build_report([tight], tmp_path / "rep").text()
    assert "stop-loss 0.001 (0.1% of the entry price)" in text
    assert "ranks without brackets: its kernel cannot model them; the fidelity audit measures that gap" in text
    assert "Stage 2 replays with brackets" in text
