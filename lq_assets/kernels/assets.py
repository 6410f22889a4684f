"""Backend benchmark: which evaluation backend (python, numba, C, Rust) downstream work uses."""

import math
from datetime import datetime, timezone

import dagster as dg

from lq_assets.metadata import md_table
from lq_assets.resources import LakeResource
import polars as pl

from lq_engine.data.results import write_table
from lq_engine.prefilter.selection import select_backend
from lq_engine.kernels.threads import kernel_threads

TABLE = "backend_benchmark"


@dg.asset(
    group_name="kernels",
    kinds={"numba", "c", "rust", "parquet"},
    description=(
        "Benchmarks every available backend on a fixed workload, adopts only those matching the "
        "python reference within the stated tolerance, and picks the fastest. Table "
        f"`{TABLE}` in the lake (a catalog view); downstream stages read the chosen backend from here. "
        "Overrides: LQ_NATIVE_BACKEND, LQ_NATIVE_AUTO_SELECT, LQ_NATIVE_MIN_SPEEDUP, LQ_NATIVE_BENCH_LOOPS, "
        "LQ_NATIVE_METRICS_DLL."
    ),
)
def backend_benchmark(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    threads = kernel_threads()  # set with polars' count when lq_assets was imported
    context.log.info(f"kernel threads: {threads}")
    sel = select_backend(report=context.log.info)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [
        (now, r.backend, r.available, r.reason, None if math.isnan(r.max_parity_error) else r.max_parity_error,
         None if math.isnan(r.evals_per_sec) else r.evals_per_sec, r.chosen)
        for r in sel.rows
    ]
    schema = {"measured_at": pl.Datetime("us"), "backend": pl.String, "available": pl.Boolean, "reason": pl.String,
              "max_parity_error": pl.Float64, "evals_per_sec": pl.Float64, "chosen": pl.Boolean}
    write_table(lake.paths(), TABLE, pl.DataFrame(rows, schema=schema, orient="row"))
    table = [
        {
            "backend": r.backend,
            "available": "yes" if r.available else f"no: {r.reason}",
            "max parity error": "" if math.isnan(r.max_parity_error) else f"{r.max_parity_error:.2e}",
            "sets/s": "" if math.isnan(r.evals_per_sec) else f"{r.evals_per_sec:,.0f}",
            "chosen": "**chosen**" if r.chosen else "",
        }
        for r in sel.rows
    ]
    return dg.MaterializeResult(
        metadata={
            "chosen_backend": sel.chosen,
            "selection_mode": sel.mode,
            "parity_tolerance": sel.tolerance,
            "backends": md_table(table, ["backend", "available", "max parity error", "sets/s", "chosen"]),
            "threads": threads,
        }
    )


def chosen_backend(instance: dg.DagsterInstance) -> str:
    """The backend chosen by the latest backend_benchmark materialization ('auto' if none yet)."""
    ev = instance.get_latest_materialization_event(dg.AssetKey("backend_benchmark"))
    if ev is None or ev.asset_materialization is None:
        return "auto"
    return str(ev.asset_materialization.metadata["chosen_backend"].value)
