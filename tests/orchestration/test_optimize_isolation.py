"""Issue 20 #18: one failing strategy stopped `lq optimize --strategy A B` (and `lq demo`) for every
strategy after it: the first failure ended the command (exit 1) and B never ran. Now a failure is
named in one line (strategy and reason), the other strategies run and write their results as usual
(identical to a run of their own), the leaderboard marks the failed one FAILED, and the exit code
says some failed (``PARTIAL_FAILURE``; 1 when every strategy failed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lq_assets.cli.leaderboard import failed_rows
from lq_assets.cli.optimize import PARTIAL_FAILURE, Failures
from tests.orchestration.live import BIN
from tests.orchestration.project import lq, new_project, small_bars

BAD = '''"""Raises in decide (issue 20 #18)."""

import lq_engine.api as lq


class Bad(lq.Strategy):
    """Raises from the fifth bar on."""

    fast = lq.Int(2, 50, grid=(5, 10))

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        if i > 3:
            raise ValueError("bad strategy: no signal here")
        return 0.0
'''

# two symbols, 2011-2013 of the bundled daily bars, a seeded sample of 8 sets: a quick optimization
TOML = ('[universes.us_stocks_daily]\nsymbols = ["AAPL", "MSFT"]\ntimeframe = "1d"\ncalendar = "equities"\n\n'
        "[optimize]\nn_folds = 2\ntop_k_min = 3\ntop_k_max = 4\naudit_size = 2\nsample_size = 8\nseed = 5\n")


def _optimize(project: Path, *strategies: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LQ_DATA_DIR", "LQ_DAGSTER_HOME", "DAGSTER_HOME", "LQ_CONFIG")}
    env["LQ_PROJECT"] = str(project)
    return subprocess.run([str(BIN / "lq"), "optimize", "--strategy", *strategies], env=env, cwd=project,
                          capture_output=True, text=True, timeout=900)


def _stored(project: Path, strategy: str) -> dict[str, str]:
    """Every stored table of the strategy's result (wall-clock figures left out), as text, read now."""
    from lq_assets.optimize.settings import stage_dir
    from lq_engine.data.paths import DataPaths
    from lq_engine.optimize import load_result

    result = load_result(stage_dir(DataPaths(project / "data"), "us_stocks_daily", strategy))
    tables = {name: repr(df.to_dicts()) for name, df in result.tables().items()}
    return {**tables, **{f"summary.{k}": repr(v) for k, v in result.tables()["summary"].row(0, named=True).items()}}


@pytest.mark.slow
def test_a_failing_strategy_does_not_stop_the_others(tmp_path, monkeypatch):
    monkeypatch.setenv("LQ_NATIVE_BACKEND", "numba")  # 'auto' times the backends: the same figures, another name
    project = new_project(tmp_path, TOML, {"bad": BAD})
    lq(["ingest", str(small_bars(tmp_path / "bars.parquet"))], project)

    both = _optimize(project, "bad", "ma_cross")  # bad first: before, ma_cross never ran
    out = both.stdout + both.stderr
    assert both.returncode == PARTIAL_FAILURE, out[-4000:]
    failed = [line for line in both.stderr.splitlines() if "strategy bad failed" in line]
    assert len(failed) == 1 and "bad strategy: no signal here" in failed[0], both.stderr[-3000:]
    line = next(k for k, ln in enumerate(BAD.splitlines(), 1) if "raise ValueError" in ln)  # issue 21 #4: where
    assert (f"bad.py, line {line}: strategy 'bad': decide raised ValueError: bad strategy: no signal here at bar 4 ("
            in failed[0] and "with parameters {'fast': " in failed[0]), failed[0]
    assert "1 of 2 strategies failed" in both.stderr
    board = both.stdout.split("Leaderboard", 1)[1]
    assert any("bad" in line and "FAILED" in line and "no signal here" in line for line in board.splitlines()), board
    assert any(line.split()[1:2] == ["ma_cross"] and "FAILED" not in line for line in board.splitlines()), board
    with_bad = _stored(project, "ma_cross")  # read before the solo run replaces it

    solo = _optimize(project, "ma_cross")
    assert solo.returncode == 0, (solo.stdout + solo.stderr)[-4000:]
    alone = _stored(project, "ma_cross")
    assert with_bad.keys() == alone.keys() and "summary" in alone
    differ = {k: (with_bad[k], alone[k]) for k in alone if with_bad[k] != alone[k]}
    assert not differ, differ  # the same figures as a run without the failing strategy
    # every strategy failed (exit 1, no report): test_optimize_stops (a strategy stopped by --timeout)


class _FakeWorker:
    """``launch.RunWorker`` without a process: each strategy does what ``plan`` says."""

    plan: dict[str, object] = {}
    killed: list[str] = []
    ran: list[str] = []

    def run(self, instance, job_name, limit_s, what, partition_key, **kwargs):
        from lq_assets.partitions import split_optimize_key

        name = split_optimize_key(partition_key)[1]
        self.ran.append(name)
        outcome = self.plan.get(name, "ok")
        if isinstance(outcome, BaseException):
            raise outcome
        return f"run of {name}"

    def kill(self, instance, why):
        self.killed.append(why)

    def close(self):
        pass


@pytest.fixture
def fake_launch(monkeypatch):
    """``optimize_in_dagster`` with the fake worker, no instance and a report run that just says so."""
    import lq_assets.datasets.lookup as lookup
    import lq_assets.launch as launch
    import lq_assets.partitions as partitions

    class Hash:
        value = "h"

    monkeypatch.setattr(partitions, "register_strategies", lambda instance: None)
    monkeypatch.setattr(lookup, "_latest", lambda instance, dataset: {"content_hash": Hash()})
    monkeypatch.setattr(launch, "RunWorker", _FakeWorker)
    monkeypatch.setattr(launch, "_run", lambda job_name, instance, **kw: f"run of {job_name}")
    _FakeWorker.plan, _FakeWorker.killed, _FakeWorker.ran = {}, [], []
    return launch.optimize_in_dagster


def test_the_loop_goes_on_after_a_failure(fake_launch):
    from concurrent.futures.process import BrokenProcessPool

    from lq_engine.errors import RunFailedError, UsageError

    _FakeWorker.plan = {"a": RunFailedError("run 1 of optimize failed: ValueError: boom"),
                        "c": BrokenProcessPool("gone"), "d": UsageError("a contract")}
    seen: list[tuple[str, str]] = []
    runs = fake_launch(None, "ds", ["a", "b", "c", "d", "e"], on_failure=lambda s, e: seen.append((s, str(e))))
    assert _FakeWorker.ran == ["a", "b", "c", "d", "e"]
    assert runs == ["run of b", "run of e", "run of build_report"]
    assert [s for s, _ in seen] == ["a", "c", "d"]
    assert seen[0][1] == "run 1 of optimize failed: ValueError: boom" and seen[2][1] == "a contract"
    assert "died with its worker process" in seen[1][1] and _FakeWorker.killed == ["its worker process died"]

    _FakeWorker.plan = {"a": RunFailedError("x"), "b": RunFailedError("y")}  # all failed: no report
    assert fake_launch(None, "ds", ["a", "b"], on_failure=lambda s, e: None) == []


def test_two_workers_run_each_strategy_once_from_both_ends(fake_launch):
    """``ahead`` (lq demo): a second worker runs the strategies from the last one backwards while the
    first runs them from the first; each strategy runs once, on one of them, a failure on either is
    reported, and the results keep the strategies' order."""
    import threading

    from lq_engine.errors import RunFailedError

    both_busy = threading.Barrier(2, timeout=10)  # each worker's first run waits until the other has one too
    by: dict[str, list[str]] = {}

    class Worker(_FakeWorker):
        def __init__(self, name):
            self.name, by[name] = name, []

        def run(self, instance, job_name, limit_s, what, partition_key, **kwargs):
            from lq_assets.partitions import split_optimize_key

            if not by[self.name]:
                both_busy.wait()
            by[self.name].append(split_optimize_key(partition_key)[1])
            return super().run(instance, job_name, limit_s, what, partition_key, **kwargs)

    names = ["a", "b", "c", "d", "e", "f"]
    _FakeWorker.plan = {"b": RunFailedError("run 2 failed: boom"), "e": RunFailedError("run 5 failed: bang")}
    seen: list[str] = []
    runs = fake_launch(None, "ds", names, on_failure=lambda s, e: seen.append(s),
                       worker=Worker("first"), ahead=Worker("ahead"))
    assert by["first"][0] == "a" and by["ahead"][0] == "f", by
    assert sorted(by["first"] + by["ahead"]) == names, by  # each once
    assert by["first"] == sorted(by["first"]) and by["ahead"] == sorted(by["ahead"], reverse=True), by
    assert sorted(seen) == ["b", "e"]
    assert runs == ["run of a", "run of c", "run of d", "run of f", "run of build_report"]

    _FakeWorker.plan = {"e": RunFailedError("bang")}  # no on_failure: a failure on the second worker is raised
    with pytest.raises(RunFailedError, match="bang"):
        fake_launch(None, "ds", names, worker=_FakeWorker(), ahead=_FakeWorker())


def test_without_on_failure_or_on_ctrl_c_the_loop_stops(fake_launch):
    from lq_engine.errors import RunFailedError

    _FakeWorker.plan = {"a": RunFailedError("boom")}
    with pytest.raises(RunFailedError, match="boom"):  # the library's call: the first failure is raised
        fake_launch(None, "ds", ["a", "b"])
    assert _FakeWorker.ran == ["a"]
    for stop in (KeyboardInterrupt("signal 15"), SystemExit(1)):  # Ctrl-C and SIGTERM stop everything
        _FakeWorker.plan, _FakeWorker.ran = {"a": stop}, []
        with pytest.raises(type(stop)):
            fake_launch(None, "ds", ["a", "b"], on_failure=lambda s, e: pytest.fail(f"{s} reported"))
        assert _FakeWorker.ran == ["a"]


def test_exit_codes_and_failed_rows(capsys):
    f = Failures("optimize")
    assert f.exit_code(2) == 0
    f("bad", RuntimeError("run 1 of optimize failed: ValueError: boom"))
    assert capsys.readouterr().err == ("lq optimize: error: strategy bad failed: "
                                       "run 1 of optimize failed: ValueError: boom\n")
    assert f.exit_code(2) == PARTIAL_FAILURE and f.exit_code(1) == 1
    assert "every strategy failed" not in capsys.readouterr().err

    rows = [{"dataset": "d", "strategy": "old", "winner": "x=1", "verdict": ""},
            {"dataset": "d", "strategy": "ok", "winner": "x=2", "verdict": ""},
            {"dataset": "e", "strategy": "new", "winner": "x=3", "verdict": ""}]
    out = failed_rows(rows, {"new": "boom", "old": "bang"}, "d")
    assert [(r["dataset"], r["strategy"]) for r in out] == [("d", "ok"), ("e", "new"), ("d", "new"), ("d", "old")]
    assert out[2] == {"dataset": "d", "strategy": "new", "winner": "-", "verdict": "FAILED: boom"}
    assert out[3]["winner"] == "x=1"
    assert out[3]["verdict"].startswith("FAILED in this run") and "bang" in out[3]["verdict"]
    assert failed_rows(rows, {}, "d") == rows


def _step_failure(exc: BaseException):
    """Dagster's record of a step failing on ``exc``, as ``launch._run`` reads it: its
    ``DagsterExecutionStepExecutionError`` wrapping ``exc`` (and ``exc``'s own causes)."""
    import sys

    from dagster._core.errors import DagsterExecutionStepExecutionError
    from dagster._utils.error import serializable_error_info_from_exc_info

    try:
        try:
            raise exc
        except BaseException as e:
            raise DagsterExecutionStepExecutionError("Error occurred while executing op", user_exception=e,
                                                     original_exc_info=sys.exc_info(), step_key="s", op_name="s",
                                                     op_def_name="s") from e
    except DagsterExecutionStepExecutionError:
        return serializable_error_info_from_exc_info(sys.exc_info())


def test_a_failed_run_names_the_error_the_strategy_raised_not_its_bare_cause():
    """Issue 21 #4: ``lq optimize`` printed "ValueError: The truth value of an array with more than
    one element is ambiguous ...", the innermost cause under the ``DecideError`` that names the file,
    line, bar and parameter set. Now the step's own error, on one line (a table cell, a log line)."""
    from lq_assets.launch import _root_message, step_reason
    from lq_engine.strategies.decide_errors import DecideError, DecideFailure

    located = DecideError(DecideFailure("rot", "/p/strategies/rot.py", "ValueError: The truth value of an array",
                                        {"lookback": 10}, 37, 1_704_069_420_000_000_000, 17, "decide",
                                        "if ind.momentum[:, i] > 0.0:"))
    try:
        try:
            raise ValueError("The truth value of an array")
        except ValueError as e:
            raise located from e
    except DecideError as e:
        info = _step_failure(e)
    assert info.cause.cause is not None  # (the bare ValueError is there, under it)
    where = ("/p/strategies/rot.py, line 17: strategy 'rot': decide raised ValueError: The truth value of an array "
             "at bar 37 (2024-01-01T00:37:00Z) with parameters {'lookback': 10}")
    assert _root_message(info) == where + "\n    if ind.momentum[:, i] > 0.0:"
    assert step_reason(info) == where + "; if ind.momentum[:, i] > 0.0:"  # what lq optimize prints, on one line
    assert step_reason(_step_failure(ValueError("boom"))) == "ValueError: boom"  # a bug keeps its type
