"""Where a strategy's ``decide`` (or ``exits``) or one of its indicators raised: its file and line,
the bar (and its time; for an indicator, which sees every bar at once, the bars it ran over), the
symbol where the driver knows it, and the parameter set; the original exception chained.

Every driver (replay, event engine and paper trader, prefilter sweep, the lookahead scan and gate,
``lq strategy check``) runs a strategy through ``codegen.Kernels``, whose one call site (``call``)
hands an exception raised while running the loops to ``locate``. It all happens on the error path:
the loops carry no per-bar check.

- Without the JIT the traceback has everything: the strategy's frame (line), the loop's (bar ``i``)
  and the set's (``k``).
- Compiled code keeps no traceback. The failing set is then found by running the compiled decision
  loop again on halves of the sets (the first failing set in order: the same whichever thread of a
  parallel sweep raised first), and that set is run once more as plain Python: the generated
  module's own loops (their ``py_func``) around the strategy's plain ``decide`` and ``exits``, the
  code ``NUMBA_DISABLE_JIT=1`` runs. It raises again with a traceback into the strategy's file.
  Should it not (numba and Python can differ, e.g. on integer overflow), the error still names the
  file and the parameter set, and says how to see the line.
- numba's parallel sweeps report an exception raised inside numba's own code (``if array:`` raises
  numba's ValueError "The truth value of an array ...") as a ``SystemError`` ("... returned a result
  with an exception set") whose cause is the original: it is located as the original.
- Indicators run as Python (``IndicatorError``, made by ``indicator_error``): the traceback has the
  line; the parameter set is the first set of the run that needs this indicator call.
"""

from __future__ import annotations

import inspect
import types
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
from numba.core.errors import NumbaError

from lq_engine.authoring.declare import StrategyError
from lq_engine.data.schema import format_ns
from lq_engine.execution.sides import new_side
from lq_engine.kernels.metrics import ACC_NRET
from lq_engine.strategies.kernel_types import BarsTuple, PanelTuple, position_records

if TYPE_CHECKING:  # annotations only: spec imports this module
    from lq_engine.strategies.spec import StrategySpec

_LOOPS = ("decision_loop", "sweep", "pdecision_loop", "psweep")  # the generated entry points


@dataclass(frozen=True)
class DecideFailure:
    """What ``DecideError`` says (plain values: it pickles across worker processes)."""

    strategy: str
    file: str
    error: str  # "ZeroDivisionError: division by zero"
    params: dict | None = None
    bar: int | None = None
    ts: int | None = None  # the bar's time, ns UTC
    line: int | None = None
    function: str | None = None  # the strategy's function that raised (decide, exits, a helper)
    code: str | None = None  # the raising line's text
    symbol: str | None = None
    span: tuple[int, int, int] | None = None  # an indicator's input: (bars, first ts, last ts)

    def message(self) -> str:
        where = self.file + (f", line {self.line}" if self.line else "")
        what = self.function or "decide or exits"
        msg = f"{where}: strategy '{self.strategy}': {what} raised {self.error}"
        if self.bar is not None:
            msg += f" at bar {self.bar}"
            if self.ts is not None:
                msg += f" ({format_ns(self.ts)})"
        elif self.span is not None:  # an indicator computes every bar at once: no bar of its own
            n, t0, t1 = self.span
            msg += f" on its input of {n} bars" + (f" ({format_ns(t0)} to {format_ns(t1)})" if n else "")
        if self.symbol:
            msg += f" of {self.symbol}"
        if self.params is not None:
            msg += f" with parameters {self.params}"
        if self.code:
            msg += f"\n    {self.code}"
        if self.line is None and self.span is None:  # (an indicator runs as Python: no JIT to turn off)
            msg += "\n(run with NUMBA_DISABLE_JIT=1 to see the line in a plain Python traceback)"
        return msg


class DecideError(StrategyError):
    """A strategy's decide, exits or one of their helpers raised while deciding; ``failure`` says where."""

    def __init__(self, failure: DecideFailure) -> None:
        self.failure = failure
        super().__init__(failure.message())

    def __reduce__(self):
        return (type(self), (self.failure,))

    def name_symbol(self, symbol: str | None) -> None:
        """Add the symbol the failing series belongs to (the kernels see arrays only)."""
        if symbol and self.failure.symbol is None:
            self._fill(symbol=str(symbol))

    def name_params(self, params: dict | None) -> None:
        """Add the parameter set (an indicator's caller knows which sets need the failing call)."""
        if params is not None and self.failure.params is None:
            self._fill(params=dict(params))

    def _fill(self, **fields: Any) -> None:
        self.failure = replace(self.failure, **fields)
        self.args = (self.failure.message(),)


class IndicatorError(DecideError):
    """A strategy's indicator raised (``failure.function``: the indicator and its arguments,
    ``failure.span``: the bars it ran over). A ``DecideError`` too: the drivers that name the symbol
    of a failing decision name it for an indicator as well."""


def indicator_error(spec: StrategySpec, call: str, exc: BaseException, bars: Any,
                    params: dict | None = None) -> IndicatorError:
    """The ``IndicatorError`` of ``exc``, raised by the indicator call ``call`` ("momentum(lookback=10)")
    over ``bars`` (what the indicator received): the line from the traceback's innermost frame in the
    strategy's file (indicators run as Python; a numba function they call raises into that line)."""
    tb, line, function = exc.__traceback__, None, None
    while tb is not None:
        if _same_file(tb.tb_frame.f_code.co_filename, spec.file):
            line, function = tb.tb_lineno, tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    code = None
    if line is not None:
        try:
            code = Path(spec.file).read_text().splitlines()[line - 1].strip()
        except (OSError, IndexError):
            code = None
    what = f"indicator {call}" + (f" (in {function})" if function and not call.startswith(function + "(") else "")
    try:
        ts = np.asarray(bars.ts)
        span = (int(ts.shape[-1]), int(ts[0]), int(ts[-1])) if ts.size else (0, 0, 0)
    except (AttributeError, TypeError, ValueError, IndexError):
        span = None
    return IndicatorError(DecideFailure(spec.name, str(spec.file), f"{type(exc).__name__}: {exc}", params, line=line,
                                        function=what, code=code, span=span))


def original(exc: BaseException) -> BaseException:
    """``exc``, or the exception it stands for: numba's parallel loops turn one raised in numba's own
    code (its ValueError for ``if array:``) into "SystemError: ... returned a result with an
    exception set", chained to the original."""
    while isinstance(exc, SystemError) and exc.__cause__ is not None and "exception set" in str(exc):
        exc = exc.__cause__
    return exc


@contextmanager
def naming_symbol(symbol: str | None) -> Iterator[None]:
    """Drivers that know the series' symbol wrap their decision calls in this."""
    try:
        yield
    except DecideError as e:
        e.name_symbol(symbol)
        raise


def locate(spec: StrategySpec, exc: BaseException, module: Any, fn: str, args: tuple) -> DecideError | None:
    """The ``DecideError`` of ``exc``, raised by the generated loop ``fn`` called with ``args``; None
    when it is not the strategy's (a numba compile error, or the engine's own code)."""
    exc = original(exc)
    if isinstance(exc, NumbaError) or fn not in _LOOPS:
        return None
    error = f"{type(exc).__name__}: {exc}"
    try:
        bound = inspect.signature(getattr(module, fn).py_func if hasattr(getattr(module, fn), "py_func")
                                  else getattr(module, fn)).bind(*args).arguments
    except (TypeError, ValueError, AttributeError):
        return None
    k, i, frame = _walk(spec, exc.__traceback__)
    if i is not None:  # the loops ran as Python (no JIT): the traceback says it all
        if frame is None:
            return None  # raised by the engine's code, not the strategy's
        k = k or 0
    else:  # compiled: numba may name the line of an explicit raise, never the bar or the set
        k = _failing_set(module, fn, bound, type(exc))
        if k is None:
            return None
        hit = _python_rerun(spec, module, fn, bound, k, type(exc))
        if hit is not None:
            i, frame = hit[0], hit[1] or frame
    return _error(spec, bound, k, i, frame, error)


def _error(spec: StrategySpec, a: dict, k: int | None, i: int | None, frame: tuple[int, str] | None,
           error: str) -> DecideError:
    ts = None
    if i is not None:
        try:
            ts = int(a["ts"][i])
        except (KeyError, IndexError, TypeError, ValueError):
            ts = None
    line = code = function = None
    if frame is not None:
        line, function = frame
        try:
            code = Path(spec.file).read_text().splitlines()[line - 1].strip()
        except (OSError, IndexError):
            code = None
    return DecideError(DecideFailure(spec.name, str(spec.file), error, _params(spec, a, k), i, ts, line, function,
                                     code))


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def _walk(spec: StrategySpec, tb: Any) -> tuple[int | None, int | None, tuple[int, str] | None]:
    """(set k, bar i, (line, function) of the innermost frame in the strategy's file) along ``tb``."""
    k = i = None
    frame = None
    while tb is not None:
        f = tb.tb_frame
        name = f.f_code.co_name
        if name in _LOOPS and "k" in f.f_locals:
            k = int(f.f_locals["k"])
        if name in ("_decisions", "_decide_bar", "_pdecisions") and "i" in f.f_locals:
            i = int(f.f_locals["i"])
        if _same_file(f.f_code.co_filename, spec.file):
            frame = (tb.tb_lineno, name)
        tb = tb.tb_next
    return k, i, frame


def _call_sets(module: Any, fn: str, a: dict, lo: int, hi: int, kind: type) -> bool:
    """Whether the compiled decision loop raises ``kind`` on sets lo..hi-1 (in order, fresh outputs)."""
    portfolio = fn in ("pdecision_loop", "psweep")
    loop = module.pdecision_loop if portfolio else module.decision_loop
    one_set = "prow" in inspect.signature(getattr(loop, "py_func", loop)).parameters  # a loop of one set per call
    n = a["o"].shape[-1]
    states = a["states"][:1].copy()  # the decision loops run every set on states[0] (reset at its start)
    try:
        for j0, j1 in ([(j, j + 1) for j in range(lo, hi)] if one_set else [(lo, hi)]):
            m = j1 - j0
            sel: int | slice = j0 if one_set else slice(j0, j1)
            shape = () if one_set else (m,)
            err = np.zeros((*shape, 4))
            if portfolio:
                n_sym = a["o"].shape[0]
                loop(a["o"], a["h"], a["lo"], a["c"], a["v"], a["ts"], a["mask"], a["bank"], a["idx"][sel],
                     a["pmat"][sel], states, position_records(1, n_sym), np.zeros((*shape, n + 1, n_sym)),
                     np.zeros((*shape, n), dtype=np.int64), np.zeros((*shape, n), dtype=np.bool_), err)
            else:
                loop(a["o"], a["h"], a["lo"], a["c"], a["v"], a["ts"], a["bank"], a["idx"][sel], a["pmat"][sel],
                     states, np.zeros((*shape, n)), np.full((*shape, n, 3), np.nan), err)
    except kind:
        return True
    except Exception:
        return False
    return False


def _failing_set(module: Any, fn: str, a: dict, kind: type) -> int | None:
    """The first set (in order) whose compiled decisions raise ``kind``: a bisection over the sets,
    each probe on the lower half only (about as much work as the sets' decisions once, on one thread)."""
    if "pmat" not in a or getattr(a["pmat"], "ndim", 0) != 2:
        return 0 if "prow" in a else None  # one set per call
    m = a["pmat"].shape[0]
    if m == 1:
        return 0
    lo, hi = 0, m
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _call_sets(module, fn, a, lo, mid, kind):
            hi = mid
        else:
            lo = mid
    return lo if _call_sets(module, fn, a, lo, lo + 1, kind) else None


def _python_namespace(spec: StrategySpec, module: Any) -> dict:
    """The generated module's globals with its loops as Python functions, the strategy's plain
    decide and exits, and ``borrowed`` the identity: the code NUMBA_DISABLE_JIT=1 runs."""
    ns = dict(vars(module))
    for name, obj in list(ns.items()):
        py = getattr(obj, "py_func", None)
        if isinstance(py, types.FunctionType) and py.__module__ == module.__name__:
            ns[name] = types.FunctionType(py.__code__, ns, py.__name__, py.__defaults__, py.__closure__)
    decl = spec.declaration
    ns["_decide"] = decl.decide
    ns["_exits"] = decl.exits if decl.exits is not None else (lambda *a: (np.nan, np.nan, np.nan))
    ns["borrowed"] = lambda x: x
    ns["new_side"] = getattr(new_side, "py_func", new_side)
    return ns


def _python_rerun(spec: StrategySpec, module: Any, fn: str, a: dict, k: int, kind: type | None
                  ) -> tuple[int | None, tuple[int, str] | None, Exception] | None:
    """(bar, frame, exception) where set ``k``'s decisions raise ``kind`` (None: any exception) when run
    as plain Python; None if they do not. A float division by zero raises in compiled code but gives
    inf on numpy scalars, so for a ZeroDivisionError a second run turns numpy's divide warnings into
    errors."""
    ns = _python_namespace(spec, module)
    idx_row = a["idx"][k] if "idx" in a else a["idx_row"]
    prow = a["pmat"][k] if "pmat" in a else a["prow"]
    n = a["o"].shape[-1]

    def run() -> None:
        st = spec.declaration.state.new(1)[0]
        err = np.zeros(4)
        if fn in ("pdecision_loop", "psweep"):
            n_sym = a["o"].shape[0]
            bars = PanelTuple(a["o"], a["h"], a["lo"], a["c"], a["v"], a["ts"], a["mask"])
            ns["_pdecisions"](bars, ns["_ind"](a["bank"], idx_row), ns["_params"](prow), st, np.zeros((n + 1, n_sym)),
                              np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.bool_),
                              position_records(1, n_sym)[0], np.empty(n_sym), np.empty(n_sym, dtype=np.int64), err)
        else:
            bars = BarsTuple(a["o"], a["h"], a["lo"], a["c"], a["v"], a["ts"])
            ns["_decisions"](bars, ns["_ind"](a["bank"], idx_row), ns["_params"](prow), st, np.zeros(n),
                             np.full((n, 3), np.nan), err)

    for strict in (False, True):
        if strict and kind is not ZeroDivisionError:
            break
        try:
            with np.errstate(divide="raise", invalid="raise") if strict else np.errstate(all="ignore"):
                run()
        except Exception as e:
            if kind is None or type(e) is kind or (strict and isinstance(e, FloatingPointError) and "divide" in str(e)):
                _, i, frame = _walk(spec, e.__traceback__)
                return i, frame, e
    return None


def _params(spec: StrategySpec, a: dict, k: int | None) -> dict | None:
    prow = a["pmat"][k] if "pmat" in a and k is not None else a.get("prow")
    if prow is None:
        return None
    decl = spec.declaration
    try:
        values = {}
        for p, x in zip(decl.params, np.asarray(prow).tolist()):
            values[p.name] = spec.schema.param(p.name).decode(x)
        return values
    except Exception:  # a set that does not decode: the raw row
        return {p.name: x for p, x in zip(decl.params, np.asarray(prow).tolist())}


def swallowed(spec: StrategySpec, module: Any, fn: str, args: tuple, k: int) -> DecideError:
    """The error of set ``k``, whose decisions stopped inside a parallel sweep without an exception
    reaching the caller (numba's parallel loops drop one raised in an iteration): its decisions run
    again as plain Python, which raises it with its line and bar."""
    loop = getattr(module, fn)
    a = inspect.signature(getattr(loop, "py_func", loop)).bind(*args).arguments
    hit = _python_rerun(spec, module, fn, a, k, None)
    if hit is None:
        return _error(spec, a, k, None, None, "an exception that numba's parallel sweep does not report")
    i, frame, e = hit
    out = _error(spec, a, k, i, frame, f"{type(e).__name__}: {e}")
    out.__cause__ = e
    return out


def unrun(fn: str, args: tuple) -> None:
    """Before a sweep: mark every set's returns count (``ACC_NRET``, which ``account`` always writes,
    last) as not run, so that ``unreported`` can tell a set whose decisions stopped on an exception
    the parallel loop dropped. ``sweep`` and ``psweep`` end with ``(..., acc, err)``."""
    if fn in ("sweep", "psweep"):
        args[-2][:, ACC_NRET] = -1.0


def unreported(spec: StrategySpec, module: Any, fn: str, args: tuple) -> None:
    """After a sweep: raise the ``DecideError`` of the first set that neither reached the account
    (``unrun``'s mark still there) nor flagged an error in ``err`` (a bad target: ``Kernels._check``
    names it), i.e. whose decisions raised an exception the parallel loop dropped."""
    if fn not in ("sweep", "psweep"):
        return

    acc, err = args[-2], args[-1]
    lost = np.flatnonzero((acc[:, ACC_NRET] < 0.0) & (err[:, 1] == 0.0))
    if lost.size:
        raise swallowed(spec, module, fn, args, int(lost[0]))
