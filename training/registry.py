"""Registry operations: move the ``champion`` alias, and keep an append-only promotion history.

The history lives in the tracking backend itself (so it survives on a shared ``mlflow server``): one run per
promotion in the experiment ``alsstrat-promotions``, its facts stored as MLflow *params*. MLflow refuses to change
a logged param, and this module exposes no way to edit or delete a record, so the history is never rewritten.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import mlflow
from mlflow.entities import ViewType

from training.tracking import ensure_experiment

CHAMPION = "champion"
HISTORY_EXPERIMENT = "alsstrat-promotions"


class PromotionRefused(Exception):
    """The promotion was not carried out (bad version, missing approver or reason, failed gate)."""


@dataclass(frozen=True)
class Promotion:
    """One move of the champion alias."""

    time_utc: str
    model_name: str
    version: str
    previous_champion: str | None
    approver: str
    reason: str
    gate: str  # "not run", "passed", "failed" (only with force)
    forced: bool
    recorded_by: str
    record_run_id: str | None = None


def current_champion(model_name: str) -> str | None:
    """Version string holding the champion alias, or None."""
    client = mlflow.MlflowClient()
    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def promote(model_name: str, version: str, *, approver: str, reason: str, gate: str = "not run",
            forced: bool = False, details: dict[str, Any] | None = None) -> Promotion:
    """Move ``champion`` to ``version`` and append the move to the promotion history.

    Parameters
    ----------
    model_name, version : str
        The registered model and the version to promote (must exist).
    approver, reason : str
        Who approved the move and why (both required, non-blank).
    gate, forced : str, bool
        The gate outcome recorded with the move; ``forced`` marks an override.
    details : dict, optional
        Gate comparison figures, stored as a JSON artifact of the history record.

    Raises
    ------
    PromotionRefused
        For a blank approver or reason, or a version that does not exist.
    """
    if not approver.strip():
        raise PromotionRefused("--approver must name a person")
    if not reason.strip():
        raise PromotionRefused("--reason must say why")
    client = mlflow.MlflowClient()
    try:
        client.get_model_version(model_name, version)
    except mlflow.exceptions.MlflowException:
        raise PromotionRefused(f"{model_name} has no version {version}") from None
    previous = current_champion(model_name)
    record = Promotion(time_utc=datetime.now(UTC).isoformat(timespec="seconds"), model_name=model_name,
                       version=str(version), previous_champion=previous, approver=approver.strip(),
                       reason=reason.strip(), gate=gate, forced=forced, recorded_by=getpass.getuser())
    experiment_id = ensure_experiment(HISTORY_EXPERIMENT)
    # The record is written before the alias moves: a crash in between leaves an extra record, never a silent move.
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"promote-{model_name}-v{version}") as run:
        mlflow.log_params({k: "" if v is None else str(v) for k, v in asdict(record).items()
                           if k != "record_run_id"})
        mlflow.set_tag("alsstrat.kind", "promotion")
        if details:
            mlflow.log_text(json.dumps(details, indent=2, default=str), "gate.json")
        run_id = run.info.run_id
    client.set_registered_model_alias(model_name, CHAMPION, str(version))
    client.set_model_version_tag(model_name, str(version), "promoted_at", record.time_utc)
    return Promotion(**{**asdict(record), "record_run_id": run_id})


def promotion_history(model_name: str | None = None) -> list[Promotion]:
    """Every recorded promotion, oldest first (optionally of one model)."""
    experiment = mlflow.get_experiment_by_name(HISTORY_EXPERIMENT)
    if experiment is None:
        return []
    runs = mlflow.MlflowClient().search_runs([experiment.experiment_id], run_view_type=ViewType.ALL,
                                              order_by=["attributes.start_time ASC"], max_results=50_000)
    out = []
    for run in runs:
        p = run.data.params
        if model_name is not None and p.get("model_name") != model_name:
            continue
        out.append(Promotion(time_utc=p["time_utc"], model_name=p["model_name"], version=p["version"],
                             previous_champion=p.get("previous_champion") or None, approver=p["approver"],
                             reason=p["reason"], gate=p.get("gate", "not run"), forced=p.get("forced") == "True",
                             recorded_by=p.get("recorded_by", ""), record_run_id=run.info.run_id))
    return sorted(out, key=lambda r: (r.time_utc, r.record_run_id or ""))
