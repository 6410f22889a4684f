"""Printing the leaderboard (the report asset's metadata) on the terminal: an aligned table with a
verdict per row (``lq_engine.optimize.leaderboard``)."""

from __future__ import annotations

from lq_engine.optimize.leaderboard import text_table


def print_leaderboard(report_run) -> None:
    (mat,) = report_run.asset_materializations_for_node("optimization_report")
    rows = mat.metadata["leaderboard"].value
    print()
    print("Leaderboard (winner per dataset and strategy; holdout = out of sample, scored once):")
    print("\n".join("  " + line for line in text_table(rows).splitlines()))
    print(f"Report: {mat.metadata['report'].value}")
