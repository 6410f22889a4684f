"""``lq freeze [DATASET]``: rebuild frozen datasets from the lake through the freeze_datasets job, the
runs ``lq ingest`` starts after its ingest (``freeze_universes``, shared by both verbs)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lq_engine.errors import RunFailedError

if TYPE_CHECKING:  # dagster loads inside the verb (``lq --help`` stays instant)
    import dagster as dg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "freeze",
        help="rebuild the frozen dataset of one universe (or of all) from the lake",
        description="Run the freeze_datasets job (asset frozen_dataset) for DATASET, a universe of "
        "luminaquant.toml, or for every universe, in this process against the Dagster instance: what "
        "`lq ingest` does after its ingest. One line per universe: frozen (symbols, timeframe, rows, "
        "content hash) or skipped (none of its symbols or patterns is in the lake's bars of its "
        "timeframe; its last frozen dataset, if any, stays current). Exit code 0; 1 if a freeze failed "
        "or if the DATASET named was skipped; 2 for an unknown DATASET.",
    )
    p.add_argument("dataset", nargs="?", metavar="DATASET",
                   help="a universe of luminaquant.toml (default: every universe)")
    p.set_defaults(func=run)


@dataclass
class FreezeOutcome:
    frozen: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # universe -> its note
    failed: dict[str, str] = field(default_factory=dict)  # universe -> why

    def raise_failed(self, before: str = "") -> None:
        """RunFailedError (exit code 1) naming the first universe not frozen and why; the others'
        lines go to stderr first (when several failed)."""
        if not self.failed:
            return
        lines = [f"universe {u} not frozen: {why}" for u, why in self.failed.items()]
        if len(lines) > 1:
            for line in lines:
                print(line, file=sys.stderr)
        more = f" (and {len(lines) - 1} more, see above)" if len(lines) > 1 else ""
        raise RunFailedError(f"{before}{lines[0]}{more}")


def _shortlist(names: list[str], n: int = 8) -> str:
    return ", ".join(names[:n]) + (f" +{len(names) - n} more" if len(names) > n else "")


def freeze_universes(instance: dg.DagsterInstance, universes: Iterable[str]) -> FreezeOutcome:
    """Freeze each universe in its own run (``launch.freeze_in_dagster``), printing one line per
    universe frozen or skipped (the asset's note). A failed run does not stop the next universe:
    it is in the outcome's ``failed`` (``raise_failed``)."""
    from lq_assets.datasets.assets import SKIPPED
    from lq_assets.launch import freeze_in_dagster

    out = FreezeOutcome()
    for u in universes:
        try:
            (res,) = freeze_in_dagster(instance, [u])
        except RunFailedError as e:
            out.failed[u] = str(e)
            continue
        mats = res.asset_materializations_for_node("frozen_dataset")
        if mats:
            meta = {k: v.value for k, v in mats[0].metadata.items()}
            symbols = [s for s in str(meta.get("symbols", "")).split(", ") if s]
            missing = meta.get("missing_symbols", "none")
            line = (f"universe {u} frozen: {_shortlist(symbols)} ({meta.get('timeframe')}), {meta.get('rows')} rows, "
                    f"hash {str(meta.get('content_hash'))[:12]}"
                    + (f"; not in the lake: {missing}" if missing != "none" else ""))
            out.frozen.append(u)
        else:
            notes = [o.metadata[SKIPPED].value for o in res.asset_observations_for_node("frozen_dataset")
                     if SKIPPED in o.metadata]
            line = str(notes[0]) if notes else f"universe {u} skipped"
            out.skipped[u] = line
        print(f"  {line}", flush=True)
    return out


def run(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import Stages, setup, step
    from lq_assets.cli.inputs import check_dataset

    named = check_dataset(args.dataset, "DATASET") if args.dataset else None  # before Dagster loads
    setup(args.verbose)
    stages = Stages()
    with stages("loading Dagster definitions"):
        import dagster as dg

        from lq_assets.partitions import UNIVERSES
    universes = [named] if named else list(UNIVERSES.get_partition_keys())
    with dg.DagsterInstance.get() as instance:
        with stages("frozen_dataset", f"freezing {_shortlist(universes)}"):
            outcome = freeze_universes(instance, universes)
    outcome.raise_failed()
    if named and named in outcome.skipped:
        raise RunFailedError(f"nothing frozen: {outcome.skipped[named]}")
    step("done")
    print(stages.summary())
    return 0
