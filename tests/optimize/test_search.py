"""Stage-1 search beyond grids: seeded Optuna samplers over declared spaces, batched through the
kernel, deterministic for any worker or thread count, every evaluated set stored and counted in N."""

from __future__ import annotations

import json
import re

import numba
import numpy as np
import pytest

from lq_engine.optimize import (
    ConfigError, OptimizeConfig, build_report, load_stage1, optimize, run_stage1, run_stage2, save_stage1,
)
from lq_engine.optimize import search
from lq_engine.optimize.search import (
    AUTO_TRIALS, INFEASIBLE_SCORE, BatchScores, random_baseline, resolve_search, run_search,
)
from lq_engine.strategies import resolve
from lq_engine.authoring.space import SpaceError

from optimize.data import MA, small_config, small_dataset

SPACE = {"fast": {"low": 2, "high": 60}, "slow": {"low": 10, "high": 300, "log": True}, "side": ["long", "both"]}
MA_SPACE = resolve("ma_cross").with_space(SPACE)


def _tpe(**changes) -> OptimizeConfig:
    base = dict(search="tpe", trials=40, batch_size=10, n_folds=2, prune_quantile=0.3)
    base.update(changes)
    return small_config(**base)


@pytest.mark.slow  # worker processes (13 s)
def test_same_seed_same_trials_scores_and_winner_for_one_and_two_workers_and_threads():
    ds = small_dataset(symbols=2, days=3, seed=23)
    one = optimize(ds, MA_SPACE, _tpe())
    two = optimize(ds, MA_SPACE, _tpe(workers=2))
    assert one.stage1.params == two.stage1.params  # the same trials, in the same order
    assert one.stage1.objective.tobytes() == two.stage1.objective.tobytes()
    assert one.stage1.pruned.tolist() == two.stage1.pruned.tolist()
    assert one.winner == two.winner
    for name, table in one.tables().items():
        if name != "summary":  # the summary records the search's wall times
            assert table.equals(two.tables()[name]), name
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = run_stage1(ds, MA_SPACE, _tpe())
    finally:
        numba.set_num_threads(threads)
    assert single.params == one.stage1.params and single.objective.tobytes() == one.stage1.objective.tobytes()
    assert one.stage1.n_sets == 40 and one.stage1.trace.stop == "trials"


def test_every_evaluated_set_is_stored_and_counted_pruned_ones_too():
    ds = small_dataset(symbols=2, days=3, seed=23)
    r = optimize(ds, MA_SPACE, _tpe())
    s1 = r.stage1
    assert 0 < s1.n_pruned < s1.n_sets
    assert s1.scores["set_index"].n_unique() == s1.n_sets  # every evaluated set has its scores stored
    windows = s1.scores.select("fold", "symbol").unique().height
    per_set = s1.scores.group_by("set_index").len().sort("set_index")["len"].to_numpy()
    assert (per_set[s1.pruned] < windows).all() and (per_set[~s1.pruned] == windows).all()
    assert r.overfitting.n_stage1 == s1.n_sets  # N counts them all
    ranked = s1.rankings["pruned"].to_list()
    assert ranked == sorted(ranked)  # complete sets rank above every pruned one
    assert r.winner.set_index in s1.order[: r.fidelity.k].tolist() and not s1.pruned[r.winner.set_index]
    rec = json.loads(r.summary()["search"])
    assert rec["method"] == "tpe" and rec["trials"] == 40 and rec["pruned"] == s1.n_pruned
    assert rec["evaluated"] == 40 and rec["proposals"] >= 40
    for p in s1.params:  # within the searched space, constraint satisfied
        assert 2 <= p["fast"] <= 60 and 10 <= p["slow"] <= 300
        assert p["fast"] < p["slow"] and p["side"] in ("long", "both")


@pytest.mark.parametrize("method", ["random", "qmc", "cmaes"])
def test_each_sampler_searches_continuous_and_log_ranges(method):
    ds = small_dataset(symbols=1, days=3, seed=7)
    spec = resolve("trend_vol_target").with_space({
        "fast": {"low": 5, "high": 40}, "slow": {"low": 50, "high": 400},
        "vol_span": [30], "max_bars": {"low": 50, "high": 2000, "log": True},
    })
    s1 = run_stage1(ds, spec, small_config(search=method, trials=24, batch_size=8))
    assert s1.n_sets == 24 and s1.search.method == method
    vols = np.array([p["target_vol"] for p in s1.params])
    assert ((vols >= 0.001) & (vols <= 0.1)).all() and len(set(vols.tolist())) == 24  # continuous
    bars = np.array([p["max_bars"] for p in s1.params])
    assert ((bars >= 50) & (bars <= 2000)).all() and all(isinstance(b, int) for b in bars.tolist())
    again = run_stage1(ds, spec, small_config(search=method, trials=24, batch_size=8))
    assert again.params == s1.params  # seeded


def test_a_timeout_stops_between_batches_with_a_prefix_of_the_untimed_trials():
    spec = MA_SPACE

    def score(sets):
        v = np.array([-(p["fast"] - 20) ** 2 - (p["slow"] - 100) ** 2 / 10 for p in sets], dtype=np.float64)
        return BatchScores(v, np.zeros(len(sets), dtype=bool))

    ticks = iter(range(10_000))
    full, t_full = run_search(spec, resolve_search(spec, small_config(search="tpe", trials=60, batch_size=10)), score)
    timed = small_config(search="tpe", trials=60, batch_size=10, timeout=25)
    cut, t_cut = run_search(spec, resolve_search(spec, timed), score, clock=lambda: float(next(ticks)))
    assert t_full.stop == "trials" and t_cut.stop == "timeout"
    assert 0 < len(cut) < len(full) and cut == full[: len(cut)]


def test_auto_uses_the_grid_when_small_and_tpe_otherwise():
    assert resolve_search(MA, OptimizeConfig()).method == "grid"
    assert resolve_search(MA, OptimizeConfig(trials=10_000)).method == "grid"  # the budget covers the grid
    assert resolve_search(MA, OptimizeConfig(timeout=5)).method == "tpe"
    big = resolve("ma_cross").with_grid({"fast": range(2, 400), "slow": range(5, 2000)}).with_space(SPACE)
    s = resolve_search(big, OptimizeConfig())
    assert s.method == "tpe" and s.trials == AUTO_TRIALS and s.requested == "auto"


def test_bad_search_input_is_one_clear_error_naming_the_setting():
    with pytest.raises(ConfigError, match="field 'search'.*unknown sampler"):
        OptimizeConfig(search="bayes")
    with pytest.raises(ConfigError, match="field 'trials' must be >= 1, got 0"):
        OptimizeConfig(trials=0)
    with pytest.raises(ConfigError, match="field 'timeout'"):
        OptimizeConfig(search="tpe", timeout=0)
    empty = resolve("ma_cross").with_space({"fast": {"low": 100, "high": 200}, "slow": {"low": 10, "high": 50}})
    with pytest.raises(SpaceError, match="no parameter set satisfying its constraints \\(fast < slow\\)"):
        resolve_search(empty, OptimizeConfig(search="tpe"))
    with pytest.raises(ConfigError, match="'cmaes' searches continuous spaces only.*\\['side'\\]"):
        resolve_search(MA_SPACE, OptimizeConfig(search="cmaes"))
    with pytest.raises(SpaceError, match="parameter 'fast'.*unknown key\\(s\\) \\['hi'\\]"):
        _ = resolve("ma_cross").with_space({"fast": {"low": 2, "hi": 9}}).space
    with pytest.raises(SpaceError, match="unknown parameter\\(s\\) \\['fastt'\\]"):
        _ = resolve("ma_cross").with_space({"fastt": [3]}).space
    with pytest.raises(Exception, match="below its minimum"):
        _ = resolve("ma_cross").with_space({"fast": {"low": 0, "high": 9}}).space


def test_stage1_of_a_search_survives_disk_and_stage2_refuses_another_search(tmp_path):
    ds = small_dataset(symbols=2, days=3, seed=23)
    cfg = _tpe(trials=20)
    s1 = run_stage1(ds, MA_SPACE, cfg)
    back = load_stage1(save_stage1(s1, tmp_path / "stage1"))
    assert back.params == s1.params and back.pruned.tolist() == s1.pruned.tolist()
    assert back.search == s1.search and back.trace.batch.tolist() == s1.trace.batch.tolist()
    assert run_stage2(ds, MA_SPACE, back, cfg).winner.params in s1.params
    with pytest.raises(ValueError, match="another search"):
        run_stage2(ds, MA_SPACE, back, cfg.with_(trials=21))


def test_report_shows_trace_importances_and_contour(tmp_path):
    ds = small_dataset(symbols=2, days=3, seed=23)
    r = optimize(ds, MA_SPACE, _tpe(trials=60))
    page = build_report([r], tmp_path).text()
    for alt in ("search trace", "parameter importances", "objective over the two most important parameters"):
        assert re.search(f"<img src='data:image/png;base64,[^']+' alt='{alt}'>", page), alt  # inline
    assert "pruned early" in page and "tpe, trials=60" in page
    from lq_engine.optimize.search_report import importances

    imp = importances(r.stage1, MA_SPACE.schema)
    assert set(imp) == {"fast", "slow", "side"} and abs(sum(imp.values()) - 1.0) < 1e-9


def test_random_baseline_is_the_expected_best_of_k_draws():
    s = np.array([1.0, 2.0, 3.0, 4.0])
    assert random_baseline(s, [1])[0] == pytest.approx(2.5)  # the mean
    rng = np.random.default_rng(0)
    draws = rng.choice(s, size=(200_000, 3)).max(axis=1).mean()
    assert random_baseline(s, [3])[0] == pytest.approx(draws, abs=0.01)


SMALL = resolve("ma_cross").with_space(
    {"fast": {"low": 2, "high": 12}, "slow": {"low": 3, "high": 14}, "side": ["long"]})


@pytest.mark.parametrize("method", ["random", "tpe", "qmc", "cmaes"])
def test_every_proposal_is_told_infeasible_repeat_or_its_score_in_order_without_an_optuna_study(method, monkeypatch):
    import optuna

    def no_study(*a, **k):
        raise AssertionError("a search must not build an Optuna study")

    monkeypatch.setattr(optuna, "create_study", no_study)
    told = []
    make = search._proposer

    def spy(settings, space):
        proposer = make(settings, space)
        tell = proposer.tell

        def record(x, values, state):
            told.append((space.decode(space.canonical(x)), values.copy(), state.copy()))
            tell(x, values, state)

        proposer.tell = record
        return proposer

    monkeypatch.setattr(search, "_proposer", spy)

    def score(sets):  # odd fast: pruned with its running score
        v = np.array([-(p["fast"] - 5) ** 2 - (p["slow"] - 11) ** 2 for p in sets], dtype=np.float64)
        return BatchScores(v, np.array([p["fast"] % 2 == 1 for p in sets]))

    settings = resolve_search(SMALL, small_config(search=method, trials=60, batch_size=10))
    params, trace = run_search(SMALL, settings, score)
    assert trace.proposals == len(params) + trace.repeats + trace.infeasible
    assert sum(len(v) for _, v, _ in told) == trace.proposals  # every proposal told, batch by batch
    known: dict[tuple, float] = {}
    order = []
    n_bad = n_repeat = 0
    for sets, values, state in told:
        for p, v, st in zip(sets, values.tolist(), state.tolist()):
            key = (p["fast"], p["slow"])
            if p["fast"] >= p["slow"]:
                assert (v, st) == (INFEASIBLE_SCORE, search.INFEASIBLE)
                n_bad += 1
                continue
            expect = -(p["fast"] - 5) ** 2 - (p["slow"] - 11) ** 2
            assert v == expect and st == (search.PRUNED if p["fast"] % 2 else search.COMPLETE)
            if key in known:
                n_repeat += 1
            else:
                known[key] = v
                order.append(p)
    assert order == params  # evaluated in the order proposed, each once
    assert (n_bad, n_repeat) == (trace.infeasible, trace.repeats)
    assert trace.infeasible > 0 and len(params) >= 30
    again, _ = run_search(SMALL, settings, score)
    assert again == params  # seeded
