"""Backend selection: parity gate, fastest wins, env overrides."""

import subprocess

import pytest

from lq_engine.prefilter import selection
from lq_engine.kernels.backends import native
from lq_engine.prefilter.selection import select_backend


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for k in ("LQ_NATIVE_BACKEND", "LQ_NATIVE_AUTO_SELECT", "LQ_NATIVE_MIN_SPEEDUP",
              "LQ_NATIVE_BENCH_LOOPS", "LQ_NATIVE_METRICS_DLL"):
        monkeypatch.delenv(k, raising=False)
    native._load.cache_clear()
    yield
    native._load.cache_clear()


def test_auto_selection_reports_every_backend_and_picks_the_fastest_adopted():
    s = select_backend(loops=1)
    assert [r.backend for r in s.rows] == ["python", "numba", "c", "rust"]
    assert sum(r.chosen for r in s.rows) == 1 and s.row(s.chosen).chosen
    for r in s.rows:
        assert r.available, r.reason
        assert r.max_parity_error <= selection.PARITY_TOL and r.evals_per_sec > 0
    assert s.chosen != "python"
    numba = s.row("numba").evals_per_sec
    if s.chosen in ("c", "rust"):
        assert s.row(s.chosen).evals_per_sec >= numba * 1.05
    records = s.records()
    assert set(records[0]) == {"backend", "available", "reason", "max_parity_error", "evals_per_sec", "chosen"}


def test_min_speedup_keeps_numba_unless_native_is_much_faster(monkeypatch):
    monkeypatch.setenv("LQ_NATIVE_MIN_SPEEDUP", "1000")
    assert select_backend(loops=1).chosen == "numba"


def test_forced_backend(monkeypatch):
    monkeypatch.setenv("LQ_NATIVE_BACKEND", "rust")
    s = select_backend(loops=1)
    assert s.chosen == "rust" and s.mode == "forced"
    assert selection.resolve_backend() == "rust"


def test_auto_select_off_uses_numba(monkeypatch):
    monkeypatch.setenv("LQ_NATIVE_AUTO_SELECT", "0")
    s = select_backend(loops=1)
    assert s.chosen == "numba" and s.mode == "default"


def test_bad_env_values(monkeypatch):
    monkeypatch.setenv("LQ_NATIVE_BACKEND", "cobol")
    with pytest.raises(ValueError, match="LQ_NATIVE_BACKEND"):
        select_backend(loops=1)
    monkeypatch.setenv("LQ_NATIVE_BACKEND", "auto")
    monkeypatch.setenv("LQ_NATIVE_BENCH_LOOPS", "0")
    with pytest.raises(ValueError, match="LQ_NATIVE_BENCH_LOOPS"):
        select_backend()


def test_a_backend_outside_tolerance_is_not_adopted(tmp_path, monkeypatch):
    """A real library whose equity is off by 0.1%: reported, not adopted, never chosen."""
    src = (native.NATIVE_ROOT / "c" / "lq_kernels.c").read_text().replace("acc[0] = eq;", "acc[0] = eq * 1.001;")
    (tmp_path / "bad.c").write_text(src)
    so = tmp_path / "lq_bad_c.so"
    subprocess.run(["gcc", *native.C_FLAGS, "-o", str(so), str(tmp_path / "bad.c"), "-lm"], check=True)
    monkeypatch.setenv("LQ_NATIVE_METRICS_DLL", str(so))
    s = select_backend(loops=1)
    bad = s.row("c")
    assert not bad.available and "parity error" in bad.reason and not bad.chosen
    assert bad.max_parity_error > selection.PARITY_TOL
    assert s.chosen in ("numba", "rust")
    monkeypatch.setenv("LQ_NATIVE_BACKEND", "c")
    with pytest.raises(RuntimeError, match="LQ_NATIVE_BACKEND=c is not usable: parity error"):
        select_backend(loops=1)
