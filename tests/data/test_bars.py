"""One bar-series type (``lq_engine.data.bars.Bars``) and one check (``check_bars``): every entry point
that builds a series from user data refuses a bad one naming the symbol, the field and the row, and
goes through that one check; checked data is never scanned twice; a frozen dataset's series is a
view (no copy, no scan)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import lq_engine.data.bars as bars_mod
from lq_engine.data.bars import Bars, BarsError, check_bars
from lq_engine.errors import LQError

N = 40
T0 = 1_700_000_000_000_000_000
MIN = 60_000_000_000


def _arrays(n: int = N) -> dict[str, np.ndarray]:
    close = 100.0 + np.sin(np.arange(n) / 3.0)
    op = np.concatenate(([close[0]], close[:-1]))
    return {"ts": T0 + np.arange(n, dtype=np.int64) * MIN, "open": op, "high": np.maximum(op, close) + 0.1,
            "low": np.minimum(op, close) - 0.1, "close": close, "volume": np.full(n, 1e3)}


def _frozen(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for f, x in a.items():
        x = np.array(x)
        x.setflags(write=False)
        out[f] = x
    return out


def _bad(field: str, row: int, value: float) -> dict[str, np.ndarray]:
    a = _arrays()
    a[field] = a[field].copy()
    a[field][row] = value
    return _frozen(a)


def _raw(a: dict[str, np.ndarray], symbol: str = "") -> Bars:
    """Unchecked bars (the plain constructor), as a frozen dataset's view or a window is built."""
    return Bars(a["open"], a["high"], a["low"], a["close"], a["volume"], a["ts"], symbol=symbol)


def _names(err: BarsError, symbol: str, field: str, row: int) -> None:
    assert isinstance(err, LQError) and isinstance(err, ValueError)
    assert (err.symbol, err.field, err.row) == (symbol, field, row)
    where = f"series {symbol}: " if symbol else "series: "
    assert str(err).startswith(f"{where}field '{field}' row {row} "), str(err)


@pytest.fixture
def spy(monkeypatch):
    """Counts the calls of the one check (every checked path calls it through the module)."""
    calls: list[str] = []
    real = bars_mod.check_bars

    def counting(symbol, fields):
        calls.append(symbol)
        return real(symbol, fields)

    monkeypatch.setattr(bars_mod, "check_bars", counting)
    return calls


def _from_arrays(a, sym):
    return Bars.from_arrays(sym, a["ts"], a["open"], a["high"], a["low"], a["close"], a["volume"])


def _checked(a, sym):
    return Bars.checked(a["open"], a["high"], a["low"], a["close"], a["volume"], a["ts"], symbol=sym)


def _validated(a, sym):
    return _raw(a, sym).validated()


def _replay(a, sym):
    from lq_engine.replay.engine import replay

    return replay("ma_cross", {"fast": 3, "slow": 8}, _raw(a, sym))


def _evaluate_grid(a, sym):
    from lq_engine.prefilter.evaluate import evaluate_grid

    return evaluate_grid({f: a[f] for f in ("open", "high", "low", "close", "volume", "ts")}, "ma_cross",
                         [{"fast": 3, "slow": 8}])


def _evaluate_grid_bars(a, sym):
    from lq_engine.prefilter.evaluate import evaluate_grid

    return evaluate_grid(_raw(a, sym), "ma_cross", [{"fast": 3, "slow": 8}])


def _replay_feed(a, sym):
    from lq_engine.live.feeds import ReplayFeed

    return ReplayFeed(_raw(a, sym))


def _span_series(a, sym):
    from lq_engine.optimize.tasks import Span

    return Span.cut(_raw(a, sym), 0, N).series(0, N)


ENTRY_POINTS = {"Bars.from_arrays": _from_arrays, "Bars.checked": _checked, "Bars.validated": _validated,
                "replay": _replay, "evaluate_grid(mapping)": _evaluate_grid, "evaluate_grid(Bars)": _evaluate_grid_bars,
                "ReplayFeed": _replay_feed, "Span.series": _span_series}
BAD = [("close", 17, math.nan, "prices must be finite and > 0"), ("low", 3, -1.0, "prices must be finite and > 0"),
       ("open", 0, math.inf, "prices must be finite and > 0"), ("volume", 5, -2.0, "volume must be finite and >= 0"),
       ("ts", 9, T0 + 8 * MIN, "ts must be strictly increasing")]


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("field,row,value,rule", BAD, ids=[b[0] for b in BAD])
def test_every_entry_point_refuses_a_bad_series_through_the_one_check(entry, field, row, value, rule, spy):
    a = _bad(field, row, value)
    sym = "" if entry == "evaluate_grid(mapping)" else "ACME"  # a mapping has no symbol
    with pytest.raises(BarsError) as e:
        ENTRY_POINTS[entry](a, sym)
    _names(e.value, sym, field, row)
    assert rule in str(e.value)
    assert spy == [sym], f"{entry} must check through check_bars exactly once, got {spy}"


def test_lengths_and_emptiness_are_named():
    a = _frozen(_arrays())
    short = dict(a, high=a["high"][:30])
    with pytest.raises(BarsError, match=r"series ACME: field 'high' has 30 rows, 'open' has 40") as e:
        _checked(short, "ACME")
    assert (e.value.symbol, e.value.field, e.value.row) == ("ACME", "high", None)
    empty = {f: x[:0] for f, x in a.items()}
    with pytest.raises(BarsError, match="series ACME: field 'open' has no rows"):
        _checked(empty, "ACME")
    with pytest.raises(BarsError, match="field 'close' is missing"):
        check_bars("ACME", {f: a[f] for f in ("open", "high", "low")})


def test_not_frozen_arrays_are_refused_naming_symbol_and_field():
    from lq_engine.data.guards import FrozenInputError

    a = _frozen(_arrays())
    with pytest.raises(FrozenInputError, match="series ACME: low: array is writable"):
        _checked(dict(a, low=a["low"].copy()), "ACME")
    strided = np.repeat(a["high"], 2)[::2]
    strided.setflags(write=False)
    with pytest.raises(FrozenInputError, match="series ACME: high: array is not C-contiguous"):
        _checked(dict(a, high=strided), "ACME")
    with pytest.raises(FrozenInputError, match="series ACME: ts: got a polars"):
        _checked(dict(a, ts=pl.Series(a["ts"])), "ACME")


def test_checked_bars_are_not_scanned_again(spy):
    from lq_engine.live.feeds import ReplayFeed

    b = _from_arrays(_arrays(), "ACME")
    assert b.is_validated and spy == ["ACME"]
    assert b.validated() is b and ReplayFeed(b).series is b
    head = b.head(10)  # a prefix of a checked series is checked, as frozen copies
    assert head.is_validated and head.n == 10 and head.symbol == "ACME"
    assert not np.shares_memory(head.close, b.close) and not head.close.flags.writeable
    assert spy == ["ACME"]
    raw = _raw(_frozen(_arrays()), "RAW")
    assert not raw.is_validated and not raw.head(10).is_validated  # the plain constructor checks nothing
    raw.validated()
    assert raw.is_validated and spy == ["ACME", "RAW"]


def test_the_rules_live_in_one_place():
    """No other module of lq_engine words a bar-series rule (the one check is ``check_bars``; the
    lake's frame-level ingest rules in ``data/validate.py`` are a separate, wider set)."""
    root = Path(bars_mod.__file__).resolve().parents[1]
    # (funding times have a rule of their own, in data/funding_rates.py: they are not a bar series)
    rules = re.compile(r"prices must be finite|volume must be finite|ts must be strictly increasing")
    hits = [str(p.relative_to(root)) for p in root.rglob("*.py") if rules.search(p.read_text())]
    assert hits == ["data/bars.py"], hits
    old = re.compile(r"^class (Series|SymbolSeries)\b", re.M)
    assert not [p for p in root.rglob("*.py") if old.search(p.read_text())]


def test_a_frozen_dataset_series_is_a_view_neither_copied_nor_scanned(spy):
    from lq_engine.optimize.inputs import dataset_from_frame

    a = _arrays()
    df = pl.DataFrame({"symbol": ["ACME"] * N, "timeframe": ["1m"] * N, **{f: a[f] for f in a}})
    ds = dataset_from_frame(df, "t")
    s = ds.series("ACME")
    assert isinstance(s, Bars) and s.symbol == "ACME" and s.n == N and not s.is_validated and spy == []
    for f in ("ts", "open", "high", "low", "close", "volume"):
        arr = getattr(s, f)
        assert np.shares_memory(arr, ds.arrays[f]) and arr.flags.c_contiguous and not arr.flags.writeable
    assert s.validated() is s and spy == ["ACME"]
