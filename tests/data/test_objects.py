"""Result objects as JSON + Parquet + .npy: round trip of nested dataclasses, and loading builds
nothing but lq_engine dataclasses (no pickle, no code named by the file)."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from lq_engine.data.objects import ObjectFormatError, load_meta, load_object, save_object
from lq_engine.optimize.folds import Window
from lq_engine.optimize.prefilter import Stage1Result


def test_round_trip_and_refusals(tmp_path):
    s1 = Stage1Result(params=[{"fast": 5, "side": "long"}], scores=pl.DataFrame({"x": [1.0, math.nan]}),
                      rankings=pl.DataFrame({"rank": [1]}), objective=np.array([math.inf]),
                      order=np.array([0]), trial_sharpes=np.array([0.5]), backend="numba", dataset_hash="h")
    w = Window("train", 0, 0, 10)
    s1 = Stage1Result(params=[{"fast": 5, "side": "long", "w": (w, None), ("a", 1): -math.inf}], scores=s1.scores,
                      rankings=s1.rankings, objective=s1.objective, order=s1.order, trial_sharpes=s1.trial_sharpes,
                      backend="numba", dataset_hash="h")
    save_object(s1, tmp_path / "o", meta={"dataset_hash": "h"})
    back = load_object(tmp_path / "o")
    assert back.scores.equals(s1.scores) and back.params == s1.params and back.dataset_hash == "h"
    assert back.objective[0] == math.inf and back.params[0][("a", 1)] == -math.inf
    assert back.params[0]["w"] == (w, None)
    assert load_meta(tmp_path / "o") == {"dataset_hash": "h"}
    assert not list(tmp_path.rglob("*.pkl"))
    # a file naming another class is refused, not built
    pointer = json.loads((tmp_path / "o" / "object.json").read_text())
    body = tmp_path / "o" / pointer["generation"] / "object.json"
    body.write_text(json.dumps({"format": 1, "object": {"__dataclass__": "os:system", "fields": {}}}))
    with pytest.raises(ObjectFormatError, match="refusing to build os:system"):
        load_object(tmp_path / "o")

