"""Printing the optimization summary (the report asset's metadata) on the terminal."""

from __future__ import annotations


def print_leaderboard(report_run) -> None:
    (mat,) = report_run.asset_materializations_for_node("optimization_report")
    md = mat.metadata["summary"].value
    print()
    print("Leaderboard (winner per dataset and strategy; holdout = out of sample, scored once):")
    for line in md.splitlines():
        if line.startswith("|---"):
            continue
        print("  " + line.strip("| ").replace(" | ", "  |  "))
    print(f"Report: {mat.metadata['report'].value}")
