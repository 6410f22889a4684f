"""Resources: where the lake, catalog and landing folder live, and the project config."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from lq_engine.data.paths import DataPaths
from lq_engine.optimize.config import load_checked_config
from lq_engine.settings import ProjectConfig


class LakeResource(dg.ConfigurableResource):
    """The data root (landing, quarantine, frozen-dataset cache, reports) and the lake.

    Empty ``data_dir`` / ``lake_uri`` mean ``$LQ_DATA_DIR`` / ``$LQ_LAKE_URI``, else ``<project>/data``
    and its ``lake/``. An object-store lake (``s3://bucket/prefix``) is the only change a cluster needs.
    """

    data_dir: str = ""
    lake_uri: str = ""

    def paths(self) -> DataPaths:
        return DataPaths.of(self.data_dir or os.environ.get("LQ_DATA_DIR", ""),
                            self.lake_uri or os.environ.get("LQ_LAKE_URI", "")).ensure()


class ProjectConfigResource(dg.ConfigurableResource):
    """``luminaquant.toml`` (or ``$LQ_CONFIG``): named universes and calendars."""

    config_file: str = ""

    def load(self) -> ProjectConfig:
        return load_checked_config(Path(self.config_file) if self.config_file else None)
