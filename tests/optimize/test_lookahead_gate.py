"""The lookahead gate of every optimization (issue 18, Deliver 4): cheats behind a Choice value and
behind a long warm-up are caught on the optimized data, marked everywhere a result is shown and
never clean; honest strategies pass; the winner is re-checked with its exact parameters.

Before the gate, ``optimize`` never checked lookahead: both cheats came out with no lookahead
verdict (the summary had no ``lookahead`` field and ``verdicts`` none of that key)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lq_engine.optimize import build_report, optimize
from lq_engine.optimize import gate as G
from lq_engine.optimize.folds import make_folds
from lq_engine.optimize.inputs import view_of
from lq_engine.optimize.leaderboard import leaderboard_rows, text_table
from lq_engine.optimize.stages import load_stage1, save_stage1
from lq_engine.optimize.verdicts import readings, verdict_line, verdicts
from lq_engine.strategies.registry import load_file, resolve

from optimize.data import MA, small_config, small_dataset

CHEATS = Path(__file__).parent / "cheats"
PREFIX = "lookahead: the decision at bar "


def _cheat(name: str):
    return load_file(CHEATS / f"{name}.py")


@pytest.fixture(scope="module")
def honest():
    return optimize(small_dataset(), MA, small_config())


@pytest.fixture(scope="module")
def choice_cheat():
    return optimize(small_dataset(), _cheat("choice_peek"), small_config())


@pytest.fixture(scope="module")
def warmup_cheat():
    return optimize(small_dataset(), _cheat("warmup_peek"), small_config())


def _marked(result) -> str:
    s = result.summary()
    assert s["lookahead"].startswith(PREFIX), s["lookahead"]
    assert "changed when later bars changed" in s["lookahead"]
    v = verdicts(s)
    assert v[0].key == "lookahead" and v[0].text == s["lookahead"]  # listed first
    assert s["verdicts"].startswith(PREFIX) and s["verdicts"] != "no warning"
    assert result.tables()["summary"]["verdicts"][0].startswith(PREFIX)  # what optimization_winners stores
    assert result.tables()["summary"]["lookahead"][0] == s["lookahead"]
    assert readings(s)[0][0] == "lookahead gate" and readings(s)[0][1] == s["lookahead"]
    return s["lookahead"]


def test_a_cheat_behind_a_choice_value_is_caught_and_never_clean(choice_cheat):
    msg = _marked(choice_cheat)
    assert "'source': 'next'" in msg  # the parameter set that cheats is named
    # left alone, the optimizer picks the cheating value: exactly why the gate must cover every value
    assert choice_cheat.winner.params["source"] == "next"
    assert msg.endswith("[the winner's parameters]")  # the winner's own re-check failed too
    assert not choice_cheat.lookahead.before.ok and not choice_cheat.lookahead.winner.ok


def test_a_cheat_behind_a_long_warm_up_is_caught_on_the_optimized_data(warmup_cheat):
    msg = _marked(warmup_cheat)
    bars = [f.bar for s in warmup_cheat.lookahead.scans for f in s.failures]
    assert bars and min(bars) >= 699  # nothing to see before the 700-bar warm-up ends
    assert "'warm': " in msg


def test_an_honest_shipped_strategy_gets_no_lookahead_verdict(honest):
    s = honest.summary()
    assert s["lookahead"] == "" and honest.lookahead.ok
    assert "lookahead" not in [v.key for v in verdicts(s)]
    assert s["lookahead_sets"] >= 3 and s["lookahead_runs"] > 0  # it really ran
    assert s["lookahead_seconds"] > 0 and honest.timings["gate"] == pytest.approx(s["lookahead_seconds"])
    assert 0 < s["lookahead_share"] < 1
    assert readings(s)[0][1].startswith("clean")


def test_an_honest_portfolio_strategy_passes_the_gate():
    spec = resolve("xs_momentum").with_grid({"lookback": (20, 60), "top": (1,), "every": (5,)})
    cfg = small_config()
    view = view_of(small_dataset(), cfg)
    scan = G.scan_before_stage1(view, make_folds(view.clock.shape[0], cfg), spec, cfg)
    assert scan.ok and scan.runs > 0
    assert {p["short"] for p in G.gate_param_sets(spec, cfg)} == {False, True}  # every Bool value


def test_the_winner_is_rechecked_with_its_exact_parameters(monkeypatch):
    calls = []
    real = G.lookahead_scan

    def spy(strategy, sets, data, **kw):
        calls.append(([dict(p) for p in sets], data, kw))
        return real(strategy, sets, data, **kw)

    monkeypatch.setattr(G, "lookahead_scan", spy)
    r = optimize(small_dataset(), MA, small_config())
    sets, data, kw = calls[-1]
    assert sets == [r.winner.params]
    assert [s.symbol for s in data] == list(view_of(small_dataset(), r.config).symbols)  # every symbol
    assert kw["seed"] == r.config.seed + 1  # other cuts and shuffles than the gate's
    before = [p for c in calls[:-1] for p in c[0]]
    assert r.lookahead.before.n_sets == len(before) and r.lookahead.winner.n_sets == 1


def test_the_winner_recheck_catches_what_the_gate_sets_missed(monkeypatch):
    """The finding: a check of a few sets passes a cheat behind a Choice value, and the optimizer then
    picks that value. With only honest sets before stage 1, the winner's re-check still catches it."""
    spec = _cheat("choice_peek")
    monkeypatch.setattr(G, "gate_param_sets", lambda strategy, config, grid=None: [spec.default_params()])
    r = optimize(small_dataset(), spec, small_config())
    assert r.lookahead.before.ok and r.winner.params["source"] == "next"
    assert r.summary()["lookahead"].startswith(PREFIX)
    assert r.summary()["lookahead"].endswith("[the winner's parameters]")


def test_the_gate_sets_cover_every_choice_value_and_the_grid_extremes():
    spec = _cheat("choice_peek")
    sets = G.gate_param_sets(spec, small_config(), spec.default_grid())
    assert {p["source"] for p in sets} == {"close", "next"}
    for name in ("fast", "slow"):
        vals = [p[name] for p in spec.default_grid()]
        assert min(vals) in {p[name] for p in sets} and max(vals) in {p[name] for p in sets}
    # a project grid reaching past the declared one: its extremes are probed too
    wide = spec.with_grid({"slow": (20, 40, 150)})
    assert 150 in {p["slow"] for p in G.gate_param_sets(wide, small_config(), wide.default_grid())}


def test_cheats_sort_after_clean_results_everywhere(honest, choice_cheat, warmup_cheat, tmp_path):
    rows = leaderboard_rows([choice_cheat, warmup_cheat, honest])
    assert rows[0]["strategy"] == MA.name and rows[0]["verdict"] == verdict_line(honest.summary())
    assert all(r["verdict"].startswith(PREFIX) for r in rows[1:])
    assert float(choice_cheat.summary()["holdout_mean_sharpe"]) > float(honest.summary()["holdout_mean_sharpe"])
    assert PREFIX in text_table(rows)
    html = build_report([choice_cheat, honest], tmp_path).text()
    assert "Lookahead gate" in html and "decision at bar" in html and "first changed bar" in html


def test_the_gate_travels_with_stage_1_and_an_older_stage_1_is_gated_in_stage_2(choice_cheat, tmp_path):
    s1 = choice_cheat.stage1
    assert s1.lookahead is not None and not s1.lookahead.ok
    back = load_stage1(save_stage1(s1, tmp_path / "stage1"))
    assert back.lookahead == s1.lookahead  # stored with stage 1 (the Dagster path runs stage 2 elsewhere)
    from lq_engine.optimize.run import lookahead_gate

    cfg = choice_cheat.config
    view = view_of(small_dataset(), cfg)
    g = lookahead_gate(view, choice_cheat.plan, replace(s1, lookahead=None), _cheat("choice_peek"),
                       choice_cheat.winner.params, cfg)
    assert not g.before.ok and g.before.n_sets > 0  # a stage 1 without a scan is scanned in stage 2


def test_a_result_without_a_gate_is_not_clean(honest):
    old = replace(honest, lookahead=None)
    s = old.summary()
    assert s["lookahead"] == G.NOT_CHECKED and verdicts(s)[0].key == "lookahead"
