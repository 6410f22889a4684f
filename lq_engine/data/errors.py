"""The one error type of the ingest path: bad input, named by file, row and field."""

from __future__ import annotations

from lq_engine.errors import LQError

from pathlib import Path


def short_name(file: str | Path) -> str:
    """``/data/landing/x.csv`` -> ``landing/x.csv`` (what messages show)."""
    p = Path(file)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


class IngestError(LQError, ValueError):
    """A file that cannot become bars.

    ``row`` is the 1-based data row in the file (None for file-level problems), ``field`` the
    column concerned (None if none), ``rows_affected`` how many rows fail the same checks.
    """

    def __init__(
        self,
        file: str | Path,
        reason: str,
        *,
        row: int | None = None,
        field: str | None = None,
        rows_affected: int | None = None,
    ) -> None:
        self.file = str(file)
        self.row = row
        self.field = field
        self.reason = reason
        self.rows_affected = rows_affected
        where = [short_name(file)]
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        msg = ", ".join(where) + f": {reason}"
        if rows_affected is not None and rows_affected > 1:
            msg += f" ({rows_affected} rows fail validation)"
        super().__init__(msg)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "row": self.row,
            "field": self.field,
            "reason": self.reason,
            "rows_affected": self.rows_affected,
            "message": str(self),
        }
