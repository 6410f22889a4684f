"""Funding rates in the lake: the landing-file contract (``symbol,ts,funding_rate``), detection by
content, validation naming file/row/field with quarantine, the merge (a later file wins per ts), the
stored schema, ``last_funding_ns``, and frozen datasets carrying the series."""

import json

import numpy as np
import polars as pl
import pytest

from landing_files import bar_lines, write_csv
from lq_engine.data.errors import IngestError
from lq_engine.data.frozen import UniverseSpec, build_frozen, load_frozen
from lq_engine.data.funding import funding_key, funding_rates, last_funding_ns, read_funding
from lq_engine.data.ingest import ingest_file, ingest_files, landing_files

H8 = 8 * 3_600_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z


def _funding(path, rows, header="symbol,ts,funding_rate"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def test_ingest_merge_and_schema(paths):
    a = _funding(paths.landing / "btc-1.funding.csv", ["BTCUSDT,2024-01-01T00:00:00Z,0.0001",
                                                       "BTCUSDT,2024-01-01T08:00:00Z,0.0002",
                                                       "ETHUSDT,2024-01-01T08:00:00Z,-0.00005"])
    rep = ingest_file(a, paths)
    assert rep.format == "funding" and rep.symbols == ("BTCUSDT", "ETHUSDT") and rep.rows_read == 3
    # detected by content: a plain .csv name; a later file wins for the same ts
    b = _funding(paths.landing / "later.csv", ["BTCUSDT,2024-01-01T08:00:00Z,0.0003",
                                               "BTCUSDT,2024-01-01T16:00:00.000Z,-0.0001"])
    ingest_files([b], paths)
    df = pl.read_parquet(paths.lake / funding_key("BTCUSDT"))
    assert df.schema == {"ts": pl.Int64, "funding_rate": pl.Float64}
    assert df["ts"].to_list() == [T0, T0 + H8, T0 + 2 * H8]
    assert df["funding_rate"].to_list() == [0.0001, 0.0003, -0.0001]
    assert read_funding(paths, "ETHUSDT")["funding_rate"].to_list() == [-0.00005]
    assert last_funding_ns(paths, "BTCUSDT") == T0 + 2 * H8 and last_funding_ns(paths, "NOPE") is None
    f = funding_rates(paths, "BTCUSDT", start_ns=T0 + 1)
    assert f.ts.tolist() == [T0 + H8, T0 + 2 * H8] and f.symbol == "BTCUSDT"
    # funding files are not bar files: never re-scanned as bars
    assert a not in landing_files(paths) and b not in landing_files(paths)
    ingest_file(a, paths)  # idempotent: the same file again changes nothing it did not set
    assert read_funding(paths, "BTCUSDT")["funding_rate"].to_list() == [0.0001, 0.0002, -0.0001]


@pytest.mark.parametrize("name, rows, header, row, field, part", [
    ("a.funding.csv", ["BTC,2024-01-01 08:00:00,0.0001"], None, 1, "ts", "ISO-8601 UTC"),
    ("b.funding.csv", ["BTC,2024-01-01T08:00:00Z,0.0001", "BTC,2024-01-01T16:00:00Z,abc"], None, 2,
     "funding_rate", "not a funding rate"),
    ("c.funding.csv", ["BTC,2024-01-01T08:00:00Z,1.5"], None, 1, "funding_rate", "|rate| < 1"),
    ("d.funding.csv", ["BTC,2024-01-01T08:00:00Z,0.1", "BTC,2024-01-01T08:00:00Z,0.2"], None, 2, "ts",
     "also in row 1"),
    ("e.funding.csv", ["B TC,2024-01-01T08:00:00Z,0.1"], None, 1, "symbol", "not a symbol"),
    ("f.funding.csv", ["BTC,2024-01-01T08:00:00Z"], None, 1, None, "expected 3 fields"),
    ("g.funding.csv", ["BTC,2024-01-01T08:00:00Z,0.1"], "symbol,time,rate", None, None, "header must be exactly"),
])
def test_bad_file_is_named_quarantined_and_changes_nothing(paths, name, rows, header, row, field, part):
    ingest_file(_funding(paths.landing / "ok.funding.csv", ["BTC,2024-01-01T00:00:00Z,0.0001"]), paths)
    before = (paths.lake / funding_key("BTC")).read_bytes()
    f = _funding(paths.landing / name, rows, header or "symbol,ts,funding_rate")
    with pytest.raises(IngestError) as e:
        ingest_file(f, paths)
    msg = str(e.value)
    assert msg.startswith(f"landing/{name}") and part in msg, msg
    assert e.value.row == row and e.value.field == field
    assert not f.exists() and (paths.quarantine / name).exists()
    assert json.loads((paths.quarantine / f"{name}.reason.json").read_text())["message"] == msg
    assert (paths.lake / funding_key("BTC")).read_bytes() == before


def test_frozen_dataset_carries_funding_in_its_span(paths):
    ingest_file(write_csv(paths.landing / "AAA_1m.csv", bar_lines(30)), paths)  # 00:00 .. 00:29
    spec = UniverseSpec("u", ["AAA"], "1m")
    spot = build_frozen(paths, spec)
    assert spot.funding("AAA") is None and not (spot.folder / "funding_ts.npy").exists()
    _funding(paths.landing / "aaa.funding.csv", ["AAA,2024-01-01T00:00:00Z,0.5e-4",  # at the first open: never applied
                                                 "AAA,2024-01-01T00:10:00Z,1e-4",
                                                 "AAA,2024-01-01T00:20:30Z,-2e-4",
                                                 "AAA,2024-01-01T08:00:00Z,3e-4"])  # after the last open
    ingest_files([paths.landing / "aaa.funding.csv"], paths)
    perp = build_frozen(paths, spec)
    assert perp.content_hash != spot.content_hash
    f = perp.funding("AAA")
    assert f.ts.tolist() == [T0 + 10 * 60_000_000_000, T0 + 20 * 60_000_000_000 + 30_000_000_000]
    assert f.rate.tolist() == [1e-4, -2e-4]
    again = load_frozen(perp.folder, verify=True)
    assert again.funding("AAA").rate.tolist() == [1e-4, -2e-4]
    assert json.loads((perp.folder / "manifest.json").read_text())["funding_events"] == 2
    # a flipped byte in a funding file is named
    p = perp.folder / "funding_rate.npy"
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 1
    p.write_bytes(bytes(raw))
    with pytest.raises(Exception, match="funding_rate.npy: checksum mismatch"):
        load_frozen(perp.folder, verify=True)
    np.testing.assert_array_equal(spot.close, perp.close)
