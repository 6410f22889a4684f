"""Resources: where the lake, catalog and landing folder live, and the project config."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lq_engine.data.paths import DataPaths
from lq_engine.settings import ProjectConfig, load_project_config


class LakeResource(dg.ConfigurableResource):
    """The data root (lake, DuckDB catalog, landing, quarantine, frozen datasets).

    Empty ``data_dir`` means ``$LQ_DATA_DIR`` or ``<repo>/data``. Pointing it at another folder (or,
    later, an object-store URI) is the only change a second environment needs.
    """

    data_dir: str = ""

    def paths(self) -> DataPaths:
        return (DataPaths(Path(self.data_dir).resolve()) if self.data_dir else DataPaths.from_env()).ensure()


class ProjectConfigResource(dg.ConfigurableResource):
    """``luminaquant.toml`` (or ``$LQ_CONFIG``): named universes and calendars."""

    config_file: str = ""

    def load(self) -> ProjectConfig:
        return load_project_config(Path(self.config_file) if self.config_file else None)
