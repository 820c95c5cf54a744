"""``alsstrat promote``: move the champion alias through the promotion gate, and record every attempt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from features.project import MODEL_NAME
from training.cli.common import EXIT_BAD_INPUT, BadInput, cli_errors, console, err_console


def promote(
    version: Annotated[str, typer.Argument(help="Registered version of the model to make champion.")],
    approver: Annotated[str, typer.Option(help="Who approves this promotion.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the promotion history).")],
    force: Annotated[bool, typer.Option("--force", help="Move the alias even if the gate does not pass; "
                                                        "recorded as forced, with the reason.")] = False,
    on: Annotated[Path | None, typer.Option(help="Cohort Parquet file (from `alsstrat cohort`) to compare the "
                                                 "candidate and the champion on; needed when they were trained on "
                                                 "different data.")] = None,
    gate_config: Annotated[Path | None, typer.Option("--gate-config", help="Gate criteria and margins YAML "
                                                                           "(default training/configs/gate.yaml).")]
    = None,
    model_name: Annotated[str, typer.Option("--model-name", help="Registered model name.")] = MODEL_NAME,
    adopt: Annotated[bool, typer.Option("--adopt", help="Record a champion alias moved outside `alsstrat promote` "
                                                        "(e.g. in the MLflow UI): VERSION is where the alias points "
                                                        "(kept) or the last recorded champion (restored). No gate "
                                                        "runs; the adoption is recorded with approver and reason.")]
    = False,
) -> None:
    """Move the champion alias to VERSION if it is non-inferior to the current champion (or --force).

    Exit 2 when the gate refuses (each failed criterion is printed with both values), or when the champion alias
    no longer points where the promotion history last moved it (record that with --adopt); every attempt that
    reaches the gate is appended to the promotion history (`alsstrat runs history`). One promotion runs at a
    time: a second one waits, then is gated against the champion the first one left.
    """
    with cli_errors():
        from training.data.runs import AuditError
        from training.registry.gate import load_gate_config
        from training.registry.promotion import PromotionRefused
        from training.registry.promotion import promote as do_promote
        from training.tracking import configure_tracking

        cfg = load_gate_config(gate_config)
        configure_tracking()
        try:
            outcome = do_promote(model_name, version, approver=approver, reason=reason, force=force,
                                 gate_config=cfg, on=on, adopt=adopt)
        except (PromotionRefused, AuditError) as exc:
            raise BadInput(str(exc)) from None
        gate, record = outcome.gate, outcome.record
        if gate.cohort:
            console.print(f"gate cohort: {gate.cohort['description']}", markup=False, highlight=False)
        for line in _gate_lines(gate):
            console.print(line, markup=False, highlight=False)
        if not outcome.moved:
            err_console.print(f"refused: {model_name} version {version} was not promoted (gate {gate.status}); "
                              f"champion stays {record.previous_champion}. The attempt is recorded "
                              f"({record.record_run_id}).", markup=False, highlight=False)
            if gate.status == "not-evaluable":
                err_console.print(f"  {gate.reason}", markup=False, highlight=False)
            for failure in gate.failures:
                err_console.print(f"  failed {failure.line()}", markup=False, highlight=False)
            err_console.print("Override with --force (recorded as forced) only with a documented reason.",
                              markup=False, highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT)
        how = (" (FORCED over the gate)" if record.forced
               else " (ADOPTED: the alias had been moved outside the history)" if gate.status == "adopted" else "")
        console.print(f"{model_name} version {record.version} is now champion{how} "
                      f"(previous: {record.previous_champion or 'none'}); approved by {record.approver}.",
                      markup=False, highlight=False)


def _gate_lines(gate: object) -> list[str]:
    from training.registry.gate import GateResult

    assert isinstance(gate, GateResult)
    if gate.status in ("no-champion", "already-champion", "not-evaluable", "adopted"):
        return [f"gate: {gate.summary()}"]
    checked = [c for c in gate.criteria if c.status != "not evaluated"]
    lines = [f"gate {gate.status}: {len(checked) - len(gate.failures)} of {len(checked)} checks non-inferior "
             f"(decision: {gate.decision})"]
    lines += [f"  {'FAIL' if c.status == 'failed' else 'ok  '} {c.line()}" for c in checked]
    skipped = [c.name for c in gate.criteria if c.status == "not evaluated"]
    if skipped:
        lines.append(f"  not evaluated (too few patients or undefined): {', '.join(skipped)}")
    if gate.subtype_agreement:
        a = gate.subtype_agreement
        lines.append(f"subtype agreement with the champion on the gate cohort (information, not a criterion): same "
                     f"subtype label for {100 * a['same_label_share']:.0f} % of patients, ARI {a['ari']:.3f}")
    return lines
