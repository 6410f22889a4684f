"""Printing the leaderboard (the report asset's metadata) on the terminal: an aligned table with a
verdict per row (``lq_engine.optimize.leaderboard``), and the lookahead gate of each optimization."""

from __future__ import annotations

from lq_engine.optimize.leaderboard import text_table


def print_leaderboard(report_run, failed: dict[str, str] | None = None, dataset: str = "") -> None:
    """The report's leaderboard; ``failed`` (strategy -> reason, of ``dataset``) marks the strategies
    whose optimization failed in this command (``failed_rows``)."""
    (mat,) = report_run.asset_materializations_for_node("optimization_report")
    rows = failed_rows(mat.metadata["leaderboard"].value, failed or {}, dataset)
    print()
    print("Leaderboard (winner per dataset and strategy; holdout = out of sample, scored once):")
    print("\n".join("  " + line for line in text_table(rows).splitlines()))
    pages = ""
    if "pages_rebuilt" in mat.metadata:  # the report rewrites only the pages whose result changed
        pages = f" ({mat.metadata['pages_rebuilt'].value} page(s) rebuilt, {mat.metadata['pages_kept'].value} kept)"
    print(f"Report: {mat.metadata['report'].value}{pages}; `lq report` opens it")


def failed_rows(rows: list[dict[str, str]], failed: dict[str, str], dataset: str) -> list[dict[str, str]]:
    """``rows`` with each failed strategy of ``dataset`` as FAILED, last: its row of an earlier run
    (the report keeps the last stored result) says so, or a row without figures is added."""
    out = [r for r in rows if not _of(r, failed, dataset)]
    for name, reason in failed.items():
        old = [r for r in rows if _of(r, {name: reason}, dataset)]
        if old:
            out += [{**r, "verdict": f"FAILED in this run (figures of an earlier run): {reason}"} for r in old]
        else:
            out.append({"dataset": dataset, "strategy": name, "winner": "-", "verdict": f"FAILED: {reason}"})
    return out


def _of(row: dict[str, str], failed: dict[str, str], dataset: str) -> bool:
    ds = row.get("dataset", "").removesuffix(" [SYNTHETIC]")
    return row.get("strategy") in failed and ds == dataset


def print_gates(strategy_runs) -> None:
    """One line per optimized strategy: the lookahead gate's outcome and cost (``replay_results``'
    metadata), its share of that optimization's time."""
    lines = []
    for run in strategy_runs:
        for mat in run.asset_materializations_for_node("replay_results"):
            md = mat.metadata
            if "lookahead_gate" not in md:
                continue
            share = md["lookahead_share"].value if "lookahead_share" in md else float("nan")
            tail = f" ({share:.1%} of the optimization)" if share == share else ""
            lines.append(f"  {md['strategy'].value}: {md['lookahead_gate'].value}{tail}")
    if lines:
        print()
        print("Lookahead gate (before stage 1 on the selection data, and the winner again):")
        print("\n".join(lines))
