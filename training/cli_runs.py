"""``alsstrat runs ...``: what auditors use to list, compare and reproduce runs and read promotion history."""

from __future__ import annotations

import typer

runs_app = typer.Typer(no_args_is_help=True, help="List, compare and reproduce training runs; promotion history.")
