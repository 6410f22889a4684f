"""Batch TPE (lq_engine.optimize.tpe) against the Optuna 5.0.0 pieces it reads: the Parzen
estimators' densities and draws, the below/above split, and what a batch of proposals is."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe.sampler import _split_trials, default_gamma
from optuna.trial import TrialState, create_trial

from lq_engine.optimize import tpe
from lq_engine.authoring.space import Dimension, SearchSpace

DISTS = {
    "x": FloatDistribution(1.5, 400.5),  # a wide int range, relaxed to continuous
    "v": FloatDistribution(0.01, 10.0, log=True),
    "n": IntDistribution(2, 30),  # discrete
    "m": IntDistribution(1, 100, log=True),  # discrete on a log scale
    "s": CategoricalDistribution(("long", "short", "both")),
    "f": FloatDistribution(0.0, 1.0, step=0.1),  # a stepped float
}
NAMES = list(DISTS)


def _draws(rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows in Optuna's internal representation (a category's index)."""
    return np.column_stack([
        rng.uniform(1.5, 400.5, n), np.exp(rng.uniform(math.log(0.01), math.log(10.0), n)), rng.integers(2, 31, n),
        np.clip(np.round(np.exp(rng.uniform(0.0, math.log(100.0), n))), 1, 100), rng.integers(0, 3, n),
        np.round(rng.integers(0, 11, n) * 0.1, 12),
    ]).astype(np.float64)


def _optuna_estimator(x: np.ndarray, names: list[str], weights=None):
    """Optuna's own estimator over the rows ``x`` (columns = ``names``)."""
    return tpe._ParzenEstimator({n: x[:, j] for j, n in enumerate(names)}, {n: DISTS[n] for n in names}, tpe.PARZEN,
                                weights)


@pytest.mark.parametrize("names", [NAMES, ["x", "v"], ["n", "s", "f"], ["m"]])
@pytest.mark.parametrize("kernels", [3, 25, 300])
def test_mixture_log_pdf_is_optunas(names, kernels):
    rng = np.random.default_rng(kernels)
    cols = [NAMES.index(n) for n in names]
    x = _draws(rng, kernels)[:, cols]
    weights = rng.uniform(0.1, 1.0, kernels) if kernels == 300 else None  # the subsampled-history path
    ours = tpe.estimator(x, names, DISTS, weights)
    ref = _optuna_estimator(x, names, weights)
    cand = _draws(rng, 2000)[:, cols]
    want = ref.log_pdf({n: cand[:, j] for j, n in enumerate(names)})
    got = ours.log_pdf(cand)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_mixture_draws_follow_optunas_mixture():
    rng = np.random.default_rng(5)
    x = _draws(rng, 25)
    ours = tpe.estimator(x, NAMES, DISTS)
    ref = _optuna_estimator(x, NAMES)
    n = 200_000
    got = ours.sample(np.random.default_rng(1), n)
    want = ref.sample(np.random.RandomState(1), n)
    again = ours.sample(np.random.default_rng(1), n)
    assert got.tobytes() == again.tobytes()  # seeded
    for j, name in enumerate(NAMES):
        d, col = DISTS[name], got[:, j]
        if isinstance(d, CategoricalDistribution):
            assert set(np.unique(col)) <= {0.0, 1.0, 2.0}
            np.testing.assert_allclose(np.bincount(col.astype(int), minlength=3) / n,
                                       np.bincount(want[name].astype(int), minlength=3) / n, atol=0.006)
            continue
        assert (col >= d.low).all() and (col <= d.high).all(), name
        if d.step is not None:
            k = (col - d.low) / d.step
            np.testing.assert_allclose(k, np.round(k), atol=1e-9, err_msg=name)
        qs = [0.05, 0.25, 0.5, 0.75, 0.95]
        scale = np.log if d.log else (lambda v: v)
        spread = scale(np.float64(d.high)) - scale(np.float64(d.low))
        np.testing.assert_allclose(np.quantile(scale(col), qs), np.quantile(scale(want[name]), qs),
                                   atol=0.01 * spread, err_msg=name)


def test_truncated_normal_quantiles_and_masses_match_optuna_and_scipy():
    from optuna.samplers._tpe import _truncnorm
    from scipy.stats import truncnorm

    rng = np.random.default_rng(2)
    a = rng.uniform(-40, 3, 500)
    b = a + rng.uniform(0.01, 50, 500)
    q = rng.random(500)
    np.testing.assert_allclose(tpe.truncnorm_ppf(q, a, b), _truncnorm.ppf(q, a, b), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(tpe.truncnorm_ppf(q, a, b), truncnorm.ppf(q, a, b), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(tpe.log_gauss_mass(a, b), _truncnorm._log_gauss_mass(a, b), rtol=1e-9, atol=1e-12)


# below filled by complete / pruned / infeasible
@pytest.mark.parametrize("shares", [(0.8, 0.1, 0.1), (0.02, 0.5, 0.48)])
def test_split_is_optunas(shares):
    rng = np.random.default_rng(9)
    n = 400
    values = np.round(rng.normal(size=n), 1)  # ties: broken by trial number, as Optuna sorts
    state = rng.choice([tpe.COMPLETE, tpe.PRUNED, tpe.INFEASIBLE], p=shares, size=n).astype(np.int8)
    dist = {"x": FloatDistribution(0, 1)}
    trials = []
    for i in range(n):
        if state[i] == tpe.PRUNED:  # reported its running score at step 0, as stage 1 prunes
            t = create_trial(state=TrialState.PRUNED, params={"x": 0.5}, distributions=dist,
                             intermediate_values={0: float(values[i])})
        else:
            t = create_trial(value=float(values[i]), params={"x": 0.5}, distributions=dist,
                             constraints={"c": 1.0 if state[i] == tpe.INFEASIBLE else 0.0})
        t.number = i
        trials.append(t)
    study = optuna.create_study(direction="maximize")
    for m in (1, 7, 30, 240, n):
        below, above = _split_trials(study, trials[:m], default_gamma(m))
        got_below, got_above = tpe.split(values[:m], state[:m])
        assert got_below.tolist() == [t.number for t in below]
        assert got_above.tolist() == [t.number for t in above]


SPACE = SearchSpace("t", (Dimension("a", "int", 1, 4, 1), Dimension("b", "int", 1, 3, 1)))  # 12 points


def test_a_batch_proposes_new_sets_first_and_repeats_only_when_all_candidates_are_taken():
    names = ["a", "b"]
    dists = {d.name: d.relaxed_distribution() for d in SPACE.dims}
    hist = SPACE.from_unit(np.random.default_rng(0).random((5, 2)))
    values = -np.sum((hist - 2.0) ** 2, axis=1)
    state = np.zeros(5, dtype=np.int8)
    taken = {r.tobytes() for r in SPACE.canonical(hist)}
    before = set(taken)
    out = tpe.propose(hist, values, state, names, dists, 4, np.random.default_rng(1), taken, SPACE.canonical)
    keys = [r.tobytes() for r in SPACE.canonical(out)]
    assert len(set(keys)) == 4 and not set(keys) & before  # distinct, none evaluated before
    assert taken == before | set(keys)
    same = tpe.propose(hist, values, state, names, dists, 4, np.random.default_rng(1), set(before), SPACE.canonical)
    assert same.tobytes() == out.tobytes()  # seeded
    # more proposals than the 12-point space holds: the surplus repeats (each its group's best)
    full = tpe.propose(hist, values, state, names, dists, 20, np.random.default_rng(2), set(before), SPACE.canonical)
    rows = [r.tobytes() for r in SPACE.canonical(full)]
    assert len(set(rows) | before) <= 12 and len(rows) == 20 and len(set(rows)) < 20


def test_the_above_group_is_a_weighted_subsample_beyond_the_history_bound(monkeypatch):
    rng = np.random.default_rng(3)
    n = 600
    x = _draws(rng, n)[:, :2]
    values = rng.normal(size=n)
    state = np.zeros(n, dtype=np.int8)
    built = []
    real = tpe.estimator

    def spy(rows, names, dists, weights=None):
        built.append((rows.shape[0], weights))
        return real(rows, names, dists, weights)

    monkeypatch.setattr(tpe, "estimator", spy)
    sub = SearchSpace("t", (Dimension("x", "float", 1.5, 400.5), Dimension("v", "float", 0.01, 10.0, log=True)))
    tpe.propose(x, values, state, ["x", "v"], DISTS, 8, np.random.default_rng(0), set(), sub.canonical, history=100)
    (n_below, w_below), (n_above, w_above) = built
    assert n_below == 25 and w_below is None  # the 25 best, exactly
    full = tpe.default_weights(n - 25)
    assert n_above == 100 and w_above.sum() == pytest.approx(full.sum())  # the prior keeps its share
    built.clear()
    tpe.propose(x, values, state, ["x", "v"], DISTS, 8, np.random.default_rng(0), set(), sub.canonical, history=1000)
    assert built[1] == (n - 25, None)  # within the bound: every other trial, Optuna's own weights
