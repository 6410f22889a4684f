"""The embedded default data: the bundled real daily US-stock bars and a SYNTHETIC generator.

Bundled: ``bundled/us_stocks_daily.parquet``, real daily OHLCV (AAPL, FB, GOOG, IBM, MSFT,
2000-03..2013-03, public domain; see ``bundled/PROVENANCE.md``).

Synthetic: deterministic 1-minute 24/7 bars, labelled synthetic everywhere (symbols ``SYN000``..,
files ``synthetic_*``). Returns follow a GARCH(1,1) variance process (volatility clustering) plus
Poisson jumps; open = previous close and high/low envelope the body with a volatility-scaled wick.
Each symbol's random stream is keyed by its name (``SeedSequence(seed, spawn_key=(crc32(name),))``),
so adding symbols never changes existing ones; same symbols, days, seed and start give the same
bars and the same file bytes.
"""

from __future__ import annotations

import shutil
import zlib
from datetime import date, datetime, timezone
from pathlib import Path

import numba
import numpy as np
import polars as pl

from lq_engine.data.paths import DataPaths
from lq_engine.data.schema import BAR_COLUMNS, NS_PER_SECOND
from lq_engine.errors import InputError

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
BUNDLED_DAILY = "us_stocks_daily.parquet"
MINUTE_NS = 60 * NS_PER_SECOND
MINUTES_PER_DAY = 1440

# GARCH(1,1) per minute: unconditional vol ~ 0.05% a minute (~36% a year), persistence 0.99.
_OMEGA, _ALPHA, _BETA = 2.5e-9, 0.05, 0.94
_JUMP_RATE = 1.0 / (3 * MINUTES_PER_DAY)  # about one jump every three days
_JUMP_SIZE = 0.01


def bundled_daily_path() -> Path:
    p = BUNDLED_DIR / BUNDLED_DAILY
    if not p.exists():
        raise FileNotFoundError(f"{p}: bundled dataset missing (run scripts/derive_bundled_dataset.py)")
    return p


def copy_bundled_to_landing(paths: DataPaths) -> Path:
    """Copy the bundled daily bars into the landing folder (kept if already identical)."""
    src = bundled_daily_path()
    paths.landing.mkdir(parents=True, exist_ok=True)
    dst = paths.landing / BUNDLED_DAILY
    if not (dst.exists() and dst.read_bytes() == src.read_bytes()):
        tmp = paths.landing / f".tmp-{BUNDLED_DAILY}"
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    return dst


def synthetic_symbols(n: int) -> list[str]:
    return [f"SYN{i:03d}" for i in range(n)]


@numba.njit(cache=True)
def _garch_returns(z, jumps, jump_z, omega, alpha, beta):
    n = z.shape[0]
    r = np.empty(n)
    vol = np.empty(n)
    var = omega / (1.0 - alpha - beta)
    for i in range(n):
        s = np.sqrt(var)
        e = s * z[i]
        r[i] = e + jumps[i] * jump_z[i]
        vol[i] = s
        var = omega + alpha * e * e + beta * var
    return r, vol


def _one_symbol(name: str, n: int, seed: int, t0_ns: int) -> dict[str, np.ndarray]:
    ss = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(name.encode()),))
    rng = np.random.default_rng(ss)
    p0 = float(rng.uniform(20.0, 500.0))
    z = rng.standard_normal(n)
    jumps = rng.poisson(_JUMP_RATE, n).astype(np.float64)
    jump_z = rng.normal(0.0, _JUMP_SIZE, n)
    wick_hi = np.abs(rng.standard_normal(n))
    wick_lo = np.abs(rng.standard_normal(n))
    vol_noise = rng.lognormal(0.0, 0.5, n)
    r, sigma = _garch_returns(z, jumps, jump_z, _OMEGA, _ALPHA, _BETA)
    close = p0 * np.exp(np.cumsum(r))
    open_ = np.empty(n)
    open_[0] = p0
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * np.exp(0.5 * sigma * wick_hi)
    low = np.minimum(open_, close) * np.exp(-0.5 * sigma * wick_lo)
    volume = np.round(1000.0 * vol_noise * (1.0 + np.abs(r) / sigma), 4)
    ts = t0_ns + np.arange(n, dtype=np.int64) * MINUTE_NS
    return {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _start_ns(start: str) -> int:
    try:
        d = date.fromisoformat(start)
    except (TypeError, ValueError):
        raise InputError(f"start {start!r} is not a UTC day of the form YYYY-MM-DD") from None
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()) * NS_PER_SECOND


def generate_synthetic(symbols: int | list[str], days: int, seed: int, start: str = "2024-01-01") -> pl.DataFrame:
    """SYNTHETIC 1-minute bars (bar schema) for ``symbols`` (a count -> SYN000..) over ``days`` days."""
    names = synthetic_symbols(symbols) if isinstance(symbols, int) else list(symbols)
    if days < 1 or not names:
        raise InputError(f"generate_synthetic: need at least one symbol and days >= 1, "
                         f"got symbols={symbols!r}, days={days}")
    n = days * MINUTES_PER_DAY
    t0 = _start_ns(start)
    frames = []
    for name in names:
        cols = _one_symbol(name, n, seed, t0)
        frames.append(pl.DataFrame({"symbol": pl.Series([name], dtype=pl.String).new_from_index(0, n),
                                    "timeframe": pl.Series(["1m"], dtype=pl.String).new_from_index(0, n),
                                    **cols}))
    return pl.concat(frames).select(BAR_COLUMNS)


def write_synthetic_to_landing(
    paths: DataPaths, symbols: int | list[str], days: int, seed: int, start: str = "2024-01-01"
) -> list[Path]:
    """One Parquet file per symbol, ``synthetic_<SYM>_1m_<start>_<days>d_seed<seed>.parquet``."""
    df = generate_synthetic(symbols, days, seed, start)
    paths.landing.mkdir(parents=True, exist_ok=True)
    out = []
    for (name,), part in df.partition_by("symbol", as_dict=True, maintain_order=True).items():
        dst = paths.landing / f"synthetic_{name}_1m_{start}_{days}d_seed{seed}.parquet"
        tmp = paths.landing / f".tmp-{dst.name}"
        part.write_parquet(tmp, compression="zstd")
        tmp.replace(dst)
        out.append(dst)
    return out
