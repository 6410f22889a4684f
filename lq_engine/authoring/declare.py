"""How a strategy is written: the ``lq.Strategy`` base class and what goes in its body.

A strategy is one class in one file::

    import lq_engine.api as lq

    class MaCross(lq.Strategy):
        \"\"\"Long while the fast moving average is above the slow one.\"\"\"
        fast = lq.Int(2, 400, grid=range(5, 51, 2))
        slow = lq.Int(5, 2000, grid=range(20, 201, 4))
        constraints = [lq.less("fast", "slow")]

        @lq.indicator
        def fast_ma(bars, fast):
            return lq.ta.sma(bars.close, fast)

        @lq.indicator
        def slow_ma(bars, slow):
            return lq.ta.sma(bars.close, slow)

        @lq.decide
        def decide(i, bars, ind, p, pos, st):
            return 1.0 if ind.fast_ma[i] > ind.slow_ma[i] else 0.0

The class body only declares; nothing runs until a driver asks. ``Strategy.__init_subclass__``
checks the declaration (each error names the strategy, its file and the parameter or function at
fault) and keeps it as ``cls.declaration``; ``lq_engine.strategies.spec.StrategySpec`` turns it into
the object that runs.
"""

from __future__ import annotations

import inspect
import keyword
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from lq_engine.errors import InputTypeError, LQError
from lq_engine.authoring.params import Constraint, less as _less, less_equal as _le, Param, ParamError, SIDES
from lq_engine.data.resample import canonical_timeframe, timeframe_to_ns

DECIDE_ARGS = ("i", "bars", "ind", "p", "pos", "st")
PORTFOLIO_DECIDE_ARGS = (*DECIDE_ARGS, "w")
BAR_FIELDS = ("open", "high", "low", "close", "volume", "ts")
PANEL_FIELDS = (*BAR_FIELDS, "mask")
RESERVED = frozenset({"name", "state", "constraints", "declaration", "description", "min_symbols",
                      "max_symbols", "gross", "timeframe"})


class StrategyError(LQError, ValueError):
    """A strategy declaration or its code is wrong; the message names the file and what is at fault."""


# -- parameters ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParamDecl:
    """A parameter declared in a class body; it gets its name from the attribute it is bound to."""

    kind: str
    options: dict

    def bind(self, name: str) -> Param:
        return Param(name, self.kind, **self.options)


def _grid(values: Iterable | None) -> tuple | None:
    return None if values is None else tuple(values)


def Int(low: int, high: int, *, step: int = 1, grid: Iterable[int] | None = None, default: int | None = None,
        log: bool = False) -> ParamDecl:
    """An integer parameter valid in [low, high]. Its default grid is ``grid``, else low..high by
    ``step``; samplers search [low, high] (on a log scale with ``log=True``)."""
    return ParamDecl("int", dict(low=low, high=high, step=step, grid=_grid(grid), default=default, log=log))


def Float(low: float, high: float, *, step: float | None = None, grid: Iterable[float] | None = None,
          default: float | None = None, log: bool = False) -> ParamDecl:
    """A float parameter valid in [low, high]. Its default grid is ``grid``, else low..high by
    ``step`` (one of the two is needed for grid search); samplers search the continuous range."""
    return ParamDecl("float", dict(low=low, high=high, step=step, grid=_grid(grid), default=default, log=log))


def Choice(*values: Any, default: Any = None) -> ParamDecl:
    """One of ``values``. Numbers reach ``decide`` as themselves; strings as their index (0 for the
    first), which ``decide`` compares by name: ``mode = lq.Choice("fast", "slow")`` gives ``p.mode``
    and the constants ``p.MODE_FAST`` (0) and ``p.MODE_SLOW`` (1), so ``if p.mode == p.MODE_FAST:``
    (``p.<PARAM>_<VALUE>``, upper case; characters other than letters and digits become ``_``)."""
    return ParamDecl("choice", dict(choices=tuple(values), default=default))


def Bool(default: bool | None = None) -> ParamDecl:
    """True or False (both in the default grid); ``decide`` sees a bool."""
    return ParamDecl("bool", dict(default=default))


def Side(default: str = "long", grid: Iterable[str] = ("long",)) -> ParamDecl:
    """Which sides a strategy may take: 'long', 'short' or 'both' (``decide`` sees lq.LONG,
    lq.SHORT or lq.BOTH; ``lq.sided(target, p.side)`` drops the side that is not allowed)."""
    return ParamDecl("choice", dict(choices=SIDES, default=default, grid=_grid(grid)))


def less(a: str, b: str) -> Constraint:
    """Constraint ``a < b`` between two parameters."""
    return _less(a, b)


def less_equal(a: str, b: str) -> Constraint:
    """Constraint ``a <= b`` between two parameters."""
    return _le(a, b)


def constraint(text: str, holds: Callable[[dict], bool]) -> Constraint:
    """Any constraint: ``holds(params)`` is True for valid sets; ``text`` is shown in errors."""
    return Constraint(text, holds)


# -- state ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class State:
    """Numeric fields a strategy keeps between bars (one record per parameter set), with their
    starting values: ``State(entry_bar=-1, peak=0.0, armed=False)``. Int defaults make int64
    fields, floats float64, bools bool. ``decide`` reads and writes them as ``st.peak``."""

    fields: dict

    def __init__(self, **fields: Any) -> None:
        for k, v in fields.items():
            if not k.isidentifier() or keyword.iskeyword(k) or k.startswith("_"):
                raise StrategyError(f"State field {k!r} is not a valid name")
            if isinstance(v, (bool, np.bool_)):
                continue
            if not isinstance(v, (int, float, np.integer, np.floating)):
                raise StrategyError(f"State field {k!r}: default must be an int, float or bool, got {v!r}")
        object.__setattr__(self, "fields", dict(fields))

    @property
    def dtype(self) -> np.dtype:
        cols = []
        for k, v in self.fields.items():
            t = np.bool_ if isinstance(v, (bool, np.bool_)) else (
                np.int64 if isinstance(v, (int, np.integer)) else np.float64)
            cols.append((k, t))
        return np.dtype(cols or [("_unused", np.int64)])

    def new(self, n: int) -> np.recarray:
        """``n`` records at their starting values (a recarray: attribute access with or without the JIT)."""
        out = np.zeros(n, dtype=self.dtype).view(np.recarray)
        for k, v in self.fields.items():
            out[k] = v
        return out


NO_STATE = State()


# -- functions -----------------------------------------------------------------------------------

_ROLE = "_lq_role"
_TIMEFRAME = "_lq_timeframe"


def indicator(fn: Callable | None = None, *, timeframe: str | None = None) -> Callable:
    """Mark ``fn(bars, <parameter or indicator names...>, <constants with defaults...>)`` as an
    indicator: an array of one value per bar, computed from bars up to that bar only. An argument
    named after another indicator receives that indicator's array (as it returned it), so a chain
    (spread -> z-score) computes each link once. It runs once per distinct tuple of the parameters it
    depends on (its own and its inputs') across the grid, in numpy or numba; ``decide`` reads it as
    ``ind.<name>[i]``.

    ``@lq.indicator(timeframe="4h")``: the indicator runs over bars of that higher timeframe,
    resampled from the strategy's base bars (declare their timeframe in the class body:
    ``timeframe = "1m"``); it returns one value per higher bar, and ``ind.<name>[i]`` is the value of
    the last higher bar that had closed by base bar i's close (NaN before the first).
    The rule: ``lq_engine.data.resample`` and docs/how-to/multi-timeframe.md."""
    if fn is None:
        def mark(f: Callable) -> Callable:
            return indicator(f, timeframe=timeframe)
        return mark
    if not callable(fn):
        raise StrategyError(f"@lq.indicator({fn!r}): give the timeframe by name, @lq.indicator(timeframe={fn!r})")
    setattr(fn, _ROLE, "indicator")
    setattr(fn, _TIMEFRAME, timeframe)
    return fn


def decide(fn: Callable) -> Callable:
    """Mark ``decide(i, bars, ind, p, pos, st) -> float`` as the decision: the target exposure in
    [-1, 1] wanted from the next open on, decided at bar i's close (numba-compiled; it may read bars
    and indicators at indices <= i only). The arguments are passed by position: their names are
    checked, in this order (a leading underscore may mark an unused one: ``_st``)."""
    setattr(fn, _ROLE, "decide")
    return fn


def exits(fn: Callable) -> Callable:
    """Mark ``exits(i, bars, ind, p, pos, st) -> (stop_loss, take_profit, trailing)``: protective
    orders for the entry decided at bar i, as fractions of the entry price in (0, 1), NaN for none.
    Called only when a decision opens a position or turns it to the other side. Its arguments are
    checked by name as ``decide``'s are."""
    setattr(fn, _ROLE, "exits")
    return fn


@dataclass(frozen=True)
class IndicatorDecl:
    name: str
    fn: Callable
    params: tuple[str, ...]  # the strategy parameters it depends on: its own, then its inputs' (a key's order)
    constants: dict = field(default_factory=dict)
    args: tuple[str, ...] = ()  # its arguments after the bars, in call order: parameters and indicators
    inputs: tuple[str, ...] = ()  # the indicators among ``args``
    timeframe: str | None = None  # a higher timeframe it runs over (canonical, "4h"); None: the base bars

    @property
    def timeframe_ns(self) -> int:
        return timeframe_to_ns(self.timeframe) if self.timeframe else 0


@dataclass(frozen=True)
class Declaration:
    """Everything a strategy class declares, checked."""

    cls_name: str
    file: str
    name: str | None
    description: str
    params: tuple[Param, ...]
    constraints: tuple[Constraint, ...]
    state: State
    indicators: tuple[IndicatorDecl, ...]
    decide: Callable
    exits: Callable | None
    portfolio: bool = False  # a PortfolioStrategy: decide sees the universe's panel, writes weights
    min_symbols: int = 1
    max_symbols: int | None = 1
    gross: float = 1.0  # largest sum of |weight| a portfolio decision may ask for
    timeframe: str | None = None  # the base bars' timeframe (canonical), declared for higher-timeframe indicators

    @property
    def timeframe_ns(self) -> int:
        return timeframe_to_ns(self.timeframe) if self.timeframe else 0


def _raw(fn: Any) -> Callable:
    """The Python function behind a staticmethod or a numba dispatcher."""
    if isinstance(fn, staticmethod):
        fn = fn.__func__
    return getattr(fn, "py_func", fn)


def _where(cls: type) -> tuple[str, str]:
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None) or "<unknown file>"
    return file, f"{file}: strategy {cls.__name__}"


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _check_fn_args(fn: Callable, role: str, where: str, args: tuple[str, ...] = DECIDE_ARGS) -> None:
    """``fn`` takes exactly ``args``, in this order, positionally. The drivers pass them by position, so
    a function naming them in another order (``decide(i, bars, p, ind, pos, st)``) would read the
    parameters as the indicators: its names are checked, not only their count. A leading underscore
    marks an argument the function does not use (``_pos``); the name after it must still be the
    expected one."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise StrategyError(f"{where}: @{role} {fn!r} is not a plain function") from None
    expected = (f"{role} takes ({', '.join(args)}) in this order (a leading underscore may mark those it does not "
                "use: _pos)")
    prms = list(sig.parameters.values())
    names = tuple(prm.name for prm in prms)
    if len(names) != len(args):
        raise StrategyError(f"{where}: @lq.{role} function {fn.__name__}{sig} takes {len(names)} arguments; "
                            f"{expected}")
    for k, (prm, want) in enumerate(zip(prms, args)):
        if prm.name.lstrip("_") != want:
            hint = (f" ({prm.name!r} goes at argument {args.index(prm.name.lstrip('_')) + 1})"
                    if prm.name.lstrip("_") in args else "")
            raise StrategyError(f"{where}: @lq.{role} function {fn.__name__}{sig}: argument {k + 1} is named "
                                f"{prm.name!r}, expected {want!r}{hint}; {expected}")
        if prm.kind not in (prm.POSITIONAL_ONLY, prm.POSITIONAL_OR_KEYWORD) or prm.default is not prm.empty:
            raise StrategyError(f"{where}: @lq.{role} function {fn.__name__}{sig}: argument {prm.name!r} must be "
                                f"a plain positional argument, without a default; {expected}")


def declaration_of(cls: type) -> Declaration:
    """Collect and check the declarations of a strategy class body."""
    file, where = _where(cls)
    params: list[Param] = []
    indicators: list[IndicatorDecl] = []
    found: dict[str, Callable] = {}
    names_seen: set[str] = set()
    body = {}
    for klass in reversed(cls.__mro__[:-1]):  # a subclass may extend or override a parent strategy
        if klass.__name__ == "Strategy" and klass.__module__ == __name__:
            continue
        body.update(vars(klass))
    for attr, value in body.items():
        if isinstance(value, ParamDecl):
            if attr.startswith("_") or attr in RESERVED:
                raise StrategyError(f"{where}: parameter name {attr!r} is reserved; choose another name")
            try:
                params.append(value.bind(attr))
            except ParamError as e:
                raise StrategyError(f"{where}: {e}") from None
            names_seen.add(attr)
            continue
        fn = _raw(value)
        role = getattr(fn, _ROLE, None)
        if role is None:
            continue
        if role == "indicator":
            indicators.append(_indicator_decl(attr, fn, where))
        else:
            if role in found:
                raise StrategyError(f"{where}: more than one @{role} function ({found[role].__name__}, {attr})")
            found[role] = fn
    pnames = {p.name for p in params}
    _check_choice_constants(params, where)
    indicators = _indicator_graph(indicators, pnames, where)
    portfolio = any(getattr(k, "_lq_portfolio", False) for k in cls.__mro__)
    if "decide" not in found:
        raise StrategyError(f"{where}: no @lq.decide function")
    _check_fn_args(found["decide"], "decide", where, PORTFOLIO_DECIDE_ARGS if portfolio else DECIDE_ARGS)
    if "exits" in found:
        if portfolio:
            raise StrategyError(f"{where}: a portfolio strategy cannot declare @lq.exits (protective orders are "
                                "per entry of one symbol); size the weights instead")
        _check_fn_args(found["exits"], "exits", where)
    universe = _universe(body, where) if portfolio else (1, 1, 1.0)
    cons = body.get("constraints", ())
    if isinstance(cons, Constraint):
        cons = (cons,)
    if not isinstance(cons, (list, tuple)) or not all(isinstance(c, Constraint) for c in cons):
        raise StrategyError(f"{where}: 'constraints' must be a list of lq.less(...), lq.constraint(...), ...")
    for c in cons:
        for token in re.findall(r"[A-Za-z_]\w*", c.text):
            if c.columns is not None and token not in pnames:
                raise StrategyError(f"{where}: constraint '{c.text}' names {token!r}, which is not a parameter "
                                    f"(parameters: {sorted(pnames)})")
    timeframe = _timeframes(body.get("timeframe"), indicators, portfolio, where)
    state = body.get("state", NO_STATE)
    if not isinstance(state, State):
        raise StrategyError(f"{where}: 'state' must be lq.State(field=default, ...), got {state!r}")
    name = body.get("name")
    if name is not None and not (isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_]*", name)):
        raise StrategyError(f"{where}: name {name!r} must be lower-case letters, digits and underscores")
    return Declaration(cls.__name__, file, name, inspect.cleandoc(cls.__doc__ or "").strip(), tuple(params),
                       tuple(cons), state, tuple(indicators), found["decide"], found.get("exits"), portfolio,
                       *universe, timeframe)


def _timeframe(value: Any, what: str, where: str) -> str:
    try:
        return canonical_timeframe(value)
    except (LQError, AttributeError, TypeError) as e:
        raise StrategyError(f"{where}: {what}: {e}") from None


def _timeframes(base: Any, indicators: list[IndicatorDecl], portfolio: bool, where: str) -> str | None:
    """The base timeframe (canonical, or None), checked against the indicators' higher timeframes:
    declared when any indicator has one, each a multiple of it, and inputs on one clock."""
    if base is not None:
        base = _timeframe(base, "timeframe (the base bars' timeframe)", where)
    higher = [d for d in indicators if d.timeframe]
    if not higher:
        return base
    if portfolio:
        raise StrategyError(f"{where}: indicator {higher[0].name!r} has timeframe={higher[0].timeframe!r}; "
                            "higher-timeframe indicators are for single-symbol strategies")
    if base is None:
        raise StrategyError(f"{where}: indicator {higher[0].name!r} runs on {higher[0].timeframe} bars: declare the "
                            "timeframe of the bars the strategy runs on in its class body, e.g. timeframe = \"1m\"")
    b = timeframe_to_ns(base)
    by_name = {d.name: d for d in indicators}
    for d in indicators:
        if d.timeframe:
            h = d.timeframe_ns
            if h <= b or h % b:
                raise StrategyError(f"{where}: indicator {d.name!r}: timeframe {d.timeframe} must be a multiple of the "
                                    f"strategy's timeframe {base}, and longer")
        for a in d.inputs:
            tf = by_name[a].timeframe
            if d.timeframe and tf != d.timeframe:
                raise StrategyError(f"{where}: indicator {d.name!r} ({d.timeframe} bars) takes {a!r} "
                                    f"({tf or base} bars); a higher-timeframe indicator takes indicators of its own "
                                    "timeframe only")
    return base


def _check_choice_constants(params: list[Param], where: str) -> None:
    """The names ``decide`` reads string choices by (``p.MODE_FAST``) are fields of ``p`` beside the
    parameters: each must be one name only."""
    owner: dict[str, str] = {prm.name: f"parameter {prm.name!r}" for prm in params}
    for prm in params:
        seen: dict[str, object] = {}
        for c in prm.choices if prm.choice_constants else ():
            const = prm.constant_name(c)
            if const is None:
                continue
            if const in seen:
                raise StrategyError(f"{where}: parameter {prm.name!r}: choices {seen[const]!r} and {c!r} would both be "
                                    f"read as p.{const} in decide; make them differ in letters or digits")
            seen[const] = c
            if const in owner:
                raise StrategyError(f"{where}: parameter {prm.name!r}: choice {c!r} is read as p.{const} in decide, "
                                    f"the name of {owner[const]}; rename one of them")
            owner[const] = f"choice {c!r} of parameter {prm.name!r}"


def _universe(body: dict, where: str) -> tuple[int, int | None, float]:
    lo, hi, gross = body.get("min_symbols", 1), body.get("max_symbols"), body.get("gross", 1.0)
    if not (isinstance(lo, int) and lo >= 1):
        raise StrategyError(f"{where}: min_symbols must be an integer >= 1, got {lo!r}")
    if hi is not None and not (isinstance(hi, int) and hi >= lo):
        raise StrategyError(f"{where}: max_symbols must be None or an integer >= min_symbols, got {hi!r}")
    if isinstance(gross, bool) or not isinstance(gross, (int, float)) or not (0 < gross <= 100):
        raise StrategyError(f"{where}: gross must be a number in (0, 100], got {gross!r}")
    return lo, hi, float(gross)


def _indicator_decl(attr: str, fn: Callable, where: str) -> IndicatorDecl:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise StrategyError(f"{where}: @indicator {attr} is not a plain function") from None
    ps = list(sig.parameters.values())
    if not ps:
        raise StrategyError(f"{where}: @indicator {attr} must take the bars as its first argument")
    args, constants = [], {}
    for prm in ps[1:]:
        if prm.default is inspect.Parameter.empty:
            args.append(prm.name)
        else:
            constants[prm.name] = prm.default
    tf = getattr(fn, _TIMEFRAME, None)
    if tf is not None:
        tf = _timeframe(tf, f"@lq.indicator {attr}: timeframe", where)
    return IndicatorDecl(attr, fn, tuple(args), constants, tuple(args), timeframe=tf)


def _indicator_graph(indicators: list[IndicatorDecl], pnames: set[str], where: str) -> list[IndicatorDecl]:
    """Each indicator with its inputs (arguments naming another indicator) and every parameter it
    depends on, in an order where inputs come first (declaration order otherwise)."""
    by_name = {d.name: d for d in indicators}
    for d in indicators:
        if d.name in pnames:
            raise StrategyError(f"{where}: indicator {d.name!r} has the name of a parameter")
        for a in d.args:
            if a not in pnames and a not in by_name:
                raise StrategyError(f"{where}: indicator {d.name!r} takes {a!r}, which is neither a parameter nor an "
                                    f"indicator of the strategy (parameters: {sorted(pnames)}, indicators: "
                                    f"{sorted(by_name)}; give constants a default value)")
    done: dict[str, IndicatorDecl] = {}

    def visit(d: IndicatorDecl, path: tuple[str, ...]) -> IndicatorDecl:
        if d.name in done:
            return done[d.name]
        if d.name in path:
            raise StrategyError(f"{where}: indicators depend on each other in a circle: "
                                f"{' -> '.join(path[path.index(d.name):] + (d.name,))}")
        params = [a for a in d.args if a in pnames]
        inputs = tuple(a for a in d.args if a in by_name)
        for a in inputs:
            for q in visit(by_name[a], path + (d.name,)).params:
                if q not in params:
                    params.append(q)
        done[d.name] = IndicatorDecl(d.name, d.fn, tuple(params), d.constants, d.args, inputs, d.timeframe)
        return done[d.name]

    for d in indicators:
        visit(d, ())
    return list(done.values())


class Strategy:
    """Base class of every strategy: declare parameters, indicators, ``decide`` (and optionally
    ``exits`` and ``state``) in the class body. See the module docstring and the docs page
    "Your own strategy" (docs/how-to/own-strategy.md)."""

    declaration: Declaration

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_lq_base"):  # a framework base class (PortfolioStrategy), not a strategy
            return
        cls.declaration = declaration_of(cls)

    def __init__(self) -> None:
        raise InputTypeError(f"{type(self).__name__} is a declaration; get the runnable strategy with "
                        f"lq_engine.strategies.resolve({snake_case(type(self).__name__)!r}) or StrategySpec.of(cls)")


class PortfolioStrategy(Strategy):
    """Base class of portfolio strategies: ``decide(i, bars, ind, p, pos, st, w)`` sees the universe
    aligned on one clock (``bars.close[s, i]``, ``bars.mask[s, i]``: symbol s has a bar at i;
    indicators are (symbols x bars), or one series (bars,) shared by all) and writes a target weight
    per symbol into ``w`` (it holds the current targets on entry). A symbol whose weight changes
    trades at the next open; ``return True`` to bring every symbol back to its weight (a periodic
    rebalance of drifted holdings). Declare ``min_symbols``, ``max_symbols`` (None: any) and
    ``gross``, the cap on the sum of |weight|. One cash account holds every leg."""

    _lq_base = True
    _lq_portfolio = True
    min_symbols = 1
    max_symbols: int | None = None
    gross = 1.0


__all__ = ["Bool", "Choice", "PortfolioStrategy", "Declaration", "Float", "IndicatorDecl", "Int", "ParamDecl", "Side",
           "State",
           "Strategy", "StrategyError", "constraint", "decide", "exits", "indicator", "less", "less_equal"]
