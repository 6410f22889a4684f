"""The search's part of the report: trace, parameter importances, and a contour of the two most
important parameters (PNG files, plus an HTML fragment the report includes).

- trace: the best stage-1 objective against the trial number, with the random-search baseline
  beside it: for a sampler, the expected best of k uniform random draws estimated from the search's
  own uniform startup batch (``search.random_baseline``); for random search, its own curve is it;
- importances: Optuna's PED-ANOVA evaluator (its default) over every complete set stage 1 scored;
- contour (samplers; a grid has the report's heatmap): the objective over the two most important
  parameters (filled triangulated contour of the evaluated sets, each a dot; the stage-1 best
  starred); one parameter: a slice plot.

Every function takes a ``Stage1Result`` and the parameter schema, so the report and the Dagster
metadata of ``prefilter_rankings`` draw the same images.
"""

from __future__ import annotations

import html
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lq_engine.optimize.search import best_so_far, random_baseline
from lq_engine.authoring.params import StrategySchema
from lq_engine.optimize.charts import pyplot, save

MIN_IMPORTANCE_TRIALS = 8



def _complete(stage1: Any) -> np.ndarray:
    pruned = stage1.pruned if stage1.pruned is not None else np.zeros(stage1.n_sets, dtype=bool)
    return np.flatnonzero(~pruned & np.isfinite(stage1.objective))


def _varying(stage1: Any, schema: StrategySchema, idx: np.ndarray) -> list[str]:
    return [n for n in schema.param_names if len({repr(stage1.params[i][n]) for i in idx.tolist()}) > 1]


def importances(stage1: Any, schema: StrategySchema) -> dict[str, float]:
    """Parameter -> importance (sums to 1; PED-ANOVA) over the complete sets, most important first;
    {} with fewer than ``MIN_IMPORTANCE_TRIALS`` sets or nothing varying."""
    import optuna  # lazy: ~1-3 s at start-up, only the search report's importances need it
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # lazy: optuna
    from optuna.trial import create_trial  # lazy: optuna ~1-3 s, only the importances need it

    idx = _complete(stage1)
    names = _varying(stage1, schema, idx)
    if idx.size < MIN_IMPORTANCE_TRIALS or not names:
        return {}
    if len(names) == 1:
        return {names[0]: 1.0}
    dists = {}
    for n in names:
        p = schema.param(n)
        vals = [stage1.params[i][n] for i in idx.tolist()]
        if p.kind in ("int", "float"):
            lo, hi = min(vals), max(vals)
            log = bool(p.log and lo > 0)
            dists[n] = IntDistribution(int(lo), int(hi), log=log) if p.kind == "int" else FloatDistribution(
                float(lo), float(hi), log=log)
        else:
            dists[n] = CategoricalDistribution(tuple(dict.fromkeys(vals)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.add_trials([create_trial(params={n: stage1.params[i][n] for n in names}, distributions=dists,
                                   value=float(stage1.objective[i])) for i in idx.tolist()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    return {k: float(v) for k, v in sorted(imp.items(), key=lambda kv: (-kv[1], names.index(kv[0])))}


def trace_png(stage1: Any, path: str | Path, title: str = "") -> Path | None:
    """Best objective so far against the trial number, with the random baseline; None for a grid."""
    s, t = stage1.search, stage1.trace
    if s is None or not s.sampler or t is None:
        return None
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pruned = stage1.pruned if stage1.pruned is not None else np.zeros(stage1.n_sets, dtype=bool)
    best = best_so_far(stage1.objective, pruned)
    x = np.arange(1, best.size + 1)
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    ax.plot(x, best, color="#1f77b4", lw=1.8, label=f"{s.method} (best so far)")
    startup = t.batch == 0 if s.method != "random" else np.ones(best.size, dtype=bool)
    sample = stage1.objective[startup & ~pruned]
    if s.method != "random" and sample.size:
        ks = np.unique(np.geomspace(1, best.size, num=min(200, best.size)).astype(int))
        ax.plot(ks, random_baseline(sample, ks), color="#7f7f7f", ls="--", lw=1.4,
                label=f"random search (expected best of k uniform draws, from the {sample.size} startup draws)")
    if pruned.any():
        ax.plot(x[pruned], np.full(int(pruned.sum()), np.nanmin(best) if np.isfinite(best).any() else 0.0), "|",
                color="#d62728", ms=4, alpha=0.4, label=f"pruned ({int(pruned.sum())})")
    ax.set_xscale("log")
    ax.set_xlabel("trial (parameter sets evaluated, in order)")
    ax.set_ylabel("stage-1 objective")
    ax.set_title(f"{title}\nsearch trace: {s.text()}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return save(fig, path)


def importance_png(imp: dict[str, float], path: str | Path, title: str = "") -> Path | None:
    if not imp:
        return None
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(imp)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.6), dpi=100)
    ax.barh(names, [imp[n] for n in names], color="#1f77b4")
    for i, n in enumerate(names):
        ax.text(imp[n], i, f" {imp[n]:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, max(imp.values()) * 1.2 or 1)
    ax.set_xlabel("importance (PED-ANOVA, normalized)")
    ax.set_title(f"{title}\nparameter importances", fontsize=10)
    return save(fig, path)


def _axis_values(stage1: Any, idx: np.ndarray, name: str) -> tuple[np.ndarray, list | None]:
    """Numeric positions of a parameter's values (categories as their index) and the category labels."""
    vals = [stage1.params[i][name] for i in idx.tolist()]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return np.asarray(vals, dtype=np.float64), None
    cats = list(dict.fromkeys(vals))
    return np.array([cats.index(v) for v in vals], dtype=np.float64), [str(c) for c in cats]


def _log_axis(stage1: Any, schema: StrategySchema, name: str) -> bool:
    """Log scale where the searched space (else the declaration) is on one."""
    space = stage1.search.space if stage1.search is not None else {}
    if name in space:
        return bool(space[name].get("log"))
    return bool(schema.param(name).log)


def contour_png(
    stage1: Any, schema: StrategySchema, names: list[str], path: str | Path, title: str = "",
) -> Path | None:
    """Objective over the two most important parameters (``names`` in importance order); a slice plot
    with one; None with none."""
    idx = _complete(stage1)
    names = [n for n in names if n in schema.param_names][:2]
    if not names or idx.size < 2:
        return None
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    z = stage1.objective[idx]
    best = int(np.argmax(z))
    fig, ax = plt.subplots(figsize=(8, 6) if len(names) == 2 else (8, 4.2), dpi=100)
    x, xcats = _axis_values(stage1, idx, names[0])
    if len(names) == 1:
        ax.scatter(x, z, s=8, c="#1f77b4", alpha=0.6)
        ax.plot(x[best], z[best], marker="*", color="red", ms=16, mec="white")
        ax.set_ylabel("stage-1 objective")
        kind = f"slice plot of {names[0]}"
    else:
        y, ycats = _axis_values(stage1, idx, names[1])
        lo, hi = float(np.min(z)), float(np.max(z))
        pts = np.unique(np.column_stack([x, y]), axis=0)
        drawn = False
        if pts.shape[0] >= 4 and np.ptp(pts[:, 0]) > 0 and np.ptp(pts[:, 1]) > 0:
            import matplotlib.tri as mtri  # lazy: matplotlib costs ~0.5 s; only plots need it

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tri = mtri.Triangulation(x + 1e-9 * np.arange(x.size), y)
                    cs = ax.tricontourf(tri, z, levels=14, cmap="viridis", vmin=lo, vmax=hi)
                fig.colorbar(cs, ax=ax, label="stage-1 objective")
                drawn = True
            except (ValueError, RuntimeError):
                drawn = False
        sc = ax.scatter(x, y, c=z, s=9, cmap="viridis", vmin=lo, vmax=hi, edgecolors="k", linewidths=0.2)
        if not drawn:
            fig.colorbar(sc, ax=ax, label="stage-1 objective")
        ax.plot(x[best], y[best], marker="*", color="red", ms=16, mec="white")
        ax.set_ylabel(names[1])
        if ycats:
            ax.set_yticks(range(len(ycats)), ycats)
        if _log_axis(stage1, schema, names[1]):
            ax.set_yscale("log")
        kind = f"{names[0]} x {names[1]} (most important two)"
    ax.set_xlabel(names[0])
    if xcats:
        ax.set_xticks(range(len(xcats)), xcats)
    if _log_axis(stage1, schema, names[0]):
        ax.set_xscale("log")
    ax.set_title(f"{title}\n{kind}; dots = evaluated sets, star = stage-1 best", fontsize=10)
    return save(fig, path)


def search_images(stage1: Any, schema: StrategySchema, folder: str | Path, prefix: str,
                  title: str = "") -> tuple[dict[str, float], dict[str, Path | None]]:
    """(importances, {"trace", "importance", "contour"} -> PNG path or None) for one stage 1."""
    folder = Path(folder)
    imp = importances(stage1, schema)
    order = list(imp) or _varying(stage1, schema, _complete(stage1))
    return imp, {
        "trace": trace_png(stage1, folder / f"{prefix}_search_trace.png", title),
        "importance": importance_png(imp, folder / f"{prefix}_importance.png", title),
        # a grid has its heatmap; a sampler's sets are scattered: the contour shows them
        "contour": contour_png(stage1, schema, order, folder / f"{prefix}_contour.png", title)
        if stage1.search is not None and stage1.search.sampler else None,
    }


def search_facts(stage1: Any) -> list[tuple[str, Any]]:
    """The search settings and what the search did, as (label, value) rows."""
    s, t = stage1.search, stage1.trace
    rows: list[tuple[str, Any]] = [("method", s.text() if s is not None else "grid")]
    rows.append(("parameter sets evaluated (all count in the DSR's N)", stage1.n_sets))
    rows.append(("pruned early (after their first folds; counted in N)", stage1.n_pruned))
    if t is not None:
        rows += [("proposals (sampler trials)", t.proposals),
                 ("repeats of an evaluated set (told its score, not re-evaluated)", t.repeats),
                 ("proposals violating a constraint (not evaluated)", t.infeasible),
                 ("batches", t.batches), ("stopped by", t.stop),
                 ("time in the sampler / search (s)", f"{t.sampler_seconds:.2f} / {t.elapsed:.2f}")]
    if s is not None and s.space:
        rows.append(("searched space", "; ".join(f"{k}: {', '.join(f'{a}={b}' for a, b in v.items())}"
                                                  for k, v in s.space.items())))
    return rows


def search_html(stage1: Any, schema: StrategySchema, folder: str | Path, prefix: str, title: str,
                kv, escape=html.escape) -> str:
    """The report's "Search" section: settings and counts (``kv`` renders rows), then the images."""
    imp, images = search_images(stage1, schema, folder, prefix, title)
    out = ["<h3>Search</h3>", kv(search_facts(stage1))]
    if imp:
        out.append(kv([(f"importance of {k}", v) for k, v in imp.items()]))
    for key, alt in (("trace", "search trace"), ("importance", "parameter importances"),
                     ("contour", "objective over the two most important parameters")):
        p = images[key]
        if p is not None:
            out.append(f"<img src='{escape(p.name)}' alt='{alt}'>")
    return "\n".join(out)


__all__ = ["contour_png", "importance_png", "importances", "search_facts", "search_html", "search_images",
           "trace_png"]
