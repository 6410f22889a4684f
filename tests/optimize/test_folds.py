import pytest

from lq_engine.optimize import HoldoutLeakError, OptimizeConfig, Window, check_selection_window, make_folds


def _disjoint(a: Window, b: Window) -> bool:
    return a.stop <= b.start or b.stop <= a.start


def test_rolling_folds_slide_with_fixed_train_length():
    plan = make_folds(1000, OptimizeConfig(n_folds=3, train_fraction=0.4, holdout_fraction=0.2))
    assert plan.holdout == Window("holdout", -1, 800, 1000)
    trains = plan.train_windows()
    vals = plan.validation_windows()
    assert len(trains) == len(vals) == 3
    assert {t.length for t in trains} == {320}
    assert {v.length for v in vals} == {160}
    for t, v in zip(trains, vals):
        assert t.stop == v.start  # no gap configured
    for a, b in zip(vals, vals[1:]):
        assert a.stop == b.start  # consecutive validation windows
    assert trains[1].start - trains[0].start == 160
    assert vals[-1].stop == 800


def test_anchored_folds_start_at_zero_and_grow():
    plan = make_folds(1000, OptimizeConfig(fold_mode="anchored", n_folds=4, train_fraction=0.3, gap_bars=5))
    trains = plan.train_windows()
    assert all(t.start == 0 for t in trains)
    assert [t.stop for t in trains] == sorted({t.stop for t in trains})
    for t, v in zip(trains, plan.validation_windows()):
        assert v.start - t.stop == 5  # embargo between train and validation
    assert plan.holdout.start - plan.validation_windows()[-1].stop >= 5


@pytest.mark.parametrize("mode", ["rolling", "anchored"])
@pytest.mark.parametrize("gap", [0, 7])
def test_holdout_never_overlaps_selection_windows(mode, gap):
    plan = make_folds(5000, OptimizeConfig(fold_mode=mode, n_folds=5, gap_bars=gap, holdout_fraction=0.25))
    assert plan.holdout.stop == 5000
    for w in plan.selection_windows():
        assert w.kind in ("train", "validation")
        assert _disjoint(w, plan.holdout)
        assert w.stop <= plan.holdout.start - gap
        assert check_selection_window(plan, w) is w


def test_explicit_lengths_align_to_the_end_of_development():
    plan = make_folds(2000, OptimizeConfig(train_bars=300, validation_bars=100, n_folds=2, holdout_fraction=0.1))
    assert [w.length for w in plan.train_windows()] == [300, 300]
    assert [w.length for w in plan.validation_windows()] == [100, 100]
    assert plan.validation_windows()[-1].stop == plan.holdout.start == 1800


def test_check_selection_window_refuses_holdout_and_embargo():
    plan = make_folds(1000, OptimizeConfig(gap_bars=10))
    with pytest.raises(HoldoutLeakError, match="holdout"):
        check_selection_window(plan, plan.holdout)
    with pytest.raises(HoldoutLeakError, match="development span"):
        check_selection_window(plan, Window("validation", 0, 700, plan.holdout.start - 5))
    with pytest.raises(HoldoutLeakError):
        check_selection_window(plan, Window("train", 0, 100, plan.holdout.stop))


def test_too_short_data_raises_with_sizes():
    with pytest.raises(ValueError, match="min_window_bars"):
        make_folds(120, OptimizeConfig(n_folds=5))
    with pytest.raises(ValueError, match="need"):
        make_folds(2000, OptimizeConfig(train_bars=1500, validation_bars=200, n_folds=2))
