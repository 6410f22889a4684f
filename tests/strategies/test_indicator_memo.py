"""The lookahead scan's indicator reuse (``spec.memo_indicator``) against the plain computation.

The scan runs a segment, then copies of it with one bar field changed after a cut. An indicator that
did not read the changed field is not computed again. The property: with the memo, every indicator
row equals the one computed from scratch, bit for bit, for every field and every strategy shipped or
written as a cheat (indicators reading close, high/low, volume, several fields, other indicators).
The memo must also really be used (the property would hold trivially if it never hit), and an
indicator it cannot watch (a compiled function taking the bars) counts as reading every field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lq_engine.replay.lookahead import SCAN_FIELDS, _perturbed, _Unit, default_series, gate_sets
from lq_engine.data.bars import Bars
from lq_engine.strategies.registry import list_strategies, load_file, resolve
from lq_engine.strategies.spec import memo_indicator

CHEATS = Path(__file__).parent / "cheats"


def _unit(n: int = 400) -> _Unit:
    s = default_series(n, seed=3)
    return _Unit(None, s.ts, {f: np.asarray(getattr(s, f), dtype=np.float64) for f in SCAN_FIELDS}).segment(0, n)


def _bars(u: _Unit) -> Bars:
    return Bars(*(u.fields[f] for f in SCAN_FIELDS), u.ts)


def _single_strategies():
    shipped = [resolve(n) for n in list_strategies() if not resolve(n).is_portfolio]
    cheats = [load_file(p) for p in sorted(CHEATS.glob("*.py")) if p.stem != "__init__"]
    cheats.append(load_file(CHEATS.parent / "mtf" / "mtf_fast.py"))  # higher-timeframe rows closing in 400 bars
    return [s for s in shipped + cheats if not s.is_portfolio and s.indicators]


@pytest.mark.parametrize("spec", _single_strategies(), ids=lambda s: s.name)
def test_memo_rows_equal_rows_computed_from_scratch_for_every_changed_field(spec):
    sets = gate_sets(spec)
    table = spec.table(sets)
    plan = spec.indicator_plan(table)
    seg = _unit()
    memo: dict = {}
    ref = spec.indicator_rows(table, _bars(seg), plan, memo)
    assert np.array_equal(ref.bank, spec.indicator_rows(table, _bars(seg)).bank, equal_nan=True)
    rng = np.random.default_rng(0)
    for field in SCAN_FIELDS:
        for how in (1.5, None):
            alt = _perturbed(seg, 300, field, how, rng)
            with_memo = spec.indicator_rows(table, _bars(alt), plan, memo)
            plain = spec.indicator_rows(table, _bars(alt))
            assert with_memo.bank.tobytes() == plain.bank.tobytes(), (spec.name, field, how)


def test_the_memo_is_used_for_fields_an_indicator_does_not_read():
    """ma_cross's averages read the close only: a changed volume reuses every row, a changed close
    computes every row again (so the property above is not vacuous)."""
    spec = resolve("ma_cross")
    table = spec.table(gate_sets(spec))
    plan = spec.indicator_plan(table)
    seg = _unit()
    memo: dict = {}
    spec.indicator_rows(table, _bars(seg), plan, memo)
    calls = sum(len(v) for v in memo.values())
    rng = np.random.default_rng(0)
    spec.indicator_rows(table, _bars(_perturbed(seg, 300, "volume", 1.5, rng)), plan, memo)
    assert sum(len(v) for v in memo.values()) == calls  # every row reused
    assert all([f for f, _ in read] == ["close"] for entries in memo.values() for read, *_ in entries)
    spec.indicator_rows(table, _bars(_perturbed(seg, 300, "close", 1.5, rng)), plan, memo)
    assert sum(len(v) for v in memo.values()) == 2 * calls  # every row computed again


def test_an_indicator_the_proxy_cannot_serve_counts_as_reading_every_field():
    """A compiled indicator taking the bars tuple cannot be handed the watching proxy: it runs on the
    real bars and its value is reused only when no field at all changed."""
    from numba import njit

    from lq_engine.strategies.spec import bars_view

    @njit(cache=False)
    def _last_high(bars):
        return bars.high.copy()

    spec = resolve("ma_cross")

    class Decl:  # an indicator declaration whose function is compiled
        name = "last_high"
        fn = staticmethod(lambda bars, **kw: _last_high(bars))
        constants: dict = {}
        timeframe = None  # on the base bars

    seg = _unit()
    view = bars_view(_bars(seg))
    memo: dict = {}
    row = np.empty(seg.n)
    memo_indicator(spec, Decl, view, {}, {}, row, ("last_high",), memo)
    (read, *_), = memo[("last_high",)]
    assert [f for f, _ in read] == sorted(view._fields)
    assert np.array_equal(row, seg.fields["high"])
    alt = _perturbed(seg, 300, "volume", 1.5, np.random.default_rng(0))
    row2 = np.empty(seg.n)
    memo_indicator(spec, Decl, bars_view(_bars(alt)), {}, {}, row2, ("last_high",), memo)
    assert len(memo[("last_high",)]) == 2  # volume changed: computed again, not reused


def _portfolio_strategies():
    shipped = [resolve(n) for n in list_strategies() if resolve(n).is_portfolio]
    cheats = [load_file(p) for p in sorted(CHEATS.glob("*.py")) if p.stem != "__init__"]
    return [s for s in shipped + [c for c in cheats if c.is_portfolio] if s.indicators]


@pytest.mark.parametrize("spec", _portfolio_strategies(), ids=lambda s: s.name)
def test_memo_rows_equal_rows_computed_from_scratch_on_a_panel(spec):
    """The same property on a universe (symbols x bars), each field changed after a cut."""
    from lq_engine.replay.lookahead import _units, generated_panel, universe_size
    from lq_engine.strategies.panel import Panel

    (seg,) = _units(spec, generated_panel(400, universe_size(spec), seed=3))

    def panel(u: _Unit) -> Panel:
        return Panel(u.symbols, u.ts, *(u.fields[f] for f in SCAN_FIELDS), u.mask)

    table = spec.table(gate_sets(spec))
    plan = spec.indicator_plan(table)
    memo: dict = {}
    spec.indicator_rows(table, panel(seg), plan, memo)
    hits = 0
    rng = np.random.default_rng(0)
    for field in SCAN_FIELDS:
        for how in (1.5, None):
            before = sum(len(v) for v in memo.values())
            alt = _perturbed(seg, 300, field, how, rng)
            with_memo = spec.indicator_rows(table, panel(alt), plan, memo)
            hits += sum(len(v) for v in memo.values()) == before
            plain = spec.indicator_rows(table, panel(alt))
            assert with_memo.bank.tobytes() == plain.bank.tobytes(), (spec.name, field, how)
    assert hits  # some field no indicator reads (volume, at least): every row reused
