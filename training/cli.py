"""The ``alsstrat`` command line. Thin: each command parses options and calls one importable function.

Exit codes: 0 ok; 2 bad input (with a readable report naming table/file, row, column, rule and value);
1 internal error. Heavy libraries are imported inside the commands so that ``alsstrat --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ALS patient stratification: LCN2 + neurofilament + clinical data -> subtype and progression.")

# soft_wrap: reports and paths are printed whole, never folded at the terminal width (they are grepped and pasted).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
REPORT_LINES = 200  # violations printed to the terminal; the count is always exact


class BadInput(Exception):
    """A user-facing input problem that is not a data-contract violation (bad path, unknown scenario...)."""


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Map errors to exit codes: data/config problems -> 2 with the report, anything else -> 1."""
    from pydantic import ValidationError

    from features.errors import FeatureDataError

    try:
        yield
    except FeatureDataError as exc:
        err_console.print(exc.report(limit=REPORT_LINES), markup=False, highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (BadInput, ValidationError, FileNotFoundError) as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except typer.Exit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence of a CLI
        logging.getLogger("alsstrat").debug("internal error", exc_info=True)
        err_console.print(f"internal error: {type(exc).__name__}: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INTERNAL) from None


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging to stderr.")] = False) -> None:
    """Configure logging once, at the entry point (libraries only attach NullHandlers)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress noise in reports and logs
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


@app.command()
def simulate(
    n_patients: Annotated[int, typer.Option("--n-patients", min=1, help="Number of patients to simulate.")],
    seed: Annotated[int, typer.Option(help="Random seed (same seed -> identical files).")],
    out: Annotated[Path, typer.Option(help="Output folder for patients, visits, biomarkers, events, truth.")],
    scenario: Annotated[str, typer.Option(help="Scenario name (features/scenarios/<name>.yaml) or a YAML path.")]
    = "default",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
) -> None:
    """Simulate a literature-grounded synthetic cohort and write the native raw tables plus the truth table."""
    with cli_errors():
        from features.io import write_tables
        from features.simulate import load_scenario, simulate_cohort
        from training.progress import progress_callback

        if fmt not in ("parquet", "csv"):
            raise BadInput(f"--format must be parquet or csv, got {fmt!r}")
        scen = load_scenario(scenario)
        with progress_callback(console, f"simulating {n_patients} patients", total=n_patients,
                               enabled=n_patients >= 2000) as advance:
            tables = simulate_cohort(n_patients=n_patients, seed=seed, scenario=scen, progress=advance)
        written = write_tables(tables, out, fmt="csv" if fmt == "csv" else "parquet")
        from training.summaries import print_raw_summary

        print_raw_summary(console, tables, written, title=f"scenario {scen.name!r}, seed {seed}")


@app.command()
def validate(
    input: Annotated[Path, typer.Option(help="Folder with the native raw tables (CSV or Parquet).")],
) -> None:
    """Validate native raw tables against the contract; exit 2 with every violation listed."""
    with cli_errors():
        from features.io import load_native
        from training.summaries import print_raw_summary

        tables = load_native(input)
        print_raw_summary(console, tables, None, title=f"{input} is valid")


Source = Literal["native", "synthetic", "proact", "dream2012"]


@app.command()
def cohort(
    source: Annotated[str, typer.Option(help="native | synthetic | proact | dream2012")],
    input: Annotated[Path, typer.Option(help="Folder (native, synthetic, proact) or file/folder (dream2012).")],
    out: Annotated[Path, typer.Option(help="Cohort table to write (.parquet); a .report.json is written beside it.")],
) -> None:
    """Assemble the cohort table (one row per patient) and its import report."""
    with cli_errors():
        from features.cohort_table import write_cohort
        from features.sources import load_cohort
        from training.summaries import print_cohort_summary

        if out.suffix != ".parquet":
            raise BadInput(f"--out must end in .parquet, got {out.name!r}")
        built = load_cohort(source, input)
        path, report_path = write_cohort(built, out)
        print_cohort_summary(console, built, path, report_path)


@app.command()
def train(
    config: Annotated[Path | None, typer.Option(help="Training config YAML (default: training/configs/default.yaml).")]
    = None,
    source: Annotated[str | None, typer.Option(help="Override data.source: synthetic | native | proact | dream2012.")]
    = None,
    input: Annotated[Path | None, typer.Option(help="Override data.input (folder or file).")] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name (default from the config).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object last on stdout.")] = False,
) -> None:
    """Train the subtype and progression models, log one MLflow run and register a new model version."""
    with cli_errors():
        import json

        from training.config import load_config
        from training.train import run_training

        cfg = load_config(config)
        data = cfg.data.model_copy(update={k: v for k, v in {"source": source, "input": str(input) if input else None}
                                           .items() if v is not None})
        cfg = cfg.model_copy(update={"data": data, **({"experiment": experiment} if experiment else {})})
        cfg = type(cfg).model_validate(cfg.model_dump())  # re-validate the overrides
        status_console = err_console if as_json else console
        with status_console.status("training") as status:
            result = run_training(cfg, stage=lambda s: status.update(f"training: {s}"))
        if as_json:
            console.print_json(json.dumps(result.to_json_dict(), allow_nan=False, default=_json_float))
        else:
            from training.summaries import print_train_summary

            print_train_summary(console, result)


def _json_float(value: object) -> object:
    return None


def _register_subcommands() -> None:
    """Commands that live in their own modules (each module keeps its heavy imports inside the commands)."""
    from training.cli_benchmark import benchmark_app
    from training.cli_registry import promote
    from training.cli_runs import runs_app
    from training.cli_serving import score, serve

    app.command()(promote)
    app.command()(score)
    app.command()(serve)
    app.add_typer(runs_app, name="runs")
    app.add_typer(benchmark_app, name="benchmark")


_register_subcommands()


if __name__ == "__main__":  # pragma: no cover
    app()
