"""Importing the engine or the Dagster definitions compiles nothing, runs no process and reads or
hashes no source: checked in a fresh interpreter with guards on subprocess, hashlib and open, and
the guards are shown to catch exactly that (a build of the cache store, a hash of the sources).

What other packages do when imported is theirs (numba's ``cache=True`` decorator stamps its own
function's file, dagster hashes definitions): an event counts when the nearest caller outside the
standard library is ``lq_engine`` or ``lq_assets``."""

import json
import os
import subprocess
import sys

from lq_engine.project import CHECKOUT_ROOT

GUARD = r"""
import builtins, hashlib, io, json, os, subprocess, sys
events = []
ours = tuple(os.path.join(sys.argv[1], d) for d in ("lq_engine", "lq_assets", "native"))

import sysconfig
stdlib = sysconfig.get_paths()["stdlib"]

def from_us():
    # whether the nearest caller outside the standard library (subprocess.run, platform, ...) is our
    # code: other packages may hash or run things when they are imported; we may not
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(stdlib):
        f = f.f_back
    return f is not None and f.f_code.co_filename.startswith(ours)

real_popen_init = subprocess.Popen.__init__
def popen_init(self, args, *a, **k):
    if from_us():
        events.append(["subprocess", str(args)[:200]])
    return real_popen_init(self, args, *a, **k)
subprocess.Popen.__init__ = popen_init

for name in ("sha256", "sha1", "md5", "blake2b", "new", "file_digest"):
    real = getattr(hashlib, name)
    def hashed(*a, _real=real, _name=name, **k):
        if from_us():
            events.append(["hashlib", _name])
        return _real(*a, **k)
    setattr(hashlib, name, hashed)

real_open = io.open
def guarded_open(file, *a, **k):
    p = os.fspath(file) if isinstance(file, (str, bytes, os.PathLike)) else ""
    p = p.decode() if isinstance(p, bytes) else p
    if p.endswith((".py", ".c", ".rs")) and os.path.abspath(p).startswith(ours) and from_us():
        events.append(["read", p])
    return real_open(file, *a, **k)
io.open = builtins.open = guarded_open

exec(sys.argv[2])
from lq_engine.core import cache_store
events.append(["store_built", cache_store.load_compiled.cache_info().currsize])
print("EVENTS " + json.dumps(events))
"""


def _run(code: str, **env_extra: str) -> list:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "LQ_CACHE_STORE")}
    env.update(env_extra)
    res = subprocess.run([sys.executable, "-c", GUARD, str(CHECKOUT_ROOT), code], capture_output=True, text=True,
                         env=env, cwd=CHECKOUT_ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("EVENTS ")][-1]
    return json.loads(line.removeprefix("EVENTS "))


def test_importing_the_engine_and_the_definitions_compiles_runs_and_hashes_nothing():
    events = _run("import lq_engine, lq_engine.core.cache, lq_engine.native_build, lq_assets.definitions\n"
                  "assert os.environ['NUMBA_CACHE_DIR']")
    assert events == [["store_built", 0]], events


def test_the_guard_catches_a_build_and_a_hash(tmp_path):
    # the runtime cache's first use builds the compiled store (gcc) into an empty build folder
    built = _run("from lq_engine.core.cache import RuntimeCache\nRuntimeCache()",
                 LQ_NATIVE_BUILD_DIR=str(tmp_path / "build"), LQ_CACHE_STORE="auto")
    assert any(e[0] == "subprocess" and "gcc" in e[1] for e in built) and built[-1] == ["store_built", 1], built
    hashed = _run("from lq_engine.kernels.backends import native\nnative.source_hash('c')")
    assert ["hashlib", "sha256"] in hashed and any(e[0] == "read" and e[1].endswith("lq_kernels.c") for e in hashed)
