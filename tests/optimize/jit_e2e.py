"""The whole optimization of a portfolio strategy (xs_momentum) and a single-symbol one (ma_cross) on
the bundled us_stocks_daily, small grids: winners and figures, for ``test_jit_e2e`` to compare with
and without the JIT (``NUMBA_DISABLE_JIT=1`` needs a fresh process).

    python -m optimize.jit_e2e OUT.pkl      (run from tests/)
"""

from __future__ import annotations

import math
import pickle
import sys
from typing import Any

GRIDS = {"xs_momentum": {"lookback": (20, 60), "top": (1, 2), "every": (5, 20), "short": (False,)},
         "ma_cross": {"fast": (5, 10), "slow": (20, 50), "side": ("long",)}}


def figures() -> dict[str, Any]:
    import polars as pl

    from lq_engine.optimize import OptimizeConfig, dataset_from_frame, optimize
    from lq_engine.project import CHECKOUT_ROOT
    from lq_engine.strategies import resolve

    df = pl.read_parquet(CHECKOUT_ROOT / "lq_engine" / "data" / "bundled" / "us_stocks_daily.parquet")
    ds = dataset_from_frame(df, "us_stocks_daily")
    cfg = OptimizeConfig(backend="numba", n_folds=2, top_k_min=3, top_k_max=3, audit_size=2, min_trades=1, seed=5)
    out: dict[str, Any] = {}
    for name, grid in GRIDS.items():
        r = optimize(ds, resolve(name).with_grid(grid), cfg)
        w = r.winner
        cand = r.candidates.select([c for c, t in r.candidates.schema.items() if t.is_numeric()]).to_dicts()
        out[name] = {"params": w.params, "set_index": w.set_index, "stage1_objective": w.stage1_objective,
                     "validation_objective": w.validation_objective, "holdout": dict(r.holdout_summary),
                     "candidates": cand}
    return out


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, through dicts and lists."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        pickle.dump(figures(), f)
