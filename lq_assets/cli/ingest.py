"""``lq ingest``: files into the lake through the same Dagster job the landing sensor runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lq_engine.errors import LQError, RunFailedError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="ingest CSV / Parquet files into the lake (a market_bars run per file)",
        description="Run the market_bars job over the partitions each file touches, in this process, "
        "against the Dagster instance. Each file is applied whole or not at all (a killed or failed "
        "ingest changes nothing) and kept in the raw archive (data/archive/<sha256>/<name>); it is not "
        "copied into the landing folder. A rejected file is copied to the quarantine with a report "
        "and the lake does not change. Prints one line per file (format, symbols, timeframe, rows, first "
        "and last bar in UTC, rows new / replaced / duplicates dropped), then re-freezes every universe "
        "(`lq freeze`), one line each: a universe none of whose symbols is in the lake is skipped with a "
        "note. Exit code 0: the files are in; 2: a file was rejected; 1: the files are in but a freeze failed.",
    )
    p.add_argument("paths", nargs="+", type=Path,
                   help="CSV or Parquet files, or zips holding one CSV (Binance's dumps)")
    p.add_argument("--symbol", metavar="SYM",
                   help="the symbol of single-symbol files whose name does not say it (e.g. Binance klines "
                        "renamed); a file whose symbol column holds another symbol is rejected")
    p.add_argument("--no-freeze", action="store_true",
                   help="do not rebuild the frozen datasets afterwards (`lq freeze` does, later)")
    p.set_defaults(func=run)


class InstanceStorageError(LQError, OSError):
    """The Dagster instance's storage (DAGSTER_HOME) cannot be written: a full disk."""


def _storage_full(e: BaseException) -> bool:
    """Whether ``e`` or its causes are a full disk (OSError ENOSPC, SQLite's 'database or disk is
    full' or its 'disk I/O error')."""
    import errno

    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        text = str(e)
        if getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text or \
                "disk I/O error" in text:
            return True
        e = e.__cause__ or e.__context__
    return False


def _instance_full(paths, f: Path, e: BaseException) -> InstanceStorageError:
    """One line: where the instance lives, and whether the file reached the lake anyway (an ingest
    is one transaction, so it did wholly or not at all)."""
    import os

    from lq_engine.data.ingest_log import ingest_history
    from lq_engine.data.quarantine import file_sha256

    sha = file_sha256(f)
    applied = any(a.sha256 == sha for a in ingest_history(paths))
    home = os.environ.get("DAGSTER_HOME", "DAGSTER_HOME")
    state = ("its data is in the lake (a later ingest of it changes nothing), but the run record is incomplete"
             if applied else "nothing of it was applied")
    cause = " ".join(str(e).split())[:160]
    return InstanceStorageError(f"{f.name}: the Dagster instance's storage {home} cannot be written (disk full? "
                                f"{cause}); {state}")


class FileRejected(LQError, ValueError):
    """A file given to ``lq ingest`` could not become bars; it is in quarantine beside its report."""


def rejected(paths, f: Path) -> str | None:
    """'<name> rejected: <reason>; moved to <quarantine path> (report: <...>.reason.json)' for the
    latest quarantine report of landing file ``f``, or None if it was not quarantined."""
    import json

    from lq_engine.data.quarantine import reason_path

    best = None
    for rp in paths.quarantine.glob("*.reason.json"):
        try:
            rep = json.loads(rp.read_text())
        except (OSError, ValueError):
            continue
        if rep.get("original_path") == str(f) and (best is None or rep.get("when", "") > best[0].get("when", "")):
            best = (rep, rp)
    if best is None:
        return None
    rep, rp = best
    where = paths.quarantine / rep["quarantined_as"]
    how = "moved" if rep.get("moved", True) else "copied"
    return f"{f.name} rejected: {rep['message']}; {how} to {where} (reason in {reason_path(where).name})"


def file_summaries(results) -> list[str]:
    """Per ingested file, the line its market_bars run recorded (``IngestReport.summary``: format,
    symbols, timeframe, rows, first and last bar, new / replaced / duplicates dropped)."""
    lines: list[str] = []
    for res in results:
        mats = res.asset_materializations_for_node("market_bars")
        meta = mats[0].metadata if mats else {}
        if "file_summaries" in meta:
            lines.extend(str(x) for x in meta["file_summaries"].value)
    return lines


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import Stages, setup, step
    from lq_engine.data.funding import ingest_funding_files, is_funding_file
    from lq_engine.data.ingest import IngestError, scan_file
    from lq_engine.data.quarantine import quarantine_file
    from lq_engine.data.schema import SYMBOL_RE

    for src in args.paths:
        if not src.is_file():
            raise UsageError(f"{src}: no such file")
    if args.symbol is not None and not SYMBOL_RE.match(args.symbol):
        raise UsageError(f"--symbol {args.symbol!r} is not a valid symbol (letters, digits, '.', '_', '-'; at most 64)")
    paths = setup(args.verbose)
    landed, problems = [], []
    funded = False  # funding rates merged: the frozen datasets are rebuilt to carry them
    for src in args.paths:
        # ingested from where it is: never copied into the landing folder, whose files the landing
        # sensor ingests (a killed `lq ingest` must leave nothing there to be applied later); the
        # ingest's transaction keeps it in the raw archive (data/archive/<sha256>/<name>)
        src = src.resolve()
        if is_funding_file(src):  # a perpetual's funding rates (lq_engine.data.funding): merged here, no bar run
            try:
                done_f = ingest_funding_files([src], paths)[0]
                print(f"  {src.name}: funding, {', '.join(done_f['symbols'])}, {done_f['rows']} rows", flush=True)
                funded = True
            except IngestError as e:
                problems.append(rejected(paths, src) or f"{src.name} rejected: {e}")
            continue
        try:  # a cheap peek before Dagster loads: a file that is not bars at all goes to quarantine now
            scan_file(src, symbol=args.symbol)
        except IngestError as e:
            quarantine_file(src, paths, e)
            problems.append(rejected(paths, src) or f"{src.name} rejected: {e}")
            continue
        landed.append(src)
    stages = Stages()
    outcome = None
    if landed or funded:
        with stages("loading Dagster definitions"):
            import dagster as dg

            from lq_assets.cli.freeze import freeze_universes
            from lq_assets.launch import ingest_in_dagster
            from lq_assets.partitions import UNIVERSES
        done = 0
        with dg.DagsterInstance.get() as instance:
            for f in landed:
                with stages(f"market_bars {f.name}", "ingesting into the Parquet lake"):
                    try:
                        results = ingest_in_dagster(instance, [f], symbol=args.symbol)
                        done += 1
                    except RunFailedError as e:
                        line = rejected(paths, f)
                        if line is None:  # not the file's fault: the run failed otherwise
                            raise
                        problems.append(line)
                        del e
                        continue
                    except Exception as e:
                        if not _storage_full(e):
                            raise
                        raise _instance_full(paths, f, e) from None
                for line in file_summaries(results):
                    print(f"  {line}", flush=True)
            if (done or funded) and not args.no_freeze:
                with stages("frozen_dataset", "rebuilding the frozen datasets"):
                    outcome = freeze_universes(instance, UNIVERSES.get_partition_keys())
    if len(problems) > 1:
        for line in problems:
            print(line, file=sys.stderr)
    if problems:
        raise FileRejected(problems[0] if len(problems) == 1 else
                           f"{len(problems)} files rejected and moved to {paths.quarantine} (see above)")
    if outcome is not None:  # the bars are in; a universe whose freeze failed is named (exit code 1)
        outcome.raise_failed("the bars are in the lake (`lq freeze` retries the freeze), but ")
    step("done")
    if stages.done:
        print(stages.summary())
    return 0
