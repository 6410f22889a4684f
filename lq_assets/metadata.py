"""Small helpers that turn engine results into Dagster metadata values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg


def md_table(
    rows: Iterable[Mapping[str, object]] | Iterable[Sequence[object]], columns: Sequence[str],
) -> dg.MarkdownMetadataValue:
    """A markdown table; rows are dicts keyed by column or sequences in column order."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        vals = [r.get(c, "") for c in columns] if isinstance(r, Mapping) else list(r)
        lines.append("| " + " | ".join(_fmt(v) for v in vals) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")
