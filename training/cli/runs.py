"""``alsstrat runs ...``: what auditors use to list, compare and reproduce runs, read promotion history and cards."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from features.project import MODEL_NAME
from training.cli.common import EXIT_BAD_INPUT, BadInput, cli_errors, console, err_console

runs_app = typer.Typer(no_args_is_help=True, help="List, compare and reproduce training runs; promotion history; "
                                                  "model cards.")


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become null (JSON has no NaN), tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _json(payload: Any) -> None:
    console.print_json(json.dumps(_clean(payload), allow_nan=False, default=str))


def _audit_errors() -> Any:
    """Map an AuditError (unknown run, version or file) to exit 2 with its message."""
    import contextlib

    from training.data.runs import AuditError

    @contextlib.contextmanager
    def mapping() -> Any:
        try:
            yield
        except AuditError as exc:
            raise BadInput(str(exc)) from None

    return mapping()


@runs_app.command("list")
def list_runs(
    experiment: Annotated[str | None, typer.Option(help="Only this MLflow experiment (default: all training "
                                                        "experiments).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of lines.")] = False,
) -> None:
    """One line per training run, oldest first: start, run id, data hash, source, patients, git commit, key test
    metrics (Harrell C-index, slope RMSE in points/month, 80 % interval coverage), registered versions and aliases.
    Nested tuning trials are skipped."""
    with cli_errors(), _audit_errors():
        from training.audit.runs import RUN_HEADER, format_run_line
        from training.audit.runs import list_runs as do_list
        from training.tracking import configure_tracking

        configure_tracking()
        rows = do_list(experiment)
        if as_json:
            _json(rows)
            return
        if not rows:
            console.print("no training runs in this store", markup=False)
            return
        console.print(RUN_HEADER, markup=False, highlight=False)
        for row in rows:
            console.print(format_run_line(row), markup=False, highlight=False)


@runs_app.command("compare")
def compare(
    run_a: Annotated[str, typer.Argument(help="Reference run id (A).")],
    run_b: Annotated[str, typer.Argument(help="Run id to compare with it (B); differences read B - A.")],
    out: Annotated[Path | None, typer.Option(help="Write the self-contained HTML report here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole comparison as JSON.")] = False,
    on: Annotated[Path | None, typer.Option(help="Cohort Parquet file (from `alsstrat cohort`) to score both "
                                                 "models on, for paired differences.")] = None,
    n_bootstrap: Annotated[int, typer.Option("--n-bootstrap", min=0, max=10_000,
                                             help="Bootstrap resamples per interval.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 42,
) -> None:
    """Compare two training runs: data, code and environment, configuration, metrics with 95 % intervals, paired
    differences on a common cohort, subgroups, calibration, models and lineage; what differs first."""
    with cli_errors(), _audit_errors():
        from training.audit.compare import compare_runs
        from training.reports.compare_html import render_html
        from training.tracking import configure_tracking

        if out is not None and out.suffix.lower() not in (".html", ".htm"):
            raise BadInput(f"--out must end in .html, got {out.name!r}")
        configure_tracking()
        with err_console.status("comparing") as status:
            report = compare_runs(run_a, run_b, on=on, n_bootstrap=n_bootstrap, seed=seed,
                                  stage=lambda s: status.update(f"comparing: {s}"))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(render_html(report), encoding="utf-8")
        if as_json:
            _json(report)
            return
        console.print(f"A {report['runs']['a']['run_id']}  data {report['runs']['a']['data_hash'][:12]}", markup=False)
        console.print(f"B {report['runs']['b']['run_id']}  data {report['runs']['b']['data_hash'][:12]}", markup=False)
        console.print("what differs:", markup=False)
        for line in report["differences"]:
            console.print(f"  - {line}", markup=False, highlight=False)
        console.print(f"report: {out}" if out is not None else "write the full report with --out report.html "
                      "(or --json)", markup=False, highlight=False)


@runs_app.command("history")
def history(
    as_json: Annotated[bool, typer.Option("--json", help="Print the records and the chain check as JSON.")] = False,
    model_name: Annotated[str | None, typer.Option("--model-name", help="Only this registered model.")] = None,
) -> None:
    """The promotion history, oldest first: time, version, previous champion, approver, reason, gate result,
    forced or not, and whether the alias moved. Append-only; the hash chain is verified on every read, and each
    model's champion alias is compared with its last recorded move. Exit 2 when the chain is broken or an alias
    drifted (moved outside `alsstrat promote`)."""
    with cli_errors(), _audit_errors():
        from training.audit.runs import format_history_line
        from training.registry.promotion import champion_state, promotion_history, verify_history
        from training.tracking import configure_tracking

        configure_tracking()
        records = promotion_history()
        check = verify_history(records)
        shown = [r for r in records if model_name is None or r.model_name == model_name]
        names = [model_name] if model_name else sorted({r.model_name for r in records} | {MODEL_NAME})
        champions = [champion_state(name, records) for name in names]
        drifted = [c for c in champions if c.drifted]
        if as_json:
            _json({"records": [r.to_dict() for r in shown], "chain": check.to_dict(),
                   "champions": [{"model_name": c.model_name, "alias": c.alias, "recorded": c.recorded,
                                  "drifted": c.drifted} for c in champions]})
        else:
            if not shown:
                console.print("no promotion recorded", markup=False)
            for record in shown:
                console.print(format_history_line(record), markup=False, highlight=False)
            state = "intact" if check.intact else "BROKEN"
            console.print(f"history chain: {state} ({check.n_records} records, {check.n_unchained} written before "
                          "chaining)", markup=False)
            for c in champions:
                if c.alias is not None or c.recorded is not None:
                    verdict = "DRIFTED" if c.drifted else "as recorded"
                    console.print(f"champion {c.model_name}: alias v{c.alias or '-'}, history v{c.recorded or '-'}: "
                                  f"{verdict}", markup=False, highlight=False)
        for problem in check.problems:
            err_console.print(f"  {problem}", markup=False, highlight=False)
        for c in drifted:
            err_console.print(f"error: {c.message()}", markup=False, highlight=False)
        if not check.intact or drifted:
            raise typer.Exit(EXIT_BAD_INPUT)


@runs_app.command("reproduce")
def reproduce(
    run_id: Annotated[str, typer.Argument(help="Training run to retrain from its logged config.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Log the check as a run in the experiment "
                                                                      "alsstrat-reproductions.")] = True,
) -> None:
    """Retrain RUN_ID from its logged config on data with the logged content hash (exit 2 otherwise) and report
    whether every metric is reproduced exactly. Nothing is registered."""
    with cli_errors(), _audit_errors():
        from training.audit.runs import reproduce_run
        from training.tracking import configure_tracking

        configure_tracking()
        with err_console.status("reproducing") as status:
            result = reproduce_run(run_id, record=record, stage=lambda s: status.update(f"reproducing: {s}"))
        if as_json:
            _json(result.to_dict())
            return
        for note in result.notes:
            console.print(f"note: {note}", markup=False, highlight=False)
        n = len(result.identical) + len(result.differing) + len(result.only_logged) + len(result.only_new)
        if result.reproduced:
            console.print(f"reproduced: all {n} metrics of run {run_id} are identical (data hash "
                          f"{result.data_hash[:12]}…; not compared: {', '.join(result.not_compared) or 'none'})",
                          markup=False, highlight=False)
        else:
            console.print(f"NOT reproduced: {n - len(result.identical)} of {n} metrics of run {run_id} differ",
                          markup=False, highlight=False)
            for row in result.differing:
                console.print(f"  {row['metric']}: logged {row['logged']!r}, reproduced {row['reproduced']!r}",
                              markup=False, highlight=False)
            for key in result.only_logged:
                console.print(f"  {key}: logged, but undefined now", markup=False, highlight=False)
            for key in result.only_new:
                console.print(f"  {key}: defined now, but not logged", markup=False, highlight=False)
        if result.record_run_id:
            console.print(f"check recorded as run {result.record_run_id}", markup=False, highlight=False)


@runs_app.command("card")
def card(
    version: Annotated[str, typer.Argument(help="Registered version of the model.")],
    fmt: Annotated[str, typer.Option("--format", help="md or html.")] = "md",
    out: Annotated[Path | None, typer.Option(help="Write the card to this file instead of printing it.")] = None,
    model_name: Annotated[str, typer.Option("--model-name", help="Registered model name.")] = MODEL_NAME,
) -> None:
    """Print (or write) the model card of a registered version, as logged with its training run."""
    with cli_errors(), _audit_errors():
        from training.audit.runs import model_card
        from training.tracking import configure_tracking

        if fmt not in ("md", "html"):
            raise BadInput(f"--format must be md or html, got {fmt!r}")
        configure_tracking()
        text = model_card(model_name, version, "md" if fmt == "md" else "html")
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            console.print(f"model card of {model_name} version {version} written to {out}", markup=False)
        else:
            # Plain write: the card is printed verbatim (rich would re-wrap or interpret its markup).
            typer.echo(text, nl=False)
