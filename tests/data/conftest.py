from __future__ import annotations

from pathlib import Path

import pytest

from lq_engine.data.paths import DataPaths


@pytest.fixture
def paths(tmp_path: Path) -> DataPaths:
    return DataPaths(tmp_path / "data").ensure()
