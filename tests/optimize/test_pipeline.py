"""End to end on a small SYNTHETIC dataset: stage 1, stage 2, holdout-once, DSR/PBO, audit."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from lq_engine.kernels import metrics as M
from lq_engine.optimize import HoldoutLeakError, Window, make_folds, optimize
from lq_engine.optimize.folds import FoldPlan
from lq_engine.optimize.inputs import view_of
from lq_engine.optimize.objectives import robust_objective, spearman, top_k_recall
from lq_engine.optimize.overfit import moments
from lq_engine.optimize.pool import TaskRunner
from lq_engine.optimize.prefilter import parameter_grid, prefilter
from lq_engine.optimize.tasks import Span

from optimize.data import MA, small_config, small_dataset


@pytest.fixture(scope="module")
def spied():
    """One in-process run with every row range handed to a kernel or a replay recorded, in order."""
    calls: list[tuple[str, str, int, int]] = []
    mp = pytest.MonkeyPatch()
    orig_bars, orig_series = Span.bars, Span.series

    def bars(self, a, b):
        calls.append(("prefilter", self.symbol, a, b))
        return orig_bars(self, a, b)

    def series(self, a, b):
        calls.append(("replay", self.symbol, a, b))
        return orig_series(self, a, b)

    mp.setattr(Span, "bars", bars)
    mp.setattr(Span, "series", series)
    try:
        result = optimize(small_dataset(), MA, small_config())
    finally:
        mp.undo()
    return result, calls


@pytest.fixture(scope="module")
def result(spied):
    return spied[0]


def test_stage1_scores_every_set_on_every_training_window(result):
    s1 = result.stage1
    n_sets = len(parameter_grid(MA, small_config()))
    n_windows = len(result.plan.folds) * 3  # 3 symbols, every fold's training window
    assert s1.n_sets == n_sets
    assert s1.scores.height == n_sets * n_windows
    for col in ("dataset", "strategy", "params", "fast", "slow", "side", "fold", "symbol", "window", "sharpe",
                "trade_count", "score", "set_index"):
        assert col in s1.scores.columns
    assert set(s1.scores["window"].unique()) == {"train"}
    assert s1.scores.group_by("set_index").len()["len"].unique().to_list() == [n_windows]


def test_stage1_ranking_is_the_mean_window_score(result):
    s1 = result.stage1
    mean = s1.scores.group_by("set_index").agg(pl.col("score").mean()).sort("set_index")["score"].to_numpy()
    np.testing.assert_allclose(mean, s1.objective, rtol=1e-12)
    ranked = s1.rankings["objective"].to_numpy()
    assert np.all(np.diff(ranked) <= 0)
    assert s1.rankings["set_index"].to_list()[:5] == s1.order[:5].tolist()
    assert s1.rankings["rank"].to_list() == list(range(1, s1.n_sets + 1))


def test_stage2_winner_is_best_robust_validation_objective_of_top_k(result):
    cfg = result.config
    k = cfg.top_k(result.stage1.n_sets)
    assert result.top.set_indices == result.stage1.order[:k].tolist()
    val = result.top.table.filter(pl.col("window") == "validation")
    best, best_idx = -math.inf, None
    for idx in result.top.set_indices:  # stage-1 order: ties go to the better stage-1 rank
        obj = robust_objective(val.filter(pl.col("set_index") == idx)["score"].to_numpy(), cfg.dispersion_penalty)
        if obj > best:
            best, best_idx = obj, idx
    assert result.winner.set_index == best_idx
    assert result.winner.validation_objective == pytest.approx(best)
    assert result.winner.params == result.stage1.params[best_idx]


def test_holdout_scored_once_per_symbol_after_selection(spied):
    result, calls = spied
    plan, n = result.plan, result.plan.n
    dev_end = plan.development_end
    touching = [c for c in calls if c[3] > dev_end]
    assert [(c[0], c[1], c[2], c[3]) for c in touching] == [("replay", s, plan.holdout.start, n)
                                                            for s in ("SYN000", "SYN001", "SYN002")]
    assert calls[-3:] == touching  # the very last evaluations, after every selection replay
    assert all(c[3] <= dev_end for c in calls[:-3])
    assert result.holdout.table.height == 3 and set(result.holdout.table["window"]) == {"holdout"}


def test_selection_refuses_a_plan_leaking_into_the_holdout(result):
    view = view_of(small_dataset(), result.config)
    plan = make_folds(view.clock.shape[0], result.config)
    f0 = plan.folds[0]
    leaky = FoldPlan(plan.n, plan.mode, plan.gap,
                     (type(f0)(0, Window("train", 0, plan.holdout.start - 100, plan.n), f0.validation),),
                     plan.holdout)
    with pytest.raises(HoldoutLeakError):
        prefilter(view, MA, result.stage1.params[:3], leaky, result.config, TaskRunner(1), "numba")


def test_dsr_counts_dates_and_distinct_configurations_and_pbo_uses_every_trial(result):
    """Issue 18: N = distinct stage-1 configurations (stage-2 replays not again), T = distinct dates
    of the winner's validation returns (the symbols averaged per date), PBO by CSCV over every
    stage-1 trial's per-group sums (before: the top-k candidates' returns)."""
    from lq_engine.optimize.overfit import per_timestamp

    o, s1 = result.overfitting, result.stage1
    n_replayed = len(result.top.set_indices) + len(result.audit.set_indices)
    assert o.n_stage1 == s1.n_sets and o.n_stage2 == n_replayed
    assert o.n_trials == s1.n_sets  # the grid's sets are distinct; replays are not counted again
    segs = [s for s in result.selection_detail.segments if s.kind == "validation"]
    dates, r = per_timestamp([s.ts[1:] for s in segs], [s.equity[1:] / s.equity[:-1] - 1.0 for s in segs])
    assert o.n_obs == dates.size < o.n_returns == sum(s.equity.size - 1 for s in segs)  # 3 symbols, same dates
    sr, skew, kurt = moments(r)
    dsr, sr0 = M.deflated_sharpe_ratio(sr, r.size, skew, kurt, o.n_trials, float(np.var(s1.trial_sharpes, ddof=1)))
    assert (o.dsr, o.sr0) == (dsr, sr0)
    assert 0.0 <= o.dsr <= 1.0
    # the winner's validation replays are the same as in stage 2
    w = result.top.table.filter((pl.col("set_index") == result.winner.set_index) & (pl.col("window") == "validation"))
    d = result.selection_detail.table.filter(pl.col("window") == "validation")
    assert sorted(w["sharpe"].to_list()) == sorted(d["sharpe"].to_list())
    # PBO: every stage-1 trial, S time groups, each trial's returns of every window pooled per group
    assert o.pbo_candidates == s1.n_sets > len(result.top.set_indices)
    assert s1.group_sums.shape == (s1.n_sets, o.pbo_splits, 2) and o.pbo_splits == result.config.pbo_splits
    returns_scored = s1.scores.group_by("set_index").agg((pl.col("n_bars") - 1).sum()).sort("set_index")
    np.testing.assert_array_equal(s1.group_counts.sum(axis=1), returns_scored["n_bars"].to_numpy())
    pbo, _ = M.pbo_from_group_sums(s1.group_sums, s1.group_counts)
    assert o.pbo == pbo and 0.0 <= o.pbo <= 1.0
    # the former top-k figure stays, as selection stability
    assert o.selection_stability == M.probability_of_backtest_overfitting(result.top.val_returns,
                                                                           o.selection_splits)[0]


def test_fidelity_audit_includes_sets_outside_top_k(result):
    f, k = result.fidelity, len(result.top.set_indices)
    audit = f.table.filter(pl.col("role") == "audit")
    assert audit.height == result.config.audit_size == f.n_outside_top_k
    assert audit["stage1_rank"].min() > k
    assert result.audit.table.filter(pl.col("window") == "train").height == audit.height * len(result.plan.folds) * 3
    s1 = f.table["stage1_objective"].to_numpy()
    s2 = f.table["stage2_train_objective"].to_numpy()
    assert f.spearman_train == spearman(s1, s2)
    assert f.top_k_recall == top_k_recall(s1, s2, k)
    assert -1.0 <= f.spearman_train <= 1.0


def test_tables_are_ready_for_storage(result):
    tables = result.tables()
    assert tables["prefilter_scores"].height == result.stage1.scores.height
    assert tables["winner_trades"].height > 0
    assert tables["summary"].height == 1
    assert tables["summary"]["synthetic"].to_list() == [True]
