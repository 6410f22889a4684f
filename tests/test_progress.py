"""Progress of long work (issue 21 #7): at most one line every few seconds with the elapsed time and
an ETA from done/total, silent for short work, on the terminal of an ``lq`` command; and a long stage
(ingest, backend selection) reports through it. The clock is injected; the stages run with the
interval lowered to 0 so that they report at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import lq_engine.progress as progress_mod
from lq_engine.progress import CLI_T0_ENV, Progress, duration


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLI_T0_ENV, raising=False)  # pytest may run inside an lq command's environment


def test_lines_rate_limited_with_elapsed_and_eta() -> None:
    lines: list[str] = []
    clock = Clock()
    p = Progress("stage 1", total=10, unit="sets", report=lines.append, every=5.0, clock=clock)
    clock.t += 1.0
    p.advance()  # 1 s in: too early for a line
    assert lines == []
    clock.t += 4.0
    p.advance(note="fold 2")  # 5 s, 2 of 10 done: 2.5 s a set, 8 left
    assert lines == ["stage 1: 2/10 sets, fold 2, 5.0s elapsed, ETA 20.0s"]
    clock.t += 1.0
    p.advance(3)  # 1 s after the last line: rate-limited
    assert len(lines) == 1
    clock.t += 4.0
    p.tick()  # 10 s, 5 of 10: ETA 10 s
    assert lines[-1] == "stage 1: 5/10 sets, fold 2, 10.0s elapsed, ETA 10.0s"
    clock.t += 115.0
    p.advance(5)
    p.finish()
    assert lines[-2:] == ["stage 1: 10/10 sets, fold 2, 2m05s elapsed, ETA 0.0s", "stage 1: done, 10 sets, 2m05s"]


def test_short_work_is_silent_and_no_total_means_no_eta() -> None:
    lines: list[str] = []
    clock = Clock()
    short = Progress("freeze", total=3, report=lines.append, every=5.0, clock=clock)
    short.advance(3)
    short.finish()  # nothing was reported: no closing line either
    assert lines == []
    long = Progress("report", report=lines.append, every=5.0, clock=clock)
    clock.t += 7.5
    long.tick()
    assert lines == ["report: 7.5s elapsed"]  # elapsed always, an ETA only with a total


def test_duration_text() -> None:
    assert [duration(s) for s in (0.04, 59.94, 61, 3599, 3725)] == ["0.0s", "59.9s", "1m01s", "59m59s", "1h02m"]


def test_terminal_lines_only_for_an_lq_command(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    clock = Clock()
    p = Progress("backend_benchmark", total=2, every=0.0, clock=clock)
    p.tick()
    assert capsys.readouterr().out == ""  # not working for an lq command: the terminal is not ours
    monkeypatch.setenv(CLI_T0_ENV, "0")  # the command started at the epoch: a large elapsed figure
    p.tick()
    out = capsys.readouterr().out
    assert re.fullmatch(r"\[lq +\d+\.\ds\] backend_benchmark: 0/2, 0\.0s elapsed\n", out), out


def test_ticking_reports_while_the_body_runs() -> None:
    import threading

    lines: list[str] = []
    seen = threading.Event()

    def report(line: str) -> None:
        lines.append(line)
        seen.set()

    with Progress("compile", report=report, every=0.0).ticking(poll=0.01):
        assert seen.wait(5), "the ticker reported nothing"
    assert lines[0].startswith("compile: ") and "elapsed" in lines[0]
    assert lines[-1].startswith("compile: done, ")


def test_ingest_reports_progress(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lq_engine.data.ingest import ingest_files
    from lq_engine.data.paths import DataPaths
    from tests.data.landing_files import bar_lines, write_csv

    monkeypatch.setattr(progress_mod, "EVERY_S", 0.0)
    paths = DataPaths(tmp_path / "data").ensure()
    files = [write_csv(tmp_path / f"{s}_1m.csv", bar_lines(5)) for s in ("AAA", "BBB")]
    lines: list[str] = []
    ingest_files(files, paths, report=lines.append)
    assert lines[0].startswith("ingest: 1/2 files, AAA_1m.csv, ") and "ETA" in lines[0], lines
    assert any(line.startswith("ingest: 2/2 files, BBB_1m.csv, ") for line in lines), lines
    assert lines[-1].startswith("ingest: done, 2 files, "), lines


def test_backend_selection_reports_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    from lq_engine.prefilter.selection import select_backend

    monkeypatch.setattr(progress_mod, "EVERY_S", 0.0)
    lines: list[str] = []
    sel = select_backend(loops=1, backends=("python",), report=lines.append)
    assert sel.chosen == "python"
    assert any(line.startswith("backend_benchmark: 1/2 steps, python, ") and "ETA" in line for line in lines), lines
    assert lines[-1].startswith("backend_benchmark: done, 2 steps, "), lines


def test_processes_lq_ui_starts_do_not_print_to_its_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon and webserver `lq ui` starts (and the runs they launch) write progress to their
    step logs only: ``start_tied`` leaves ``LQ_CLI_T0`` out of their environment."""
    import os
    import subprocess
    import sys

    from lq_assets.cli.children import reap_watchdog, start_tied

    monkeypatch.setenv(CLI_T0_ENV, "123.0")
    probe = [sys.executable, "-c", f"import os; print(os.environ.get({CLI_T0_ENV!r}), os.environ.get('LQ_PROBE'))"]
    for env in (None, {**os.environ, "LQ_PROBE": "given"}):
        proc = start_tied(probe, env=env, stdout=subprocess.PIPE, text=True)
        out, _ = proc.communicate(timeout=60)
        reap_watchdog(proc)
        assert out.split() == ["None", "None" if env is None else "given"]
