"""Exchange data, nightly: the ``exchange_bars`` asset fetches every ``[fetch.NAME]`` source of
luminaquant.toml into the landing folder (``lq_engine.data.fetch``, what ``lq fetch`` runs), and the
landing sensor ingests the files as usual. ``nightly_fetch`` runs it at 00:15 UTC, before the nightly
optimization (02:00), so a re-frozen dataset (declarative automation) is optimized the same night."""

import os

import dagster as dg

from lq_assets.metadata import md_table
from lq_assets.profile import schedule_status
from lq_assets.resources import LakeResource, ProjectConfigResource
from lq_engine.data.fetch import FUNDING, FetchError, FetchPolicy, fetch_to_landing, open_exchange, parse_when
from lq_engine.errors import InputError
from lq_engine.optimize.config import load_checked_config


class ExchangeBarsConfig(dg.Config):
    sources: list[str] = []
    """Names of the ``[fetch.NAME]`` tables to fetch; empty: all of them."""


@dg.asset(
    group_name="market",
    kinds={"ccxt", "csv"},
    description=(
        "Closed bars (and funding rates of perpetuals) fetched from exchanges through ccxt for every "
        "[fetch.NAME] source of luminaquant.toml, each resuming after the last bar already there, written "
        "as CSV files into the landing folder; the landing sensor ingests them into market_bars (`lq fetch` "
        "does the same for one market)."
    ),
)
def exchange_bars(context: dg.AssetExecutionContext, config: ExchangeBarsConfig, lake: LakeResource,
                  project: ProjectConfigResource) -> dg.MaterializeResult:
    paths = lake.paths()
    sources = project.load().fetch
    unknown = [s for s in config.sources if s not in sources]
    if unknown:
        raise dg.Failure(f"no [fetch.{unknown[0]}] in luminaquant.toml (known: {', '.join(sorted(sources)) or 'none'})")
    chosen = [sources[s] for s in (config.sources or sorted(sources))]
    rows, failed = [], []
    for src in chosen:
        try:
            ex = open_exchange(src.exchange, api_url=src.api_url)
        except InputError as e:  # an unknown exchange: the other sources are still fetched
            failed.append(f"[fetch.{src.name}] {e}")
            continue
        policy = FetchPolicy(min_interval_s=src.min_interval)
        since = parse_when(src.since, f"[fetch.{src.name}] since")
        for symbol in src.symbols:
            for kind in (*src.timeframes, *((FUNDING,) if src.funding else ())):
                try:
                    r = fetch_to_landing(ex, paths, symbol, kind, since_ns=since, suffix=src.suffix, policy=policy,
                                         report=context.log.info)
                except (FetchError, InputError) as e:  # the others are still fetched; the run fails at the end
                    context.log.error(f"[fetch.{src.name}] {e}")
                    failed.append(f"[fetch.{src.name}] {e}")
                    continue
                context.log.info(r.summary())
                rows.append({"source": src.name, "market": r.market, "symbol": r.symbol, "kind": kind,
                             "rows": r.rows, "files": len(r.files)})
    if failed:
        raise dg.Failure(f"{len(failed)} fetch(es) failed (what a stopped one fetched before is in the landing "
                         "folder; the next run resumes there): " + "; ".join(failed))
    return dg.MaterializeResult(metadata={
        "sources": len(chosen),
        "rows": sum(r["rows"] for r in rows),
        "files": sum(r["files"] for r in rows),
        "fetched": md_table(rows, ["source", "market", "symbol", "kind", "rows", "files"]),
        "landing": str(paths.landing),
    })


fetch_job = dg.define_asset_job(
    "fetch_exchange_data", selection=[exchange_bars],
    description="Fetch every [fetch.NAME] source of luminaquant.toml into the landing folder.",
)


@dg.schedule(
    name="nightly_fetch",
    cron_schedule=os.environ.get("LQ_FETCH_CRON", "15 0 * * *"),
    execution_timezone="UTC",
    job=fetch_job,
    default_status=schedule_status(),
    description="00:15 UTC: fetch the new closed bars (and funding rates) of every [fetch.NAME] source of "
                "luminaquant.toml into the landing folder; the landing sensor ingests them.",
)
def nightly_fetch(context: dg.ScheduleEvaluationContext):
    if not load_checked_config().fetch:
        return dg.SkipReason("no [fetch.NAME] source in luminaquant.toml: nothing to fetch")
    date = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"fetch:{date}", tags={"lq/nightly": date})
