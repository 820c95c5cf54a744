"""``alsstrat benchmark ...``: external validation on real data (DREAM-2012)."""

from __future__ import annotations

import typer

benchmark_app = typer.Typer(no_args_is_help=True, help="External benchmarks on real patients.")
