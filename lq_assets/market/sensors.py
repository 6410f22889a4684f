"""The landing-folder sensor: new files become ingest runs for the partitions they touch.

The sensor only peeks at key columns (``scan_file``); it never opens the DuckDB catalog. Its cursor
remembers each file by name, size and mtime, and the run key carries the same fingerprint, so a file
is processed once; a file that is replaced (new size or mtime) is processed again, and the merge
rule (newest ingest wins) applies.

Files `lq ingest` (or `lq demo`) already ingested are known by content: the ingest log holds the
sha256 of every file ingested and the partitions it went to, so a new or touched file whose bytes
were already ingested into all of its partitions is remembered and not ingested again.

A file that landed before a later ingest changed its partitions (typically one whose own ingest
was killed, and that the user has ingested over since) is never applied automatically: it would
put older data over newer. It is moved to the quarantine with the reason (``superseded``).
"""


import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from lq_assets.market.assets import market_bars
from lq_assets.partitions import SYMBOLS, file_range_plan
from lq_assets.profile import sensor_status
from lq_assets.resources import LakeResource
from lq_engine.data.funding import ingest_funding_files, is_funding_file
from lq_engine.data.ingest import LANDING_SUFFIXES, IngestError, scan_file
from lq_engine.data.ingest_log import ingest_history, ingested_partitions
from lq_engine.data.quarantine import file_sha256, quarantine_file

# A file touched this recently may still be being copied in; pick it up on a later tick.
SETTLE_SECONDS = float(os.environ.get("LQ_LANDING_SETTLE_SECONDS", "2"))
INTERVAL_SECONDS = int(os.environ.get("LQ_LANDING_SENSOR_INTERVAL", "15"))


def _fingerprint(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}"


def _latest_ingest(paths) -> dict[str, tuple[datetime, str]]:
    """Partition -> (time asked for, file) of the latest-asked ingest applied to it, from the log."""
    out: dict[str, tuple[datetime, str]] = {}
    for a in ingest_history(paths):
        for p in a.partitions:
            if p not in out or a.requested_at >= out[p][0]:
                out[p] = (a.requested_at, a.file)
    return out


def _superseded(st: os.stat_result, scan, latest: dict[str, tuple[datetime, str]]) -> str | None:
    """Why a landing file must not be applied automatically: it arrived (its inode's change time:
    a copy, move or touch into the folder) before an ingest asked for later changed its partitions
    (``lq ingest`` after it landed, or a landing file that arrived after it), e.g. a file whose own
    ingest was killed and that the user has ingested over since. Applying it now would put older
    data over newer behind the user's back (the merge rule: the file applied last wins). A file
    applied earlier only because it settled a tick sooner does not count: it was asked for earlier."""
    arrived = datetime.fromtimestamp(max(st.st_ctime, st.st_mtime), timezone.utc)
    later = sorted((latest[p], p) for p in map(str, scan.partitions) if p in latest and latest[p][0] > arrived)
    if not later:
        return None
    (when, file), part = later[-1]
    return (f"superseded: it landed at {arrived:%Y-%m-%d %H:%M:%S} UTC, before {Path(file).name}, ingested since "
            f"into {len(later)} of its partitions ({part}, asked for at {when:%Y-%m-%d %H:%M:%S} UTC); not applied "
            "over newer data: `lq ingest` it if it is a correction")


@dg.sensor(
    name="landing_sensor",
    target=[market_bars],
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=sensor_status(),
    description="Turns new files in the landing folder into market_bars runs for the partitions they touch.",
)
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    paths = lake.paths()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    known = list(context.instance.get_dynamic_partitions(SYMBOLS.name))
    new_symbols: list[str] = []
    requests: list[dg.RunRequest] = []
    now = time.time()
    ingested: dict[str, set[str]] | None = None  # read once per tick, when a new file needs it
    latest: dict[str, tuple[datetime, str]] = {}
    for f in sorted(paths.landing.iterdir()):
        if not f.is_file() or f.name.startswith(".") or f.suffix.lower() not in LANDING_SUFFIXES:
            continue
        st = f.stat()
        fp = _fingerprint(st)
        if seen.get(f.name) == fp or now - st.st_mtime < SETTLE_SECONDS:
            continue
        if is_funding_file(f):  # a perpetual's funding rates: small, merged here (no bar partitions to run)
            try:
                ingest_funding_files([f], paths)
                context.log.info(f"{f.name}: funding rates merged into the lake")
            except IngestError as e:
                context.log.warning(f"rejected {f.name}: {e} (quarantined)")
            seen[f.name] = fp
            continue
        try:
            scan = scan_file(f)
        except IngestError as e:
            where = quarantine_file(f, paths, e)
            context.log.warning(f"rejected {f.name}: {e} (quarantined at {where})")
            seen[f.name] = fp
            continue
        if ingested is None:
            ingested = ingested_partitions(paths)
            latest = _latest_ingest(paths)
        done = ingested.get(file_sha256(f))
        if done is not None and {str(p) for p in scan.partitions} <= done:
            context.log.info(f"{f.name}: already ingested (same content in the ingest log); not ingested again")
            seen[f.name] = fp
            continue
        newer = _superseded(st, scan, latest)
        if newer is not None:
            where = quarantine_file(f, paths, newer)
            context.log.warning(f"not applied {f.name}: {newer} (moved to {where})")
            seen[f.name] = fp
            continue
        new, range_tags = file_range_plan(known + new_symbols, list(scan.symbols), list(scan.months))
        new_symbols.extend(new)
        requests.append(
            dg.RunRequest(
                run_key=f"{f.name}:{fp}",
                run_config={"ops": {"market_bars": {"config": {"files": [str(f)]}}}},
                tags={**range_tags, "lq/landing_file": f.name},
            )
        )
        seen[f.name] = fp
    dyn = [SYMBOLS.build_add_request(new_symbols)] if new_symbols else []
    if not requests and not dyn:
        return dg.SensorResult(skip_reason="no new files in the landing folder", cursor=json.dumps(seen))
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=dyn, cursor=json.dumps(seen))
