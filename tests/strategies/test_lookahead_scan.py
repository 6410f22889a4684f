"""The lookahead scan (``lq_engine.replay.lookahead.lookahead_scan``) and the sets a gate checks
(``gate_sets``): every cheat of tests/strategies/cheats/ is caught on realistic data, every shipped
strategy passes at its gate sets (no false positive), portfolios included."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from lq_engine.data.bars import Bars
from lq_engine.replay.lookahead import (
    LookaheadFailure, LookaheadScan, check_lookahead, default_series, gate_sets, generated_panel, lookahead_scan,
)
from lq_engine.strategies.panel import Panel
from lq_engine.strategies.registry import list_strategies, load_file, resolve

CHEATS = Path(__file__).parent / "cheats"
SINGLE_CHEATS = ["next_close", "next_high", "next_high_low", "centred_ma", "full_zscore", "shifted_ma", "next_volume",
                 "choice_peek", "bool_peek", "long_warmup"]
PORTFOLIO_CHEATS = ["future_rank", "next_close_panel"]


def cheat(name: str):
    return load_file(CHEATS / f"{name}.py")


@lru_cache(maxsize=1)
def bundled() -> tuple[Bars, ...]:
    """The bundled real daily bars (AAPL, FB, GOOG, IBM, MSFT; FB and GOOG start late), one Bars each."""
    import polars as pl

    from lq_engine.data.samples import bundled_daily_path

    df = pl.read_parquet(bundled_daily_path()).sort("symbol", "ts")
    out = []
    for (sym,), g in df.group_by("symbol", maintain_order=True):
        out.append(Bars.from_arrays(sym, g["ts"].to_numpy(), *(g[f].to_numpy() for f in
                                                                 ("open", "high", "low", "close", "volume"))))
    return tuple(out)


def two() -> list[Bars]:
    """IBM (3,270 bars) and FB (196 bars, starting in 2012)."""
    return [s for s in bundled() if s.symbol in ("FB", "IBM")]


@lru_cache(maxsize=1)
def bundled_panel() -> Panel:
    return Panel.from_series(list(bundled()))


@pytest.mark.parametrize("name", SINGLE_CHEATS)
def test_every_single_symbol_cheat_is_caught_on_the_bundled_data(name):
    spec = cheat(name)
    scan = lookahead_scan(spec, gate_sets(spec), list(bundled()))
    assert isinstance(scan, LookaheadScan) and not scan.ok, scan.summary()
    f = scan.failures[0]
    assert isinstance(f, LookaheadFailure) and f.bar < f.cut and f.symbol in {s.symbol for s in bundled()}
    assert scan.message().startswith(f"lookahead: the decision at bar {f.bar} changed when later bars changed (params ")
    assert f"after bar {f.cut - 1}" in scan.message()


@pytest.mark.parametrize("name", SINGLE_CHEATS)
def test_every_single_symbol_cheat_is_caught_on_generated_bars(name):
    spec = cheat(name)
    assert not lookahead_scan(spec, gate_sets(spec), default_series(3_000, seed=11)).ok


@pytest.mark.parametrize("name", PORTFOLIO_CHEATS)
def test_every_portfolio_cheat_is_caught(name):
    spec = cheat(name)
    for data in (bundled_panel(), generated_panel(1_500, 5, seed=3)):
        scan = lookahead_scan(spec, gate_sets(spec), data)
        assert not scan.ok, scan.summary()
        assert scan.failures[0].symbol is None and scan.failures[0].bar < scan.failures[0].cut


def test_a_ranking_by_future_return_is_caught_by_a_field_perturbation_not_only_truncation():
    """Scaling every symbol by one factor keeps a ranking by return: the panel's symbols are scaled by
    alternating factors, so the order changes, and each field is checked on its own."""
    spec = cheat("future_rank")
    scan = lookahead_scan(spec, gate_sets(spec), generated_panel(1_500, 5, seed=5), stop_at_first=False)
    assert scan.failures and len({f.params["horizon"] for f in scan.failures}) == 2


def test_a_cheat_behind_one_choice_value_passes_at_the_defaults_and_is_caught_by_the_gate_sets():
    """The finding: `lq check lookahead` checked the defaults only, `lq strategy check` three early grid
    sets; the 'peek' mode was never run, and the optimizer then picks it."""
    spec = cheat("choice_peek")
    data = two()
    assert lookahead_scan(spec, [spec.default_params()], data).ok
    assert check_lookahead(spec, None, default_series(), cuts=8).ok  # the old check: clean
    sets = gate_sets(spec)
    assert {p["mode"] for p in sets} == {"trend", "revert", "peek"}
    scan = lookahead_scan(spec, sets, data, stop_at_first=False)
    assert scan.failures and {f.params["mode"] for f in scan.failures} == {"peek"}


def test_a_cheat_behind_a_bool_is_caught_by_the_gate_sets():
    spec = cheat("bool_peek")
    assert lookahead_scan(spec, [spec.default_params()], two()).ok
    scan = lookahead_scan(spec, gate_sets(spec), two(), stop_at_first=False)
    assert scan.failures and {f.params["confirm"] for f in scan.failures} == {True}


def test_a_cheat_with_a_700_bar_warm_up_passes_the_old_600_bar_check_and_is_caught():
    spec = cheat("long_warmup")
    assert check_lookahead(spec, None, cuts=8).ok  # the old check's fixed 600-bar series: never trades
    scan = lookahead_scan(spec, gate_sets(spec), default_series(3_000))
    assert not scan.ok and scan.failures[0].bar >= 699


@pytest.mark.parametrize("seed", range(8))
def test_a_next_bar_high_is_caught_on_every_seed(seed):
    """The finding: the old check saw ``bars.high[i + 1]`` in 2 of its 24 runs. Cuts right after
    decision changes, and NaN behind a truncated array, make it certain."""
    spec = cheat("next_high")
    scan = lookahead_scan(spec, [{"k": 0.01}], default_series(2_000, seed=seed), seed=seed)
    assert not scan.ok, scan.summary()


def test_a_read_past_the_end_is_deterministic():
    """Unguarded ``bars.high[i + 1]``: the compiled read past the end of a truncated array sees NaN
    (padded in memory), so two scans agree to the bar."""
    spec = cheat("next_high")
    a = lookahead_scan(spec, gate_sets(spec), two(), stop_at_first=False)
    b = lookahead_scan(spec, gate_sets(spec), two(), stop_at_first=False)
    assert a.failures == b.failures and a.runs == b.runs


@pytest.mark.parametrize("name", list_strategies())
def test_every_shipped_strategy_passes_at_its_gate_sets(name):
    """No false positive: decisions are compared exactly (NaN equals NaN) and honest indicators give
    bit-identical values on truncated and perturbed data. Bundled bars (late starts, a 196-bar symbol)
    and a generated universe with gaps."""
    spec = resolve(name)
    sets = gate_sets(spec)
    data = [bundled_panel(), generated_panel(1_500, 5, seed=2)] if spec.is_portfolio else \
        [two(), default_series(2_000, seed=5)]
    for d in data:
        scan = lookahead_scan(spec, sets, d, stop_at_first=False)
        assert scan.ok, scan.summary()
        assert scan.runs > len(sets) * 16


def test_gate_sets_cover_choices_bools_extremes_and_the_longest_warm_up():
    spec = resolve("ma_cross")
    sets = gate_sets(spec, seed=1)
    assert sets == gate_sets(spec, seed=1)  # deterministic
    assert {p["side"] for p in sets} == {"long", "short", "both"}
    fast = [p["fast"] for p in sets]
    slow = [p["slow"] for p in sets]
    assert min(fast) == 5 and max(fast) == 49 and min(slow) == 20 and max(slow) == 200
    assert {"fast": 49, "slow": 200} in [{"fast": p["fast"], "slow": p["slow"]} for p in sets]
    assert all(p["fast"] < p["slow"] for p in sets)
    assert len({tuple(sorted(p.items())) for p in sets}) == len(sets)
    xs = gate_sets(resolve("xs_momentum"))
    assert {p["short"] for p in xs} == {False, True} and max(p["lookback"] for p in xs) == 250


def test_bad_data_is_refused_naming_the_strategy():
    from lq_engine.authoring.declare import StrategyError

    with pytest.raises(StrategyError, match="xs_momentum.*portfolio strategy"):
        lookahead_scan("xs_momentum", [resolve("xs_momentum").default_params()], default_series(100))
    with pytest.raises(TypeError, match="ma_cross"):
        lookahead_scan("ma_cross", [resolve("ma_cross").default_params()], np.zeros(10))


def test_a_single_symbol_strategy_on_a_panel_runs_on_each_symbols_bars():
    spec = cheat("next_close")
    scan = lookahead_scan(spec, [{"window": 10}], bundled_panel(), stop_at_first=False)
    assert {f.symbol for f in scan.failures} == {s.symbol for s in bundled()}
