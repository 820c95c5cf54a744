"""``alsstrat score`` (offline batch scoring) and ``alsstrat serve`` (the HTTP service)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from training.cli import cli_errors


def score(
    input: Annotated[Path, typer.Option(help="Candidates as CSV or Parquet (one row per candidate).")],
    out: Annotated[Path, typer.Option(help="Scores CSV to write (one row per input row).")],
    model_uri: Annotated[str, typer.Option(help="Model to use.")] = "models:/als-stratifier@champion",
) -> None:
    """Score candidates offline with the same per-row error semantics as the HTTP service."""
    with cli_errors():
        raise NotImplementedError("alsstrat score is not implemented yet")


def serve(port: Annotated[int, typer.Option(help="HTTP port.")] = 3000) -> None:
    """Serve the champion model over HTTP (BentoML)."""
    with cli_errors():
        raise NotImplementedError("alsstrat serve is not implemented yet")
