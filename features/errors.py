"""Typed errors of the feature layer. Every message names the table, row, column, rule and offending value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Violation:
    """One broken rule in one cell (or one column, or one table).

    ``row`` is the 1-based data-row number within the file (the header is not counted), or None when the
    violation concerns a whole column or file.
    """

    table: str
    row: int | None
    column: str | None
    rule: str
    value: Any = None

    def __str__(self) -> str:
        where = self.table
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f", column {self.column}"
        value = "" if self.value is None else f", got {self.value!r}"
        return f"{where}: {self.rule}{value}"


class FeatureDataError(ValueError):
    """Input data broke the contract. Carries every violation found, not just the first."""

    def __init__(self, violations: Sequence[Violation], *, context: str = "input data") -> None:
        self.violations = list(violations)
        self.context = context
        super().__init__(self.report())

    def report(self, limit: int | None = None) -> str:
        """Readable multi-line report; ``limit`` caps the listed lines (the count is always exact)."""
        n = len(self.violations)
        shown = self.violations if limit is None else self.violations[:limit]
        lines = [f"{context_title(self.context)}: {n} violation{'s' if n != 1 else ''} found, nothing was loaded"]
        lines += [f"  - {v}" for v in shown]
        if len(shown) < n:
            lines.append(f"  ... and {n - len(shown)} more")
        return "\n".join(lines)


def context_title(context: str) -> str:
    """``context`` as the start of a sentence: prose gets a capital, a path or file name is printed as given.

    A folder called ``my/bad`` must not be reported as ``My/bad``: on a case-sensitive file system that is another
    folder. A context whose first word holds a path separator or a dot is a name, not prose.
    """
    first = context.split(" ", 1)[0]
    if any(mark in first for mark in ("/", "\\", ".")):
        return context
    return context[:1].upper() + context[1:]


class UserInputError(Exception):
    """A user-facing input problem that is not a data-contract violation (bad path, unknown format, a model URI
    that does not resolve...). Command lines answer it with exit 2 and the message."""
