"""`lq report` (issue 21, finding 5): print the report's index and open it in the browser; with no
report yet, one line naming what to run, exit code 2. In this process (setup() stubbed: no logging
handlers or Dagster home), the browser replaced by a recorder."""

from __future__ import annotations

import webbrowser

import pytest

from tests.orchestration.live import lq_in_process


@pytest.fixture
def project(data_paths, monkeypatch):
    from lq_assets.cli import environment

    opened: list[str] = []
    monkeypatch.setattr(environment, "setup", lambda verbose=False: data_paths)
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    return data_paths, opened


def lq_report(capsys, *argv: str) -> tuple[int, str, str]:
    return lq_in_process(capsys, "report", *argv)


def test_lq_report_prints_the_index_and_opens_it_unless_no_open(project, capsys):
    paths, opened = project
    index = paths.report / "index.html"
    rc, out, err = lq_report(capsys, "--no-open")
    assert rc == 2 and out == "" and opened == []
    assert err.startswith("lq report: error: no report yet at ") and "run `lq optimize`" in err, err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback

    index.parent.mkdir(parents=True)
    index.write_text("<!DOCTYPE html><title>report</title>")
    rc, out, err = lq_report(capsys, "--no-open")
    assert rc == 0 and out.strip() == str(index) and opened == [], err
    rc, out, err = lq_report(capsys)
    assert rc == 0 and out.strip() == str(index) and opened == [index.as_uri()], err
