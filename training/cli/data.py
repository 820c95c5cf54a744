"""``alsstrat simulate | validate | cohort | train``: the data and training verbs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from training.cli.common import BadInput, cli_errors, console, err_console


def simulate(
    n_patients: Annotated[int, typer.Option("--n-patients", min=1, help="Number of patients to simulate.")],
    seed: Annotated[int, typer.Option(help="Random seed (same seed -> identical files).")],
    out: Annotated[Path, typer.Option(help="Output folder for patients, visits, biomarkers, events, truth.")],
    scenario: Annotated[str, typer.Option(help="Scenario name (features/simulate/scenarios/<name>.yaml) or a "
                                               "YAML path.")] = "default",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
) -> None:
    """Simulate a literature-grounded synthetic cohort and write the native raw tables plus the truth table."""
    with cli_errors():
        from features.simulate.generate import load_scenario, simulate_cohort
        from features.sources.native import write_tables
        from training.cli.progress import progress_callback

        if fmt not in ("parquet", "csv"):
            raise BadInput(f"--format must be parquet or csv, got {fmt!r}")
        scen = load_scenario(scenario)
        with progress_callback(console, f"simulating {n_patients} patients", total=n_patients,
                               enabled=n_patients >= 2000) as advance:
            tables = simulate_cohort(n_patients=n_patients, seed=seed, scenario=scen, progress=advance)
        written = write_tables(tables, out, fmt="csv" if fmt == "csv" else "parquet")
        from training.cli.summaries import print_raw_summary

        print_raw_summary(console, tables, written, title=f"scenario {scen.name!r}, seed {seed}")


def validate(
    input: Annotated[Path, typer.Option(help="Folder with the native raw tables (CSV or Parquet).")],
) -> None:
    """Validate native raw tables against the contract; exit 2 with every violation listed."""
    with cli_errors():
        from features.sources.native import load_native
        from training.cli.summaries import print_raw_summary

        tables = load_native(input)
        print_raw_summary(console, tables, None, title=f"{input} is valid")


Source = Literal["native", "synthetic", "proact", "dream2012"]


def cohort(
    source: Annotated[str, typer.Option(help="native | synthetic | proact | dream2012")],
    input: Annotated[Path, typer.Option(help="Folder (native, synthetic, proact) or file/folder (dream2012).")],
    out: Annotated[Path, typer.Option(help="Cohort table to write (.parquet); a .report.json is written beside it.")],
    landmark: Annotated[str | None, typer.Option(help="Prediction time: screening (day 0, the default) or lead-in "
                                                      "(day 91; the only one for dream2012).")] = None,
) -> None:
    """Assemble the cohort table (one row per patient) at a landmark, and its import report."""
    with cli_errors():
        from features.cohort.table import write_cohort
        from features.sources.registry import load_cohort
        from training.cli.summaries import print_cohort_summary

        if out.suffix != ".parquet":
            raise BadInput(f"--out must end in .parquet, got {out.name!r}")
        built = load_cohort(source, input, landmark=landmark)  # a bad source or landmark is a UserInputError
        path, report_path = write_cohort(built, out)
        print_cohort_summary(console, built, path, report_path)


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
        from training.fit.train import run_training

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
            from training.cli.summaries import print_train_summary

            print_train_summary(console, result)


def _json_float(value: object) -> object:
    return None


