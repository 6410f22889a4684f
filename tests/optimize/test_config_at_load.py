"""luminaquant.toml is checked when it is loaded, before anything runs (issue 21, finding 3): universe
dates, strategy grids and search spaces, each mistake naming the file, the table and the key; every
`lq` verb that works on the project stops on it with one line and exit code 2 before Dagster starts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lq_engine.optimize.config import check_strategy_tables, load_checked_config
from lq_engine.settings import SettingsError, load_project_config
from tests.orchestration.live import lq_in_process

UNIVERSE = """[universes.my_daily]
symbols = ["AAPL"]
timeframe = "1d"
calendar = "equities"
"""


def toml(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "luminaquant.toml"
    f.write_text(text)
    return f


def refused(f: Path, check=load_project_config) -> str:
    with pytest.raises(SettingsError) as e:
        check(f)
    return str(e.value)


# --- universe dates -------------------------------------------------------------------------------

def test_a_non_iso_universe_date_is_refused_at_load_naming_file_table_and_key(tmp_path):
    """The finding: "01/02/2019" passed validation, and the next freeze failed with `ValueError:
    Invalid isoformat string` naming neither file nor key."""
    f = toml(tmp_path, UNIVERSE + 'start = "01/02/2019"\n')
    assert refused(f) == f"{f}: [universes.my_daily] start: '01/02/2019' is not an ISO date (YYYY-MM-DD)"
    assert refused(f, load_checked_config).startswith(str(f))


@pytest.mark.parametrize("line, message", [
    ('end = "2019-02-30"', "[universes.my_daily] end: '2019-02-30' is not a day of the calendar (YYYY-MM-DD)"),
    ('start = "20190102"', "[universes.my_daily] start: '20190102' is not an ISO date (YYYY-MM-DD)"),
    ('start = "2019-1-2"', "[universes.my_daily] start: '2019-1-2' is not an ISO date (YYYY-MM-DD)"),
    ("start = 2019", "[universes.my_daily] start: 2019 is not an ISO date (YYYY-MM-DD)"),
    ("end = 2019-01-02T10:00:00", "[universes.my_daily] end: '2019-01-02T10:00:00' is a date-time; give a day"),
    ('start = "2020-01-01"\nend = "2019-12-31"',
     "[universes.my_daily] start: 2020-01-01 is after end 2019-12-31 (both days are inclusive)"),
])
def test_bad_universe_dates_name_the_key(tmp_path, line, message):
    f = toml(tmp_path, UNIVERSE + line + "\n")
    assert message in refused(f)


def test_universe_dates_are_iso_days_quoted_or_toml_dates(tmp_path):
    u = load_project_config(toml(tmp_path, UNIVERSE + 'start = "2019-01-02"\nend = 2019-03-31\n')).universes["my_daily"]
    assert (u.start, u.end) == ("2019-01-02", "2019-03-31")  # a TOML date reads as the same text
    u = load_project_config(toml(tmp_path, UNIVERSE + 'start = "2019-01-02"\nend = "2019-01-02"\n')).universes
    assert (u["my_daily"].start, u["my_daily"].end) == ("2019-01-02", "2019-01-02")  # one inclusive day


def test_the_freeze_reads_the_checked_dates(tmp_path):
    """What passes the check is what the freeze can cut the lake with (UniverseSpec.bounds_ns)."""
    from lq_engine.data.frozen import UniverseSpec

    u = load_project_config(toml(tmp_path, UNIVERSE + "start = 2019-01-02\nend = \"2019-01-03\"\n"))
    u = u.universes["my_daily"]
    lo, hi = UniverseSpec(u.name, u.symbols, u.timeframe, u.start, u.end).bounds_ns()
    assert hi - lo == 2 * 86_400 * 10**9


# --- the form of grids and spaces (no declaration needed) -----------------------------------------

@pytest.mark.parametrize("table, message", [
    ("[strategies.ma_cross.space]\nfast = {low = 50, high = 10}",
     "[strategies.ma_cross.space] fast: low 50 is above high 10"),
    ("[strategies.ma_cross.space]\nfast = {low = 5, hi = 10}",
     "[strategies.ma_cross.space] fast: unknown key(s) ['hi']"),
    ("[strategies.ma_cross.space]\nfast = {low = 5, high = 10, step = 0}",
     "[strategies.ma_cross.space] fast: step must be a positive number, got 0"),
    ("[strategies.ma_cross.space]\nfast = {low = 0, high = 10, log = true}",
     "[strategies.ma_cross.space] fast: log = true needs low > 0, got 0"),
    ("[strategies.ma_cross.space]\nfast = {low = 5, high = 10, log = 1}",
     "[strategies.ma_cross.space] fast: log must be true or false, got 1"),
    ('[strategies.ma_cross.space]\nfast = {low = "5", high = 10}',
     "[strategies.ma_cross.space] fast: low must be a number, got '5'"),
    ("[strategies.ma_cross.space]\nside = []", "[strategies.ma_cross.space] side: an empty list of values"),
    ("[strategies.ma_cross.space]\nfast = 5", "[strategies.ma_cross.space] fast: expected a {low, high, step, log}"),
    ("[strategies.ma_cross.grid]\nfast = {low = 30, high = 10}",
     "[strategies.ma_cross.grid] fast: low 30 is above high 10"),
    ("[strategies.ma_cross.grid]\nfast = {low = 5, high = 10, log = true}",
     "[strategies.ma_cross.grid] fast: unknown key(s) ['log']"),
    ("[strategies.ma_cross.grid]\nfast = []", "[strategies.ma_cross.grid] fast: an empty list of values"),
    ("[strategies.ma_cross.grid]\nfast = 5", "[strategies.ma_cross.grid] fast: expected a list of values"),
    ("[strategies.ma_cross]\ngrids = {fast = [5]}",
     "[strategies.ma_cross]: unknown key 'grids' (did you mean 'grid'?)"),
])
def test_malformed_grids_and_spaces_are_refused_at_load(tmp_path, table, message):
    """A space with low > high was caught only after Dagster had loaded (8 s, rc 1)."""
    f = toml(tmp_path, UNIVERSE + table + "\n")
    text = refused(f)
    assert text.startswith(f"{f}: ") and message in text, text


def test_a_grid_range_expands_to_its_values(tmp_path):
    cfg = load_project_config(toml(tmp_path, UNIVERSE + "[strategies.ma_cross.grid]\nfast = {low = 5, high = 11, "
                                   "step = 3}\nslow = [20, 40]\n"))
    assert cfg.strategy_grid("ma_cross") == {"fast": (5, 8, 11), "slow": (20, 40)}


# --- against the strategy's declaration (the CLI's check, before Dagster) -------------------------

@pytest.mark.parametrize("table, message", [
    ("[strategies.ma_cross.space]\nfats = {low = 5, high = 10}",
     "[strategies.ma_cross.space] fats: strategy 'ma_cross' has no parameter 'fats' (did you mean 'fast'?); "
     "its parameters: fast, slow, side"),
    ("[strategies.ma_cross.grid]\nslwo = [20, 40]", "[strategies.ma_cross.grid] slwo: strategy 'ma_cross' has no "
     "parameter 'slwo' (did you mean 'slow'?)"),
    ('[strategies.ma_cross.grid]\nfast = [5, "ten"]',
     "[strategies.ma_cross.grid] fast: parameter 'fast' must be int, got str 'ten'"),
    ("[strategies.ma_cross.grid]\nfast = [5, 7.5]", "[strategies.ma_cross.grid] fast: parameter 'fast' must be an "
     "integer, got 7.5"),
    ("[strategies.ma_cross.space]\nfast = {low = 0, high = 10}",
     "[strategies.ma_cross.space] fast: parameter 'fast' = 0 is below its minimum 1"),
    ("[strategies.ma_cross.space]\nfast = {low = 2.5, high = 10}",
     "[strategies.ma_cross.space] fast: parameter 'fast' must be an integer, got 2.5"),
    ("[strategies.ma_cross.space]\nside = {low = 0, high = 1}",
     "[strategies.ma_cross.space] side: a choice parameter takes a list of values, not a range"),
    ('[strategies.ma_cross.space]\nside = ["long", "sideways"]', "[strategies.ma_cross.space] side: parameter "
     "'side' must be one of"),
    ("[strategies.ma_crosss.grid]\nfast = [5]",
     "[strategies.ma_crosss]: no strategy 'ma_crosss' in this project (did you mean 'ma_cross'?)"),
])
def test_grids_and_spaces_are_checked_against_the_declaration(tmp_path, monkeypatch, table, message):
    f = toml(tmp_path, UNIVERSE + table + "\n")
    monkeypatch.setenv("LQ_CONFIG", str(f))
    cfg = load_checked_config(f)  # the form is right: only the declaration can tell
    with pytest.raises(SettingsError) as e:
        check_strategy_tables(cfg)
    assert str(e.value).startswith(f"{f}: ") and message in str(e.value), str(e.value)


def test_good_grids_and_spaces_pass_and_a_broken_strategy_file_is_left_to_its_runs(tmp_path, monkeypatch):
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "broken.py").write_text("def oops(:\n")
    f = toml(tmp_path, UNIVERSE + "[strategies.ma_cross.grid]\nfast = [5, 10]\nside = [\"long\"]\n"
             "[strategies.ma_cross.space]\nfast = {low = 5, high = 100, log = true}\nside = [\"long\"]\n"
             "[strategies.broken.grid]\nwhatever = [1]\n")
    monkeypatch.setenv("LQ_CONFIG", str(f))
    check_strategy_tables(load_checked_config(f))  # no error: broken.py reports its syntax error where it runs


# --- every verb stops before Dagster --------------------------------------------------------------

BAD_DATE = UNIVERSE + 'start = "01/02/2019"\n'
BAD_SPACE = UNIVERSE + "[strategies.ma_cross.space]\nfast = {low = 50, high = 10}\n"
UNKNOWN_PARAM = UNIVERSE + "[strategies.ma_cross.space]\nfats = {low = 5, high = 10}\n"


@pytest.mark.parametrize("verb", [["optimize", "--dataset", "my_daily", "--strategy", "ma_cross"], ["demo"],
                                  ["ingest", "bars.csv"], ["backfill", "frozen_dataset", "--partitions", "my_daily"],
                                  ["ui", "--port", "1"], ["paper", "--dataset", "my_daily"]])
@pytest.mark.parametrize("text, message", [
    (BAD_DATE, "[universes.my_daily] start: '01/02/2019' is not an ISO date (YYYY-MM-DD)"),
    (BAD_SPACE, "[strategies.ma_cross.space] fast: low 50 is above high 10"),
    (UNKNOWN_PARAM, "[strategies.ma_cross.space] fats: strategy 'ma_cross' has no parameter 'fats'"),
])
def test_every_verb_refuses_a_bad_config_before_dagster(tmp_path, monkeypatch, capsys, verb, text, message):
    """In process, with the step after the config check (pointing DAGSTER_HOME at the instance)
    turned into a failure: a verb that got past the check would fail this test, not start Dagster."""
    from lq_assets.cli import environment

    f = toml(tmp_path, text)
    (tmp_path / "bars.csv").write_text("symbol,timestamp,open,high,low,close,volume\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LQ_CONFIG", str(f))
    monkeypatch.setenv("LQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LQ_DAGSTER_HOME", str(tmp_path / "dagster_home"))

    def reached(*_a, **_k):
        raise AssertionError("got past the config check")

    monkeypatch.setattr(environment, "dagster_home", reached)
    rc, _, err = lq_in_process(capsys, *verb)
    assert rc == 2, err
    assert err.startswith(f"lq {verb[0]}: error: {f}: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "dagster_home").exists()


@pytest.mark.slow  # real lq processes (a few seconds each on a loaded machine)
def test_lq_refuses_a_bad_config_in_seconds_without_touching_the_instance(tmp_path):
    """Real `lq` processes (the finding's 8 s and rc 1 were Dagster loading first): rc 2, the one
    line, no Dagster instance created, and about as quick as `lq --help` (the interpreter's start
    dominates on a busy machine: compared with it, not with a fixed figure)."""
    from lq_engine.data.paths import DataPaths
    from tests.orchestration.conftest import lq_env
    from tests.orchestration.live import run_lq

    home = tmp_path / "dagster_home"  # not created: lq creates it only after the check
    cases = [(BAD_DATE, ["optimize", "--dataset", "my_daily"],
              "[universes.my_daily] start: '01/02/2019' is not an ISO date (YYYY-MM-DD)"),
             (BAD_SPACE, ["ingest", str(tmp_path / "bars.csv")], "[strategies.ma_cross.space] fast: low 50 is above "
              "high 10")]
    (tmp_path / "bars.csv").write_text("symbol,timestamp,open,high,low,close,volume\n")
    t = time.perf_counter()
    assert run_lq(["--help"], env=lq_env(DataPaths(tmp_path / "data"), home), timeout=120).returncode == 0
    start_s = time.perf_counter() - t
    for i, (text, args, message) in enumerate(cases):
        f = tmp_path / f"p{i}" / "luminaquant.toml"
        f.parent.mkdir()
        f.write_text(text)
        env = lq_env(DataPaths(tmp_path / "data").ensure(), home, LQ_CONFIG=str(f))
        t = time.perf_counter()
        r = run_lq(args, env=env, timeout=120)
        took = time.perf_counter() - t
        assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
        assert r.stderr == f"lq {args[0]}: error: {f}: {message}\n"
        assert not home.exists()
        assert took < start_s + 5.0, (took, start_s)  # the start and the check; loading Dagster took 8-12 s more
