"""Frozen datasets, the read-only guard, features, the synthetic generator and the bundled data."""

import json

import numpy as np
import polars as pl
import pytest

from landing_files import bar_lines, write_csv
from lq_engine.data.features import bar_features
from lq_engine.data.frozen import UniverseSpec, build_frozen, freeze_frame, load_frozen
from lq_engine.data.guards import FrozenInputError, freeze, require_frozen_array
from lq_engine.data.ingest import ingest_file, ingest_files
from lq_engine.data.samples import (bundled_daily_path, copy_bundled_to_landing, generate_synthetic,
                                    write_synthetic_to_landing)
from lq_engine.data.validate import validate_bars


def _two_symbols(paths):
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(30)), paths)
    ingest_file(write_csv(paths.landing / "BBB_1m.csv", bar_lines(20, start_min=5, price=50.0)), paths)


def test_build_load_and_hash_is_content_only(paths, tmp_path):
    _two_symbols(paths)
    spec = UniverseSpec("u", ["BBB", "AAA"], "1m")
    ds = build_frozen(paths, spec)
    assert ds.symbols == ("AAA", "BBB") and ds.n_rows == 50 and list(ds.offsets) == [0, 30, 50]
    assert ds.folder == paths.frozen / "u" / ds.content_hash[:16]
    s = ds.series("BBB")
    assert s.close.flags.c_contiguous and not s.close.flags.writeable and len(s.ts) == 20
    assert ds.symbol_span("AAA") == ("2024-01-01T00:00:00Z", "2024-01-01T00:29:00Z")
    for name in ("ts", "open", "high", "low", "close", "volume"):
        require_frozen_array(getattr(ds, name), name, np.int64 if name == "ts" else np.float64)
    again = build_frozen(paths, spec)  # same inputs: same hash, same folder
    assert again.content_hash == ds.content_hash and again.folder == ds.folder
    loaded = load_frozen(ds.folder, verify=True)
    assert np.array_equal(loaded.close, ds.close)
    assert not list((paths.frozen / "u").glob(".tmp-*"))
    # a correction to the data gives a new hash
    ingest_file(write_csv(paths.landing / "AAA_1m_fix.csv", bar_lines(1, price=101.0)), paths)
    assert build_frozen(paths, spec).content_hash != ds.content_hash
    # a different date range is a different universe
    assert build_frozen(paths, UniverseSpec("u", ["AAA"], "1m", "2024-01-01", "2024-01-01")).n_rows == 30


def _flip_byte(f, offset_from_end: int = 8) -> None:
    data = bytearray(f.read_bytes())
    data[-offset_from_end] ^= 0x01
    f.write_bytes(bytes(data))


def test_a_flipped_byte_is_refused_naming_the_file_and_rebuilt_from_the_lake(paths):
    from lq_engine.data.frozen import FrozenCorruptError, open_frozen

    _two_symbols(paths)
    ds = build_frozen(paths, UniverseSpec("u", ["AAA", "BBB"], "1m"))
    original = {f.name: f.read_bytes() for f in ds.folder.iterdir()}
    load_frozen(ds.folder)  # verified once in this process
    _flip_byte(ds.folder / "close.npy")
    # a process loading it checks it first (the changed file is noticed even after a verified load)
    with pytest.raises(FrozenCorruptError, match=r"close\.npy: checksum mismatch"):
        load_frozen(ds.folder)
    # the platform's path to a dataset (by name and hash) rebuilds it from the lake instead
    again = open_frozen(paths, "u", ds.content_hash)
    assert again.content_hash == ds.content_hash
    assert {f.name: f.read_bytes() for f in again.folder.iterdir()} == original
    # a manifest of an older build (no checksums) falls back to the sha256 content hash
    m = json.loads((again.folder / "manifest.json").read_text())
    del m["checksums"]
    (again.folder / "manifest.json").write_text(json.dumps(m))
    _flip_byte(again.folder / "volume.npy")
    with pytest.raises(FrozenCorruptError, match="content hash mismatch"):
        load_frozen(again.folder)


def test_a_torn_folder_is_rebuilt_not_reused(paths):
    """Frozen folders are written without fsync (a rebuildable cache): if a power loss tore one
    behind its manifest, the next build notices and rebuilds it."""
    _two_symbols(paths)
    spec = UniverseSpec("u", ["AAA", "BBB"], "1m")
    ds = build_frozen(paths, spec)
    want_open = np.array(ds.open)  # a copy: the folder's files are about to be damaged
    good = (ds.folder / "close.npy").read_bytes()
    (ds.folder / "close.npy").write_bytes(good[: len(good) // 2])  # truncated
    again = build_frozen(paths, spec)
    assert again.folder == ds.folder and (again.folder / "close.npy").read_bytes() == good
    np.save(again.folder / "open.npy", np.zeros(50))  # right shape, wrong bytes
    assert np.array_equal(load_frozen(build_frozen(paths, spec).folder, verify=True).open, want_open)
    assert not list((paths.frozen / "u").glob(".tmp-*"))


def test_concurrent_builds_of_one_universe_agree(paths):
    from concurrent.futures import ThreadPoolExecutor

    _two_symbols(paths)
    spec = UniverseSpec("u", ["AAA", "BBB"], "1m")
    with ThreadPoolExecutor(4) as pool:
        built = list(pool.map(lambda _: build_frozen(paths, spec), range(8)))
    assert len({(d.folder, d.content_hash) for d in built}) == 1
    assert load_frozen(built[0].folder, verify=True).n_rows == 50
    assert not list((paths.frozen / "u").glob(".tmp-*"))


def test_missing_symbol_is_a_clear_error(paths):
    _two_symbols(paths)
    with pytest.raises(ValueError, match=r"no 1m bars in the lake for \['ZZZ'\]"):
        build_frozen(paths, UniverseSpec("u", ["AAA", "ZZZ"], "1m"))


def test_guard_refuses_frames_and_writable_arrays():
    df = pl.DataFrame({"close": [1.0, 2.0]})
    with pytest.raises(FrozenInputError, match="polars"):
        require_frozen_array(df, "close")
    with pytest.raises(FrozenInputError, match="writable"):
        require_frozen_array(np.array([1.0, 2.0]), "close")
    assert require_frozen_array(freeze(np.array([1.0])), "close")[0] == 1.0


def test_freeze_frame_sorts_and_rejects_duplicates():
    df = pl.DataFrame({"symbol": ["B", "A", "A"], "ts": [5, 2, 1], "open": [1.0] * 3, "high": [1.0] * 3,
                       "low": [1.0] * 3, "close": [1.0, 2.0, 3.0], "volume": [0.0] * 3})
    fa = freeze_frame(df)
    assert fa.symbols == ("A", "B") and list(fa.arrays["ts"]) == [1, 2, 5]
    assert list(fa.arrays["close"]) == [3.0, 2.0, 1.0]
    with pytest.raises(ValueError, match="duplicate timestamp"):
        freeze_frame(df.with_columns(pl.lit(1).alias("ts")))


def test_features_match_a_plain_numpy_reference():
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))
    offsets = np.array([0, 1000, 1000, 3000])  # includes an empty symbol
    f = bar_features(close, offsets, window=32)
    for a, b in zip(offsets[:-1], offsets[1:]):
        c = close[a:b]
        if len(c) == 0:
            continue
        assert np.isnan(f["returns"][a])
        np.testing.assert_array_equal(f["returns"][a + 1:b], (c[1:] - c[:-1]) / c[:-1])
        win = np.lib.stride_tricks.sliding_window_view(c, 32)
        np.testing.assert_allclose(f["roll_mean"][a + 31:b], win.mean(axis=1), rtol=1e-13)
        np.testing.assert_allclose(f["roll_std"][a + 31:b], win.std(axis=1, ddof=1), rtol=1e-11)
        assert np.isnan(f["roll_std"][a:a + 31]).all()


def test_synthetic_is_deterministic_valid_and_keyed_by_symbol():
    a = generate_synthetic(3, 2, seed=9)
    assert a.equals(generate_synthetic(3, 2, seed=9))
    assert a.height == 3 * 2 * 1440 and a["symbol"].unique().sort().to_list() == ["SYN000", "SYN001", "SYN002"]
    validate_bars("synthetic", a)
    more = generate_synthetic(5, 2, seed=9)
    assert more.filter(pl.col("symbol") == "SYN001").equals(a.filter(pl.col("symbol") == "SYN001"))
    assert not generate_synthetic(3, 2, seed=10).equals(a)
    r = np.diff(np.log(a.filter(pl.col("symbol") == "SYN000")["close"].to_numpy()))
    ac = np.corrcoef(np.abs(r[1:]), np.abs(r[:-1]))[0, 1]
    assert ac > 0.05  # volatility clustering: |returns| are autocorrelated


def test_synthetic_files_land_and_ingest(paths):
    files = write_synthetic_to_landing(paths, 2, 1, seed=4)
    assert [f.name for f in files] == ["synthetic_SYN000_1m_2024-01-01_1d_seed4.parquet",
                                       "synthetic_SYN001_1m_2024-01-01_1d_seed4.parquet"]
    assert files[0].read_bytes() == write_synthetic_to_landing(paths, 2, 1, seed=4)[0].read_bytes()
    reports = ingest_files(files, paths)
    assert sum(r.rows_new for r in reports) == 2 * 1440


def test_bundled_dataset_ingests_and_freezes(paths):
    assert bundled_daily_path().stat().st_size < 600_000  # compact: committed to the repo
    f = copy_bundled_to_landing(paths)
    r = ingest_file(f, paths)
    assert r.rows_read == 12_154
    months = sorted({p.month for p in r.partitions})
    assert months[0] == "2000-03" and months[-1] == "2013-03"
    ds = build_frozen(paths, UniverseSpec("us_stocks_daily", ["AAPL", "GOOG", "IBM", "MSFT"], "1d"))
    assert ds.n_rows == 3270 * 3 + 2148
    assert ds.symbol_span("GOOG") == ("2004-08-19T00:00:00Z", "2013-03-01T00:00:00Z")
    # split-adjusted: across AAPL's 2:1 splits (2000-06-21, 2005-02-28) the close does not halve
    aapl = ds.series("AAPL")
    ts, close = np.asarray(aapl.ts), np.asarray(aapl.close)
    for day in ("2000-06-21", "2005-02-28"):
        i = int(np.searchsorted(ts, np.datetime64(day, "ns").astype(np.int64)))
        assert 0.8 < close[i] / close[i - 1] < 1.25, (day, close[i - 1], close[i])
