"""``alsstrat benchmark ...``: external validation on real data (DREAM-2012)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

benchmark_app = typer.Typer(no_args_is_help=True, help="External benchmarks on real patients.")


@benchmark_app.command("dream2012")
def dream2012(
    input: Annotated[
        Path | None,
        typer.Option(
            help="DREAM-2012 folder (feature table, gold standard, organisers' baseline). Default: "
            "../shared/data/dream2012/ beside the repository."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object last on stdout.")] = False,
) -> None:
    """The served model on DREAM-2012: RMSD and Pearson r on the 625 real test patients.

    Runs the training job of `alsstrat train --source dream2012` (the shipped configuration; tuned by
    cross-validation inside the 1,197 training patients), scores the 625 test patients with that model's own point
    prediction and interval, prints the table beside the baselines and published references, and logs the run to
    MLflow (experiment benchmark-dream2012). Nothing is registered.
    """
    from training.cli.common import BadInput, cli_errors, console, err_console

    with cli_errors():
        import json

        from training.benchmarks.dream2012 import (
            BenchmarkInputError,
            benchmark_dream2012,
            default_input,
            format_table,
            summary_lines,
        )

        path = input if input is not None else default_input()
        if input is None and not path.exists():
            raise BadInput(
                f"DREAM-2012 data not found at the default location {path} "
                "(../shared/data/dream2012/ beside the repository); pass --input PATH"
            )
        out = err_console if as_json else console  # with --json, stdout carries the JSON object only
        try:
            with out.status("DREAM-2012 benchmark") as status:
                result = benchmark_dream2012(path, stage=lambda s: status.update(f"DREAM-2012 benchmark: {s}"))
        except BenchmarkInputError as exc:
            raise BadInput(str(exc)) from None
        out.print(format_table(result), markup=False, highlight=False)
        for line in summary_lines(result):
            out.print(line, markup=False, highlight=False)
        out.print(
            f"MLflow run {result.run_id} (experiment benchmark-dream2012), data hash {result.data_hash[:12]}, "
            f"{result.seconds:.0f} s",
            markup=False,
            highlight=False,
        )
        if as_json:
            console.print_json(json.dumps(result.to_json_dict(), allow_nan=False))
