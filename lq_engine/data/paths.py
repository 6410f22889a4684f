"""Where the platform keeps its files.

Everything lives under one data root (``LQ_DATA_DIR``, default ``<project>/data``), so a test or a
second environment only has to point that variable elsewhere. The lake (bars, ingest log, result
tables, frozen datasets, stage results) is a ``Store``: ``<root>/lake`` by default, or an object
store given by ``LQ_LAKE_URI`` (or ``LQ_DATA_DIR=s3://bucket/prefix``, whose lake is
``s3://bucket/prefix/lake``). The rest (landing, the raw archive, quarantine, the frozen-dataset
cache, reports, paper state, locks) is local to the machine that runs the step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lq_engine.data.store import Store, is_remote, store_for
from lq_engine.native_build import BUILD_DIR
from lq_engine.project import find_project
from lq_engine.errors import InputError


REPORT_INDEX = "index.html"  # the report's first page, in ``DataPaths.report``


@dataclass(frozen=True)
class DataPaths:
    root: Path
    lake_uri: str = ""  # empty: the local folder ``<root>/lake``

    @property
    def store(self) -> Store:
        """The lake's storage (local folder or object store)."""
        return store_for(self.lake_uri or str(self.root / "lake"))

    @property
    def remote(self) -> bool:
        return bool(self.lake_uri) and is_remote(self.lake_uri)

    @property
    def locks(self) -> Path:
        """Advisory lock files of this machine's processes."""
        return self.root / "locks" if self.remote else self.lake / ".locks"

    @property
    def landing(self) -> Path:
        """Drop CSV / Parquet files here; the sensor and ``lq ingest`` pick them up."""
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        """The local lake folder (hive-partitioned Parquet: ``bars/timeframe=*/symbol=*/month=YYYY-MM/*.parquet``).

        A lake on an object store has none: use ``store``."""
        if self.remote:
            raise InputError(f"the lake is {self.lake_uri}, not a local folder")
        return Path(self.lake_uri) if self.lake_uri else self.root / "lake"

    @property
    def catalog(self) -> Path:
        """A DuckDB file of views over the lake, for other tools; rebuilt by anyone, never locked."""
        return self.root / "catalog.duckdb"

    @property
    def quarantine(self) -> Path:
        """Rejected files, each beside a ``<name>.reason.json`` report."""
        return self.root / "quarantine"

    @property
    def archive(self) -> Path:
        """The raw archive: every ingested file as ``<sha256>/<original name>`` (``data.archive``)."""
        return self.root / "archive"

    @property
    def frozen(self) -> Path:
        """Frozen datasets: one folder per universe and content hash."""
        return self.root / "frozen"

    @property
    def results(self) -> Path:
        """Reports, plots and other artifacts written by assets."""
        return self.root / "results"

    @property
    def report(self) -> Path:
        """The optimization report (asset ``optimization_report``): ``REPORT_INDEX`` and a page per
        dataset x strategy (``lq_engine.optimize.report``); ``lq report`` opens it."""
        return self.results / "report"

    @property
    def native_build(self) -> Path:
        """Compiled C / Rust kernels and the cache store (built on demand; never committed):
        ``lq_engine.native_build.BUILD_DIR``, shared by every project of this machine."""
        return BUILD_DIR

    def ensure(self) -> "DataPaths":
        local = [self.landing, self.quarantine, self.archive, self.frozen, self.results]
        for p in (*local, *([] if self.remote else [self.lake])):
            p.mkdir(parents=True, exist_ok=True)
        return self

    @classmethod
    def from_env(cls) -> "DataPaths":
        """``$LQ_DATA_DIR`` (and ``$LQ_LAKE_URI``), else ``data/`` in the project (``lq_engine.project``)."""
        return cls.of(os.environ.get("LQ_DATA_DIR", ""), os.environ.get("LQ_LAKE_URI", ""))

    @classmethod
    def of(cls, data_dir: str = "", lake_uri: str = "") -> "DataPaths":
        """A data root (folder, or ``s3://bucket/prefix`` for the lake) and an optional lake URI."""
        if data_dir and is_remote(data_dir):
            lake_uri = lake_uri or data_dir.rstrip("/") + "/lake"
            data_dir = ""
        if data_dir:
            root = Path(data_dir).resolve()
        else:
            root = find_project().local_data_dir
        if lake_uri and not is_remote(lake_uri):
            lake_uri = str(Path(lake_uri.removeprefix("file://")).resolve())
        return cls(root, lake_uri)
