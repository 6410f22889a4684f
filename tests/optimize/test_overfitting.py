"""Issue 18, findings 5 and 6: PBO is CSCV over every trial (not the top-k neighbours) and the DSR
counts distinct dates (not symbol-days) and distinct configurations (not stage-2 replays again)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from lq_engine.kernels import metrics as M
from lq_engine.optimize.overfit import overfitting, per_timestamp
from lq_engine.optimize.tasks import local_groups


def _sums(m: np.ndarray, s: int):
    return M.group_sums_of_matrix(m, s)


def test_cscv_two_groups_by_hand():
    # A is good in group 0 and bad in group 1, B the opposite: whichever wins in sample is the worst
    # out of sample in both splits -> rank 1 of 2, w = 1/3, logit ln(1/2), PBO exactly 1
    sums = np.array([[[0.3, 0.05], [-0.3, 0.05]],
                     [[-0.3, 0.05], [0.3, 0.05]]])
    pbo, logits = M.pbo_from_group_sums(sums, np.array([2.0, 2.0]))
    assert pbo == 1.0
    assert logits.tolist() == [math.log((1 / 3) / (1 - 1 / 3))] * 2
    # A better than B in both groups: A wins in sample and is the best out of sample: w = 2/3, PBO 0
    sums[1] = [[0.1, 0.05], [0.1, 0.05]]
    sums[0] = [[0.3, 0.05], [0.3, 0.05]]
    pbo, logits = M.pbo_from_group_sums(sums, np.array([2.0, 2.0]))
    assert pbo == 0.0 and logits.tolist() == [math.log((2 / 3) / (1 - 2 / 3))] * 2


def _brute(m: np.ndarray, s: int) -> float:
    """CSCV with explicit loops over a (T, N) matrix, Sharpe from the rows themselves."""
    t, n = m.shape
    groups = np.array_split(np.arange(t), s)

    def sr(rows, j):
        x = m[rows, j]
        sd = x.std(ddof=1)
        return x.mean() / sd if sd > 0 else 0.0

    over = total = 0
    for train in itertools.combinations(range(s), s // 2):
        tr = np.concatenate([groups[g] for g in train])
        te = np.concatenate([groups[g] for g in range(s) if g not in train])
        is_ = [sr(tr, j) for j in range(n)]
        best = is_.index(max(is_))
        oos = [sr(te, j) for j in range(n)]
        w = (1 + sum(o < oos[best] for o in oos)) / (n + 1)
        over += math.log(w / (1 - w)) <= 0
        total += 1
    return over / total


def test_group_sums_cscv_equals_the_matrix_definition():
    m = np.random.default_rng(8).normal(0.0, 1.0, (48, 7))
    m[:, 3] += 0.15
    pbo, logits = M.pbo_from_group_sums(*_sums(m, 6))
    assert logits.size == math.comb(6, 3)
    assert pbo == _brute(m, 6)


def test_noise_trials_give_about_one_half_and_a_dominant_trial_near_zero():
    rng = np.random.default_rng(9)
    pbos = [M.pbo_from_group_sums(*_sums(rng.normal(0.0, 0.01, (320, 60)), 8))[0] for _ in range(16)]
    assert 0.35 <= float(np.mean(pbos)) <= 0.65
    dom = rng.normal(0.0, 0.01, (320, 60))
    dom[:, 11] += 0.006  # truly better in every group
    assert M.pbo_from_group_sums(*_sums(dom, 8))[0] <= 0.02


def test_neighbours_only_hide_what_every_trial_shows():
    """The finding: 400 noise trials and 8 near-identical neighbours of one truly good configuration
    (what stage 1 hands stage 2 as its top k). Among the neighbours alone (the old input) CSCV
    measures noise between them (~0.5, "likely overfit" half the time); over every trial it is ~0."""
    rng = np.random.default_rng(10)
    among, over_all = [], []
    for _ in range(6):
        noise = rng.normal(0.0, 0.01, (480, 400))
        good = rng.normal(0.004, 0.01, (480, 1)) + rng.normal(0.0, 0.001, (480, 8))
        among.append(M.pbo_from_group_sums(*_sums(good, 8))[0])
        over_all.append(M.pbo_from_group_sums(*_sums(np.hstack([noise, good]), 8))[0])
    assert float(np.mean(over_all)) <= 0.05
    assert float(np.mean(among)) >= 0.3


def test_local_groups_cut_a_window_at_the_global_edges():
    edges = np.array([0, 10, 20, 30, 40])
    assert local_groups(np.arange(5, 35), edges)[0] == 0
    assert local_groups(np.arange(5, 35), edges)[1].tolist() == [5, 15, 25, 30]
    assert local_groups(np.arange(12, 18), edges)[0] == 1
    assert local_groups(np.arange(12, 18), edges)[1].tolist() == [6]


class _Stage1:
    def __init__(self, params, trial_sharpes, sums=None, counts=None):
        self.params, self.trial_sharpes, self.group_sums, self.group_counts = params, trial_sharpes, sums, counts


def test_dsr_counts_dates_not_symbol_days_and_configurations_once():
    """4 identical symbols are one observation per date: the same T, Sharpe and DSR as one symbol
    (before: T = 4 x dates and a higher DSR)."""
    rng = np.random.default_rng(12)
    ts = np.arange(1, 301, dtype=np.int64) * 86_400 * 10**9
    r = rng.normal(0.0008, 0.01, ts.size)
    trials = rng.normal(0.0, 0.02, 50)
    s1 = _Stage1([{"a": i} for i in range(50)], trials)
    one = overfitting([ts], [r], s1, 7, np.zeros((0, 2)), 8)
    four = overfitting([ts] * 4, [r] * 4, s1, 7, np.zeros((0, 2)), 8)
    assert (four.n_obs, four.n_returns) == (300, 1200)
    assert (four.dsr, four.sharpe, four.n_obs) == (one.dsr, one.sharpe, one.n_obs)
    # N: distinct configurations stage 1 evaluated; the 7 stage-2 replays are not counted again
    assert four.n_trials == 50 and four.n_stage2 == 7
    dup = _Stage1([{"a": i % 40} for i in range(50)], trials)  # a search proposing 10 sets twice
    assert overfitting([ts], [r], dup, 7, np.zeros((0, 2)), 8).n_trials == 40


def test_per_timestamp_averages_the_symbols_on_each_date():
    dates, r = per_timestamp([np.array([1, 2, 3]), np.array([2, 3, 4])],
                             [np.array([0.1, 0.2, 0.3]), np.array([0.0, 0.1, 0.4])])
    assert dates.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(r, [0.1, 0.1, 0.2, 0.4])
    with pytest.raises(ValueError, match="timestamps"):
        per_timestamp([np.array([1, 2])], [np.array([0.1])])
