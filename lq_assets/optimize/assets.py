"""The two-stage optimizer as assets: one partition per (dataset, strategy), and the report."""

import base64
import hashlib
import json
from pathlib import Path

import dagster as dg

from lq_assets.datasets.assets import frozen_dataset
from lq_assets.datasets.lookup import current_frozen
from lq_assets.kernels.assets import backend_benchmark, chosen_backend
from lq_assets.metadata import md_table
from lq_assets.optimize.settings import OptimizeSettings, image_dir, stage_dir
from lq_assets.partitions import OPTIMIZE, split_optimize_key
from lq_assets.resources import LakeResource, ProjectConfigResource
from lq_assets.retries import transient_retries
from lq_engine.data.catalog import ensure_catalog
from lq_engine.data.frozen import open_frozen
from lq_engine.data.results import write_table
from lq_engine.data.store import Location
from lq_engine.optimize import (
    build_report, equity_png, load_result, load_stage1, run_stage1, run_stage2, save_result, save_stage1,
    stage1_heatmap_png,
)
from lq_engine.optimize.stages import StageContractError, stage1_contract
from lq_engine.optimize.leaderboard import columns_of, leaderboard_rows
from lq_engine.optimize.report_portfolio import benchmark_png, contribution_rows, weights_png
from lq_engine.optimize.report_tearsheet import exposure_png, holdout_trips, stats_pairs, underwater_png
from lq_engine.optimize.run import search_json
from lq_engine.optimize.search_report import search_images
from lq_engine.optimize.verdicts import readings
from lq_engine.progress import Progress
from lq_engine.strategies.registry import resolve

_not_busy = ~dg.AutomationCondition.any_deps_in_progress() & ~dg.AutomationCondition.in_progress()

# Re-run when an upstream partition's DATA VERSION changes (a re-freeze of identical data keeps its
# content hash, so nothing re-runs), not on every upstream materialization; the backend choice
# alone never re-runs an optimization.
_BENCHMARK = dg.AssetSelection.assets("backend_benchmark")  # optional: without it the backend is "auto"
ON_UPSTREAM_CHANGE = (
    dg.AutomationCondition.any_deps_match(dg.AutomationCondition.data_version_changed()).ignore(_BENCHMARK)
    .since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing().ignore(_BENCHMARK)
    & _not_busy
).with_label("upstream data version changed")

# Stage 2 also runs in the same run as a stage 1 that is being requested in this tick.
WITH_STAGE1 = (
    dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.data_version_changed() | dg.AutomationCondition.will_be_requested()
    ).since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & _not_busy
).with_label("stage 1 changed or is being requested")


def _image_md(path: Path | None, alt: str) -> dg.MarkdownMetadataValue:
    if path is None or not Path(path).exists():
        return dg.MetadataValue.md(f"_{alt}: not drawn_")
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")


def _digest(*frames) -> str:
    h = hashlib.sha256()
    for f in frames:
        h.update(f.write_ipc(None).getvalue())
    return h.hexdigest()


@dg.asset(
    partitions_def=OPTIMIZE,
    deps=[
        dg.AssetDep(frozen_dataset, partition_mapping=dg.MultiToSingleDimensionPartitionMapping("dataset")),
        dg.AssetDep(backend_benchmark),
    ],
    automation_condition=ON_UPSTREAM_CHANGE,
    group_name="optimize",
    kinds={"numba", "parquet"},
    description=(
        "Stage 1: the strategy's grid, or the sets a seeded sampler (random, TPE, CMA-ES, QMC: run config "
        "`search`, `trials`, `timeout`) proposes in batches over its declared space, scored on every training "
        "window of every walk-forward fold and symbol with the backend chosen by backend_benchmark; ranked by "
        "the mean window score (Sharpe minus a penalty for too few trades). Every score goes to the lake "
        "table `prefilter_scores`, so the deflated Sharpe counts every configuration evaluated (pruned ones too)."
    ),
)
@transient_retries
def prefilter_rankings(
    context: dg.AssetExecutionContext, config: OptimizeSettings, lake: LakeResource, project: ProjectConfigResource
) -> dg.MaterializeResult:
    dataset, strategy, paths, out = _partition_inputs(context, lake)
    # the dataset is pinned here, once: the run's config may name the hash (lq optimize pins one for
    # all its strategies), else the latest frozen_dataset; stage 2 then uses stage 1's
    ds = open_frozen(paths, dataset, config.dataset_hash) if config.dataset_hash else \
        current_frozen(context.instance, dataset, paths)
    chosen = chosen_backend(context.instance)
    cfg = config.resolve(project.load().optimize, chosen)
    with Progress(f"{strategy.name}: stage 1 (lookahead gate, compile, sweep)", report=context.log.info).ticking():
        s1 = run_stage1(ds, strategy, cfg)
    backend = s1.backend if s1.backend == chosen or chosen == "auto" else (
        f"{s1.backend} (backend_benchmark chose {chosen}, which runs rule-vocabulary strategies only)")
    save_stage1(s1, out / "stage1")
    where = {"dataset": dataset, "strategy": strategy.name}
    n = write_table(paths, "prefilter_scores", s1.scores, where)
    write_table(paths, "prefilter_rankings", s1.rankings, where)
    img = image_dir(paths, dataset, strategy.name)
    heat = stage1_heatmap_png(s1, ds, strategy, img / "stage1_heatmap.png")
    imp, images = search_images(s1, strategy.schema, img, "stage1", f"{dataset} / {strategy.name}")
    top = s1.rankings.head(10)
    return dg.MaterializeResult(
        # the rankings and the strategy's source: an edited strategy is a new version of its results
        data_version=dg.DataVersion(f"{_digest(s1.rankings)[:24]}-{strategy.version[:12]}"),
        metadata={
            "dataset": dataset, "dataset_hash": ds.content_hash[:16], **_strategy_metadata(strategy),
            "parameter_sets": s1.n_sets, "scores_stored": n, "backend": backend,
            # the lookahead gate ran before stage 1 scored anything (optimize.gate); stage 2 re-checks the winner
            "lookahead": s1.lookahead.summary() if s1.lookahead is not None else "not checked",
            "lookahead_seconds": float(s1.lookahead.seconds) if s1.lookahead is not None else float("nan"),
            "search": search_json(s1), "pruned": s1.n_pruned,
            "top_10": _md(top),
            "heatmap": _image_md(heat, f"{strategy.name} stage-1 objective"),
            "search_trace": _image_md(images["trace"], "search trace (a grid has none)"),
            "importance": _image_md(images["importance"], "parameter importances"),
            "contour": _image_md(images["contour"], "objective over the two most important parameters"),
            "importances": json.dumps(imp),
            "stage1": str(out / "stage1"),
        },
    )


@dg.asset(
    partitions_def=OPTIMIZE,
    deps=[prefilter_rankings],
    automation_condition=WITH_STAGE1,
    group_name="optimize",
    kinds={"numba", "parquet"},
    description=(
        "Stage 2: the top k of stage 1 replayed with the full execution model on train and validation "
        "windows per fold; the winner maximizes median validation score minus a dispersion penalty and "
        "is scored ONCE on the holdout. Deflated Sharpe, PBO (CSCV) and a fidelity audit (Spearman, "
        "top-k recall, including candidates outside the top k). Brackets ([optimize.brackets]: stop-loss, "
        "take-profit, trailing stop) apply to these replays only; stage 1 ranks without them."
    ),
)
@transient_retries
def replay_results(
    context: dg.AssetExecutionContext, config: OptimizeSettings, lake: LakeResource, project: ProjectConfigResource
) -> dg.MaterializeResult:
    dataset, strategy, paths, out = _partition_inputs(context, lake)
    pinned = stage1_contract(out / "stage1").get("dataset_hash")
    if config.dataset_hash and pinned and config.dataset_hash != pinned:
        raise StageContractError(f"{dataset}/{strategy.name}: stage 1 scored dataset hash {pinned[:16]}, this run "
                                 f"pins {config.dataset_hash[:16]}: rerun prefilter_rankings")
    ds = open_frozen(paths, dataset, pinned) if pinned else current_frozen(context.instance, dataset, paths)
    s1 = load_stage1(out / "stage1")
    cfg = config.resolve(project.load().optimize, s1.backend)
    with Progress(f"{strategy.name}: stage 2 (replays, audit, holdout)", report=context.log.info).ticking():
        result = run_stage2(ds, strategy, s1, cfg)
    save_result(result, out)
    where = {"dataset": dataset, "strategy": strategy.name}
    img = image_dir(paths, dataset, strategy.name)
    tables = result.tables()
    for name in ("replay_windows", "replay_candidates", "winner_windows", "winner_trades", "winner_round_trips",
                 "fidelity", "winner_weights", "winner_contributions"):
        if name in tables:  # the last two: portfolio strategies
            write_table(paths, name, tables[name], where)
    write_table(paths, "optimization_winners", tables["summary"].drop("dataset", "strategy"), where)
    eq = equity_png([*result.selection_detail.segments, *result.holdout.segments],
                    img / "winner_equity.png",
                    f"{dataset} / {strategy.name}: winner")
    s, o, f = result.summary(), result.overfitting, result.fidelity
    board = result.candidates.filter(result.candidates["role"] == "top_k").sort("stage2_rank").head(10)
    extra = {}
    bench = benchmark_png(result, img / "benchmark.png", f"{dataset} / {strategy.name}")
    if bench is not None:
        extra["benchmark_holdout_sharpe"] = float(s["benchmark_holdout_sharpe"])
        extra["benchmark_holdout_total_return"] = float(s["benchmark_holdout_total_return"])
        extra["winner_vs_benchmark"] = _image_md(bench, "holdout: winner vs inverse-volatility buy and hold")
    label = f"{dataset} / {strategy.name}"
    for key, png, alt in (("underwater", underwater_png(result, img / "underwater.png", label), "holdout drawdown"),
                          ("exposure", exposure_png(result, img / "exposure.png", label), "holdout exposure")):
        if png is not None:
            extra[key] = _image_md(png, alt)
    trips = holdout_trips(result)
    if trips is not None:
        extra["holdout_trades"] = md_table(stats_pairs(trips), ["figure", "value"])
    if result.portfolio:
        wp = weights_png(result, img / "weights.png", f"{dataset} / {strategy.name}")
        extra["weights"] = _image_md(wp, "holdout weights per symbol")
        rows = contribution_rows(result)
        cols = list(dict.fromkeys(k for r in rows for k in r))
        extra["contributions"] = md_table(rows, cols)
    return dg.MaterializeResult(
        metadata={
            **_strategy_metadata(strategy),
            "verdict": s["verdicts"],
            "lookahead": s["lookahead"] or "clean",  # the gate's verdict (optimize.gate), also first in verdict
            "lookahead_gate": result.lookahead.text() if result.lookahead is not None else "not checked",
            "lookahead_seconds": float(s["lookahead_seconds"]), "lookahead_share": float(s["lookahead_share"]),
            "reading": md_table(readings(s), ["figure", "reading"]),
            "winner": json.dumps(result.winner.params), "winner_stage1_rank": result.winner.stage1_rank,
            "validation_objective": float(result.winner.validation_objective),
            "holdout_mean_sharpe": float(s["holdout_mean_sharpe"]),
            "holdout_mean_total_return": float(s["holdout_mean_total_return"]),
            "deflated_sharpe": float(o.dsr), "n_trials": int(o.n_trials), "pbo": float(o.pbo),
            "spearman_train": float(f.spearman_train), "spearman_validation": float(f.spearman_validation),
            "top_k_recall": float(f.top_k_recall), "top_k": int(f.k), "audited_outside_top_k": int(f.n_outside_top_k),
            "leaderboard": _md(board.select("stage2_rank", "params", "stage1_rank", "stage1_objective",
                                            "stage2_validation_objective")),
            "equity_curve": _image_md(eq, "winner equity (train / validation / holdout)"),
            "synthetic": bool(result.synthetic),
            "brackets": s["brackets"],  # stage-2 exit legs (JSON, null = off); stage 1 ignored them
            "search": s["search"], "pruned": int(s["n_pruned"]),
            **extra,
        },
    )


@dg.asset(
    deps=[dg.AssetDep(replay_results, partition_mapping=dg.AllPartitionMapping())],
    automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()),
    group_name="optimize",
    kinds={"html"},
    description="The HTML report of every optimized (dataset, strategy): index.html (the leaderboard with "
    "verdicts, clean winners first) and one page per result (winner, holdout, DSR, PBO, fidelity, interactive "
    "charts); only the pages whose result changed are rebuilt (metadata pages_rebuilt / pages_kept).",
)
def optimization_report(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    paths = lake.paths()
    # partitions written at once by several processes (lq demo's two workers, a backfill) each renamed
    # a catalog.duckdb made from the tables it saw: one may lack a table the other added; now it has all
    ensure_catalog(paths)
    results, skipped = [], {}
    for key in paths.store.list("optimize", "/result/object.json"):
        if key.count("/") != 4:  # optimize/<dataset>/<strategy>/result/object.json
            continue
        folder = Location(paths.store, key.removesuffix("/result/object.json"))
        try:
            results.append(load_result(folder))
        except (ValueError, OSError) as e:
            context.log.warning(f"skipping {folder}: {e}")
            skipped["/".join(key.split("/")[1:3])] = str(e)
    if not results:
        raise dg.Failure("no optimization results yet: materialize replay_results first")
    with Progress(f"optimization_report of {len(results)} results", report=context.log.info).ticking():
        built = build_report(results, paths.report, skipped)  # only the pages whose result changed
    context.log.info(f"report {built.index}: {len(built.rebuilt)} page(s) rebuilt, {len(built.kept)} kept, "
                     f"{len(built.removed)} removed")
    report = built.index
    rows = leaderboard_rows(results)
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(report)),
            "open": dg.MetadataValue.url(report.as_uri()),
            "optimizations": len(results),
            "pages_rebuilt": len(built.rebuilt), "pages_kept": len(built.kept),
            "summary": md_table(rows, columns_of(rows)),
            "leaderboard": dg.MetadataValue.json(rows),  # what `lq` prints
        }
    )


def _partition_inputs(context: dg.AssetExecutionContext, lake: LakeResource):
    """(dataset, the resolved strategy, data paths, the stage folder) of this partition: the
    strategy is resolved here, once, and passed on."""
    dataset, name = split_optimize_key(context.partition_key)
    paths = lake.paths()
    spec = resolve(name)
    return dataset, spec, paths, stage_dir(paths, dataset, name)


def _strategy_metadata(spec) -> dict:
    return {"strategy": spec.name, "strategy_source": spec.source.describe(),
            "strategy_version": spec.version}


def _md(df) -> dg.MarkdownMetadataValue:
    return md_table(df.rows(), df.columns)

