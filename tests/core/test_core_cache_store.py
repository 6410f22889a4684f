"""The compiled cache store against its pure-Python twin: same rows, same errors, GC-safe, and the
selection (``LQ_CACHE_STORE``, missing compiler) that decides which one RuntimeCache uses."""

import gc
import math
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lq_engine.core import cache_store
from lq_engine.core.cache import CACHE_STORE, RuntimeCache
from lq_engine.core.cache_store import PyCacheStore

REPO = Path(__file__).resolve().parents[2]
Compiled = cache_store.load_compiled()


def test_runtime_cache_uses_the_compiled_store_when_gcc_is_present():
    assert CACHE_STORE.startswith("compiled"), CACHE_STORE
    cache = RuntimeCache()
    assert isinstance(cache, RuntimeCache) and isinstance(cache, Compiled)
    assert type(cache).__mro__[1:3] == (RuntimeCache, Compiled)


def _rows(store) -> tuple[dict, dict]:
    """Both dicts as plain tuples, NaN made comparable."""
    def norm(row):
        return tuple("NaN" if isinstance(x, float) and math.isnan(x) else x for x in row)
    return ({k: norm(v) for k, v in store._market.items()}, {k: norm(v) for k, v in store._orders.items()})


_scalar = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
                    st.text(max_size=4))
_symbol = st.sampled_from(["BTC", "ETH", "SOL"])
_bar = st.tuples(st.just("bar"), _symbol, st.lists(_scalar, min_size=7, max_size=7))
_order = st.tuples(st.just("order"), st.sampled_from(["O-1", "O-2", "O-3", "O-4"]),
                   st.lists(_scalar, min_size=2, max_size=6), st.booleans())
_poke = st.tuples(st.just("poke"), _symbol, st.sampled_from(["del", "set"]))  # the dict changed behind the store


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_bar, _order, _poke), max_size=40), st.integers(0, 39))
def test_compiled_and_python_stores_hold_the_same_rows(ops, hold_at):
    ours, twin = Compiled(), PyCacheStore()
    held = []
    for i, op in enumerate(ops):
        for store in (ours, twin):
            if op[0] == "bar":
                store.update_bar(op[1], *op[2])
            elif op[0] == "poke":
                if op[2] == "del":
                    store._market.pop(op[1], None)
                else:
                    store._market[op[1]] = (0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
            else:
                _, oid, fields, by_name = op
                if by_name:  # the same call with every field after order_id passed by keyword
                    names = ["state", "symbol", "side", "quantity", "filled", "avg_price"][: len(fields)]
                    store.update_order(oid, **dict(zip(names, fields)))
                else:
                    store.update_order(oid, *fields)
        if i == hold_at and ours._market:  # a row someone holds must not change under them
            sym = next(iter(ours._market))
            held.append((ours._market[sym], tuple(ours._market[sym])))
    assert _rows(ours) == _rows(twin)
    for row, frozen in held:
        assert _rows_equal(tuple(row), frozen)


def _rows_equal(a: tuple, b: tuple) -> bool:
    return all((x == y) or (isinstance(x, float) and math.isnan(x) and math.isnan(y)) for x, y in zip(a, b))


@pytest.mark.parametrize("call", [
    lambda s: s.update_order("x"),
    lambda s: s.update_order("x", "y", "z", bogus=1),
    lambda s: s.update_order("x", "y", "z", state="again"),
    lambda s: s.update_order("x", "y", "z", 1, 2.0, 3.0, 4.0, 5.0),
    lambda s: s.update_bar("x", 1, 2, 3.0, 4.0, 5.0, 6.0),
    lambda s: s.update_bar("x", 1, 2, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0),
])
def test_bad_calls_raise_type_error_in_both(call):
    for store in (Compiled(), PyCacheStore()):
        with pytest.raises(TypeError):
            call(store)
        assert not store._market and not store._orders


def test_rows_read_like_tuples():
    s = Compiled()
    s.update_bar("BTC", 5, 6, 1.0, 2.0, 0.5, 1.5, 3.0)
    row = s._market["BTC"]
    assert len(row) == 7 and row[5] == 1.5 and row[-1] == 3.0 and list(row)[:2] == [5, 6]
    assert row == (5, 6, 1.0, 2.0, 0.5, 1.5, 3.0) and row != (5, 6) and repr(row) == repr(tuple(row))
    with pytest.raises(IndexError):
        row[7]
    with pytest.raises(AttributeError):
        s._market = {}


def test_scalar_rows_stay_out_of_the_collector_and_containers_keep_cycles_collectable():
    s = Compiled()
    s.update_order("O-1", "NEW", "BTC", 1, 2.0, 0.0, math.nan)
    assert not gc.is_tracked(s._orders["O-1"])
    class Holder:
        pass

    holder = Holder()
    holder.cache = RuntimeCache()
    holder.cache.update_bar("BTC", 1, 2, 1.0, 1.0, 1.0, 1.0, [holder])  # holder -> cache -> row -> list -> holder
    assert gc.is_tracked(holder.cache._market["BTC"])
    probe = weakref.ref(holder)
    del holder
    gc.collect()
    assert probe() is None


_SELECT = r"""
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
from lq_engine.core import cache_store as cs
cs.BUILD_DIR = Path(sys.argv[1])  # empty: nothing prebuilt to fall back on
try:
    store, what = cs.store_base()
    print("STORE", store.__name__, what)
except Exception as e:
    print("ERROR", type(e).__name__, e)
"""


def _select(tmp_path: Path, mode: str | None, path: str | None = None) -> str:
    build = tmp_path / f"build-{mode}-{path is None}"
    env = {k: v for k, v in os.environ.items() if k != cache_store.ENV}
    if mode is not None:
        env[cache_store.ENV] = mode
    if path is not None:
        env["PATH"] = path
    res = subprocess.run([sys.executable, "-c", _SELECT, str(build)], capture_output=True, text=True,
                         env=env, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_store_selection(tmp_path):
    assert "STORE CacheStore compiled" in _select(tmp_path, None)
    assert "STORE PyCacheStore python (LQ_CACHE_STORE=python)" in _select(tmp_path, "python")
    assert "ERROR EnvVarError LQ_CACHE_STORE='fast': expected auto, compiled or python" in _select(tmp_path, "fast")
    no_gcc = str(tmp_path / "empty-bin")
    out = _select(tmp_path, "auto", no_gcc)
    assert "compiled store unavailable, using the Python one: cache store: 'gcc' not found on PATH" in out
    assert "STORE PyCacheStore python (compiled unavailable" in out
    assert "ERROR NativeUnavailable LQ_CACHE_STORE=compiled but" in _select(tmp_path, "compiled", no_gcc)


def test_runtime_cache_suite_passes_on_the_python_store():
    """The RuntimeCache tests again, in a process where RuntimeCache sits on the pure-Python store."""
    env = {**os.environ, cache_store.ENV: "python"}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/core/test_core_cache_outbox.py", "tests/live/test_parity.py"],
                         capture_output=True, text=True, env=env, cwd=REPO)
    assert res.returncode == 0, res.stdout[-3000:]
    assert " passed" in res.stdout and "failed" not in res.stdout
