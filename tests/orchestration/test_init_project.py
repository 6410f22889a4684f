"""`lq init DIR`: the project it writes, found from inside it, and never written over."""

from pathlib import Path

import pytest

from lq_assets.cli.main import main
from lq_engine.authoring.scaffold import ProjectExistsError, init_project
from lq_engine.project import CHECKOUT_ROOT, find_project


@pytest.fixture(autouse=True)
def _no_project_env(monkeypatch):
    for var in ("LQ_PROJECT", "LQ_CONFIG", "LQ_DATA_DIR", "LQ_DAGSTER_HOME"):
        monkeypatch.delenv(var, raising=False)


def test_init_writes_a_project_that_lq_finds_from_inside(tmp_path, monkeypatch, capsys):
    proj = tmp_path / "research"
    assert main(["init", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "wrote luminaquant.toml" in out and f"project ready in {proj}" in out
    assert (proj / "luminaquant.toml").read_text() == (CHECKOUT_ROOT / "luminaquant.toml").read_text()
    assert (proj / "workspace.yaml").read_text() == (CHECKOUT_ROOT / "workspace.yaml").read_text()
    assert (proj / "dagster_home" / "dagster.yaml").read_text() == \
        (CHECKOUT_ROOT / "dagster_home" / "dagster.yaml").read_text()
    example = (proj / "strategies" / "trend_pullback.py").read_text()
    assert "import lq_engine.api as lq" in example and "class TrendPullback(lq.Strategy)" in example
    assert (proj / "tests" / "test_strategy_trend_pullback.py").is_file()
    assert "/data/" in (proj / ".gitignore").read_text()

    monkeypatch.chdir(proj / "strategies")
    found = find_project()
    assert found.root == proj and found.data_dir == proj / "data" and found.dagster_home == proj / "dagster_home"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LQ_PROJECT", str(proj))
    assert find_project().root == proj


def test_init_never_writes_over_a_project(tmp_path, capsys):
    proj = tmp_path / "p"
    init_project(proj)
    (proj / "luminaquant.toml").write_text("# mine\n")
    assert main(["init", str(proj)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lq init: error: {proj} already holds a project (luminaquant.toml); nothing was written"]
    assert (proj / "luminaquant.toml").read_text() == "# mine\n"

    half = tmp_path / "half"  # any file of a project already there: nothing is written
    (half / "strategies").mkdir(parents=True)
    (half / "strategies" / "trend_pullback.py").write_text("# mine\n")
    with pytest.raises(ProjectExistsError, match="trend_pullback.py exists"):
        init_project(half)
    assert sorted(p.name for p in half.rglob("*")) == ["strategies", "trend_pullback.py"]
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ProjectExistsError, match="is not a folder"):
        init_project(afile)


def test_the_checkout_is_the_default_project(tmp_path, monkeypatch):
    monkeypatch.chdir(Path("/"))
    assert find_project().root == CHECKOUT_ROOT
