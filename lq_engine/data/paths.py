"""Where the platform keeps its files.

Everything lives under one data root (``LQ_DATA_DIR``, default ``<repo>/data``), so a test or a
second environment only has to point that variable elsewhere. The lake URI is a local path today;
moving to an object store means changing this one module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DataPaths:
    root: Path

    @property
    def landing(self) -> Path:
        """Drop CSV / Parquet files here; the sensor and ``lq ingest`` pick them up."""
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        """Hive-partitioned Parquet: ``bars/timeframe=*/symbol=*/month=YYYY-MM/*.parquet``."""
        return self.root / "lake"

    @property
    def catalog(self) -> Path:
        """The DuckDB file: views over the lake plus result tables. One writer at a time."""
        return self.root / "catalog.duckdb"

    @property
    def quarantine(self) -> Path:
        """Rejected files, each beside a ``<name>.reason.json`` report."""
        return self.root / "quarantine"

    @property
    def frozen(self) -> Path:
        """Frozen datasets: one folder per universe and content hash."""
        return self.root / "frozen"

    @property
    def results(self) -> Path:
        """Reports, plots and other artifacts written by assets."""
        return self.root / "results"

    @property
    def native_build(self) -> Path:
        """Compiled C / Rust kernels (built on demand; never committed)."""
        return REPO_ROOT / "native" / "build"

    def ensure(self) -> "DataPaths":
        for p in (self.landing, self.lake, self.quarantine, self.frozen, self.results):
            p.mkdir(parents=True, exist_ok=True)
        return self

    @classmethod
    def from_env(cls) -> "DataPaths":
        """``$LQ_DATA_DIR``, else ``data/`` in the project (``lq_engine.project``)."""
        root = os.environ.get("LQ_DATA_DIR")
        if root:
            return cls(Path(root).resolve())
        from lq_engine.project import find_project

        return cls(find_project().data_dir)
