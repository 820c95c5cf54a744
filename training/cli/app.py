"""The ``alsstrat`` command line: one Typer app wiring the command modules together.

Thin: each command parses options and calls one importable function. Heavy libraries are imported inside the
commands so that ``alsstrat --help`` stays fast. Exit codes and error mapping live in
:mod:`training.cli.common`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from training.cli.benchmark import benchmark_app
from training.cli.data import cohort, simulate, train, validate
from training.cli.promote import promote
from training.cli.runs import runs_app
from training.cli.serve import score, serve
from training.cli.trial import trial_app

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ALS patient stratification: LCN2 + neurofilament + clinical data -> subtype and progression.")

@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging to stderr.")] = False) -> None:
    """Configure logging once, at the entry point (libraries only attach NullHandlers)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress noise in reports and logs
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")



for _command in (simulate, validate, cohort, train, promote, score, serve):
    app.command()(_command)
app.add_typer(runs_app, name="runs")
app.add_typer(benchmark_app, name="benchmark")
app.add_typer(trial_app, name="trial")


if __name__ == "__main__":  # pragma: no cover
    app()
