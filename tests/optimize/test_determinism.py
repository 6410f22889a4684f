"""Same inputs and config: identical tables and winner across runs and for 1 vs 2 worker processes."""

from __future__ import annotations

from lq_engine.optimize import optimize

from optimize.data import small_config, small_dataset, strategy


def _same(a, b) -> None:
    assert a.winner == b.winner
    ta, tb = a.tables(), b.tables()
    assert ta.keys() == tb.keys()
    for name in ta:
        assert ta[name].equals(tb[name]), name
    assert a.overfitting.dsr == b.overfitting.dsr and a.overfitting.pbo == b.overfitting.pbo
    for sa, sb in zip(a.holdout.segments + a.selection_detail.segments,
                      b.holdout.segments + b.selection_detail.segments):
        assert (sa.symbol, sa.kind, sa.fold) == (sb.symbol, sb.kind, sb.fold)
        assert sa.equity.tobytes() == sb.equity.tobytes()


def test_two_runs_and_two_workers_agree():
    ds = small_dataset(symbols=3, days=3, seed=23)
    cfg = small_config(audit_size=3)
    rsi = strategy("rsi", {"period": (5, 10, 15), "lower": (20, 30), "upper": (70, 80)})
    one = optimize(ds, rsi, cfg)
    again = optimize(ds, rsi, cfg)
    two = optimize(ds, rsi, cfg.with_(workers=2))
    _same(one, again)
    _same(one, two)
    assert one.stage1.scores.height == 12 * 3 * 3
