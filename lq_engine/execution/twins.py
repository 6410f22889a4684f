"""Pure-Python twins of ``@njit`` functions, for code that calls them from Python one scalar at a time.

A numba dispatch from Python costs ~0.3-3 us (it type-checks every argument), far more than the few
float operations of a fill-math function. A twin runs the function's own source (numba keeps it as
``py_func``) in the interpreter, and its calls to other njit functions go to their twins too, so no
dispatch happens at all. CPython floats are IEEE doubles and numba compiles without fast-math (no
reassociation, no fused multiply-add), so a twin performs the same operations in the same order and
returns bit-identical results; tests/execution/test_exec_twins.py checks each twin against its
compiled original with hypothesis.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def python_twins(
    namespace: Mapping[str, Any], names: Iterable[str], linked: Mapping[str, Callable] | None = None
) -> dict[str, Callable]:
    """Twins of the njit functions ``names`` found in ``namespace`` (a module's ``globals()``).

    Inside the twins, those names (and the names in ``linked``: twins made elsewhere, e.g. imported
    njit helpers) resolve to Python twins; every other global resolves as in the module.
    """
    scope = dict(namespace)
    twins: dict[str, Callable] = {}
    for name in names:
        f = getattr(namespace[name], "py_func", namespace[name])  # NUMBA_DISABLE_JIT=1: the function itself
        twins[name] = types.FunctionType(f.__code__, scope, name, f.__defaults__, f.__closure__)
    scope.update(linked or {})
    scope.update(twins)
    return twins
