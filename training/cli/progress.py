"""Rich progress bars for long CLI stages, handed to library code as a plain ``advance(n)`` callback."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Advance = Callable[[int], None]


@contextlib.contextmanager
def progress_callback(console: Console, description: str, total: int, *, enabled: bool = True) -> Iterator[Advance]:
    """Yield ``advance(n)``; shows a bar on the console while the block runs (nothing when disabled)."""
    if not enabled:
        yield lambda n: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
