import math

import numpy as np
import pytest

from lq_engine.optimize import rankdata, spearman, top_k_recall
from lq_engine.optimize.objectives import MAD_SCALE, rank_order, robust_objective, window_score


def test_rankdata_averages_ties():
    assert rankdata(np.array([10.0, 20.0, 20.0, 5.0, 20.0])).tolist() == [2.0, 4.0, 4.0, 1.0, 4.0]


def test_spearman_matches_hand_computation_without_ties():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    b = np.array([2.0, 1.0, 4.0, 3.0, 5.0])
    # d = rank differences (-1, 1, -1, 1, 0): rho = 1 - 6 * 4 / (5 * 24) = 0.8
    assert spearman(a, b) == pytest.approx(0.8, abs=1e-15)
    assert spearman(a, -a) == pytest.approx(-1.0)


def test_spearman_with_ties_is_pearson_of_average_ranks():
    a = np.array([3.0, 1.0, 2.0, 2.0])
    b = np.array([10.0, 30.0, 20.0, 40.0])
    ra = np.array([4.0, 1.0, 2.5, 2.5])  # hand ranks
    rb = np.array([1.0, 3.0, 2.0, 4.0])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    expected = float((ra * rb).sum() / math.sqrt((ra * ra).sum() * (rb * rb).sum()))
    assert spearman(a, b) == pytest.approx(expected, abs=1e-15)
    assert expected == pytest.approx(-0.6324555320336759)


def test_spearman_rejects_mismatched_shapes_and_constant_is_nan():
    with pytest.raises(ValueError, match="equal length"):
        spearman(np.arange(3.0), np.arange(4.0))
    assert math.isnan(spearman(np.ones(4), np.arange(4.0)))


def test_top_k_recall():
    pred = np.array([0.9, 0.8, 0.7, 0.1, 0.0])
    act = np.array([0.9, 0.1, 0.8, 0.7, 0.0])
    assert top_k_recall(pred, act, 2) == 0.5  # top-2 by actual {0, 2}; predicted {0, 1}
    assert top_k_recall(pred, pred, 3) == 1.0


def test_window_score_penalizes_thin_trading():
    s = window_score(np.array([2.0, 2.0, 2.0]), np.array([0.0, 2.0, 10.0]), min_trades=4, penalty=1.0)
    assert s.tolist() == [1.0, 1.5, 2.0]


def test_robust_objective_and_rank_order_ties():
    s = np.array([1.0, 2.0, 3.0, 10.0])
    med = 2.5
    mad = np.median(np.abs(s - med)) * MAD_SCALE
    assert robust_objective(s, 0.5) == pytest.approx(med - 0.5 * mad)
    assert rank_order(np.array([1.0, 3.0, 3.0, np.nan])).tolist() == [1, 2, 0, 3]
