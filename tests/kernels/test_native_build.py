"""On-demand native builds: hashed artifacts, rebuild on source change, missing compiler = unavailable."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lq_engine.kernels.backends import native

REPO = Path(__file__).resolve().parents[2]


def test_artifact_name_carries_the_source_hash():
    for be in native.BACKENDS:
        p = native.build_native(be)
        assert p.exists() and p.parent == native.BUILD_DIR
        assert native.source_hash(be) in p.name
        assert native.build_native(be) == p  # no rebuild when nothing changed


def test_changed_source_builds_a_new_artifact(tmp_path, monkeypatch):
    root = tmp_path / "native"
    shutil.copytree(REPO / "native" / "c", root / "c")
    monkeypatch.setattr(native, "NATIVE_ROOT", root)
    monkeypatch.setattr(native, "BUILD_DIR", root / "build")
    first = native.build_native("c")
    src = root / "c" / "lq_kernels.c"
    src.write_text(src.read_text() + "\n/* changed */\n")
    second = native.build_native("c")
    assert first != second and first.exists() and second.exists()
    lib = native.NativeLib("c", second)
    out = lib.metric_batch(np.cumprod(1 + np.full(100, 0.001)), 2, 252.0, 1)
    assert out.shape == (2, 3) and out[0, 2] == 0.0


_NO_COMPILER = r"""
from lq_engine.kernels.backends import native, availability
import lq_engine.kernels.backends.native as n
n.BUILD_DIR = n.Path(r"{build}")  # empty folder: nothing prebuilt to fall back on
for be in ("c", "rust"):
    ok, why = availability(be)
    print(be, ok, why)
ok, why = availability("numba")
print("numba", ok)
"""


def test_missing_compiler_makes_backend_unavailable_not_an_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("LQ_NATIVE_METRICS_DLL",)}
    env["PATH"] = str(tmp_path / "empty-bin")  # no gcc, no cargo
    res = subprocess.run([sys.executable, "-c", _NO_COMPILER.format(build=tmp_path / "build")],
                         capture_output=True, text=True, env=env, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert lines[0] == "c False c: 'gcc' not found on PATH"
    assert lines[1] == "rust False rust: 'cargo' not found on PATH"
    assert lines[2] == "numba True"


def test_explicit_dll_env(monkeypatch):
    path = native.build_native("c")
    monkeypatch.setenv("LQ_NATIVE_METRICS_DLL", str(path))
    native._load.cache_clear()
    assert native.load("c").path == path
    monkeypatch.setenv("LQ_NATIVE_METRICS_DLL", str(path.parent / "missing.so"))
    native._load.cache_clear()
    with pytest.raises(native.NativeUnavailable, match="does not exist"):
        native.load("c")
    native._load.cache_clear()


def test_library_without_the_abi_is_refused(tmp_path):
    src = tmp_path / "x.c"
    src.write_text("int nothing(void) { return 0; }\n")
    so = tmp_path / "x.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    with pytest.raises(native.NativeUnavailable, match="does not export lq_abi_version"):
        native.NativeLib("c", so)
