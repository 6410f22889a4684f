"""Every user-facing error is an ``LQError`` naming the thing at fault (issue 19, item 7).

Two halves:

- bad input given to public entry points (too little data for the folds, a bad ``Costs``, a bad
  ``ExecutionConfig``, a bad optimize setting, a bad universe, a bad ``LQ_*`` variable, ...) raises
  an ``LQError`` whose message names the field, argument or variable, and the ``lq`` CLI prints it as
  one line with exit code 2 (no traceback);
- a scan of lq_engine's source: a bare ``raise ValueError/TypeError/KeyError/RuntimeError`` is
  allowed only in the internal invariants listed in ``INTERNAL`` below (each with the reason no user
  input reaches it), so a new bare raise in user-facing code fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lq_engine.data.frozen import UniverseSpec
from lq_engine.data.samples import generate_synthetic
from lq_engine.data.schema import periods_per_year
from lq_engine.errors import EnvVarError, InputError, LQError, NotFoundError
from lq_engine.execution.config import Costs, ExecutionConfig
from lq_engine.execution.sizing import BracketSpec
from lq_engine.kernels.threads import plan_threads
from lq_engine.optimize.config import ConfigError, OptimizeConfig
from lq_engine.optimize.folds import make_folds
from lq_engine.optimize.pool import TaskRunner
from lq_engine.project import CHECKOUT_ROOT

# --- user-facing paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("make, builtin, named", [
    # too little data for the fold plan: the settings to change are named, and what to do
    (lambda: make_folds(60, OptimizeConfig()), ValueError,
     r"min_window_bars=50; use more data or a larger holdout_fraction"),
    (lambda: make_folds(400, OptimizeConfig(holdout_fraction=0.2, n_folds=6)), ValueError,
     r"6 folds.*min_window_bars=50; use more data"),
    (lambda: Costs(fee=0.7), ValueError, r"Costs\.fee must be a finite fraction in \[0, 0\.5\), got 0\.7"),
    (lambda: Costs(slippage=float("nan")), ValueError, r"Costs\.slippage"),
    (lambda: ExecutionConfig(cost_basis="gross"), ValueError, r"ExecutionConfig\.cost_basis must be one of"),
    (lambda: ExecutionConfig(spread_bps=-1.0), ValueError, r"ExecutionConfig\.spread_bps"),
    (lambda: ExecutionConfig(liquidity_cap=2.0), ValueError, r"ExecutionConfig\.liquidity_cap"),
    (lambda: BracketSpec(stop_loss=1.5), ValueError, r"BracketSpec\.stop_loss"),
    # an optimize setting, as luminaquant.toml or a run config gives it: the nested field is named
    (lambda: OptimizeConfig.from_mapping({"execution": {"cost_basis": "gross"}}), ValueError,
     r"field 'execution'.*cost_basis"),
    (lambda: OptimizeConfig.from_mapping({"costs": {"fee": 0.9}}), ValueError, r"field 'costs'.*Costs\.fee"),
    (lambda: OptimizeConfig.from_mapping({"n_foldz": 3}), ValueError, r"'n_foldz' \(did you mean 'n_folds'\?\)"),
    # a universe: its name, and the timeframe or calendar at fault
    (lambda: UniverseSpec("crypto", (), "1m"), ValueError, r"universe 'crypto': no symbols"),
    (lambda: UniverseSpec("crypto", ("BTC",), "5x"), ValueError, r"timeframe '5x' is not of the form"),
    (lambda: periods_per_year("1d", "lunar"), ValueError, r"calendar 'lunar' is not one of"),
    (lambda: generate_synthetic(1, 1, 7, start="2024-13-01"), ValueError, r"start '2024-13-01'"),
    (lambda: generate_synthetic(0, 1, 7), ValueError, r"symbols=0"),
    (lambda: TaskRunner(workers=0), ValueError, r"workers must be >= 1, got 0"),
])
def test_bad_input_raises_an_lqerror_naming_it(make, builtin, named) -> None:
    with pytest.raises(LQError, match=named) as e:
        make()
    assert isinstance(e.value, builtin)  # `except ValueError` callers keep working


def test_folds_too_short_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"folds: holdout of 12 bars \(0\.2 of 60\) is below min_window_bars=50"):
        make_folds(60, OptimizeConfig())


def test_bad_env_var_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LQ_THREADS", "many")
    with pytest.raises(EnvVarError, match=r"LQ_THREADS must be a positive integer, got 'many'"):
        plan_threads(workers=1, cores=4)


def test_not_found_reads_as_its_message() -> None:
    e = NotFoundError("'ETH' is not in frozen dataset crypto (has ['BTC'])")
    assert isinstance(e, KeyError) and isinstance(e, LQError)
    assert str(e) == "'ETH' is not in frozen dataset crypto (has ['BTC'])"  # not quoted again as KeyError does


def test_cli_prints_an_engine_error_as_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """An LQError raised deep in the engine takes the CLI's one-line path: exit code 2, no traceback."""
    import lq_assets.cli.generate as generate
    from lq_assets.cli.main import main

    monkeypatch.setattr(generate, "run", lambda args: make_folds(60, OptimizeConfig()))
    assert main(["generate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lq generate: error: folds: holdout of 12 bars")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_input_error_is_an_lqerror() -> None:
    assert issubclass(InputError, LQError) and issubclass(InputError, ValueError)


# --- no bare raise outside the internal invariants ------------------------------------------------

BARE = {"ValueError", "TypeError", "KeyError", "RuntimeError"}

# path under lq_engine/ -> (functions whose bare raises are internal invariants, why no user input reaches them)
INTERNAL: dict[str, tuple[tuple[str, ...], str]] = {
    "data/objects.py": (("_plain",), "json.dumps's default hook: the json protocol requires TypeError"),
    "optimize/stages.py": (("_plain",), "json.dumps's default hook: the json protocol requires TypeError"),
    "core/bus.py": (("MessageBus.subscribe", "MessageBus.unsubscribe", "MessageBus.route"),
                    "topics and subscriptions are the engine's own code, never user input"),
    "core/cache.py": (("RuntimeCache.market", "RuntimeCache.order", "RuntimeCache.restore"),
                      "lookups of the engine's own ids; restore reads the engine's own snapshot after "
                      "its version is checked (SnapshotVersionError)"),
    "core/events.py": (("BarBatch.__post_init__",), "batches are built by the engine's feeds"),
    "core/sequencer.py": (("Sequencer.__init__", "Sequencer.next_block"), "ids the engine asks for itself"),
    "execution/venue.py": (("SimulatedVenue.submit", "SimulatedVenue.cancel"),
                           "orders the trader itself created and tracks"),
    "kernels/backends/native.py": (("_sources", "NativeLib.sweep", "NativeLib.sweep_groups"),
                                   "backend names checked by load(); arrays built by compile_sweep"),
    "kernels/rules.py": (("check_sweep_shapes",), "the shapes of arrays compile_sweep builds"),
    "kernels/metrics.py": (("finalize", "pbo_from_group_sums", "probability_of_backtest_overfitting"),
                           "shape checks of the metric library; the optimizer sizes its inputs first "
                           "(overfit.pbo returns NaN when the data is too small)"),
    "optimize/objectives.py": (("spearman",), "two rankings of the same candidates"),
    "optimize/overfit.py": (("per_timestamp",), "timestamps and returns of the same windows"),
    "optimize/replay_stage.py": (("choose_winner",), "stage 2 always has a candidate (stage 1 keeps >= 1)"),
    "live/divergence.py": (("first_divergence",), "paper and replay decisions over the same bars"),
    "live/trader.py": (("PaperTrader._end_of_bar",), "the accounting invariant of the paper trader"),
}


def bare_raises(root: Path) -> list[tuple[str, str, str, int]]:
    """(path under root, enclosing Class.function, exception, line) of every ``raise <builtin>``."""
    out = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()

        def walk(node: ast.AST, scope: str) -> None:
            for ch in ast.iter_child_nodes(node):
                s = scope
                if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    s = f"{scope}.{ch.name}" if scope else ch.name
                if isinstance(ch, ast.Raise) and ch.exc is not None:
                    e = ch.exc.func if isinstance(ch.exc, ast.Call) else ch.exc
                    if isinstance(e, ast.Name) and e.id in BARE:
                        out.append((rel, s, e.id, ch.lineno))
                walk(ch, s)

        walk(ast.parse(p.read_text(), filename=str(p)), "")
    return out


def test_no_bare_raise_outside_the_internal_invariants() -> None:
    found = bare_raises(CHECKOUT_ROOT / "lq_engine")
    stray = [f"lq_engine/{p}:{line} ({fn}): raise {exc}" for p, fn, exc, line in found
             if fn not in INTERNAL.get(p, ((), ""))[0]]
    assert not stray, ("a bare raise in code a user can reach: raise an LQError subclass naming the thing at "
                       "fault (lq_engine/errors.py: InputError, InputTypeError, NotFoundError, EnvVarError, "
                       "or the module's own), or, for an internal invariant, add it to INTERNAL with the "
                       "reason:\n" + "\n".join(stray))


def test_the_allow_list_has_no_stale_entry() -> None:
    """Every function in INTERNAL still raises a bare builtin (so the list stays as short as the code)."""
    found = {(p, fn) for p, fn, _, _ in bare_raises(CHECKOUT_ROOT / "lq_engine")}
    stale = [f"{p}: {fn}" for p, (fns, _) in INTERNAL.items() for fn in fns if (p, fn) not in found]
    assert not stale, stale


def test_the_scan_sees_a_planted_bare_raise(tmp_path: Path) -> None:
    (tmp_path / "user_facing.py").write_text("def f(x):\n    if x < 0:\n        raise ValueError('x')\n")
    assert bare_raises(tmp_path) == [("user_facing.py", "f", "ValueError", 3)]
