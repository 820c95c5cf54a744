"""Registry operations: move the ``champion`` alias through the promotion gate, and keep an append-only history.

The history lives in the tracking backend itself (so it survives on a shared ``mlflow server``): one run per
promotion *attempt* in the experiment ``alsstrat-promotions``, its facts stored as MLflow *params*. MLflow refuses
to change a logged param, and this module exposes no way to edit or delete a record, so the history is never
rewritten. Two further safeguards make tampering below the API visible (21 CFR Part 11: changes must not obscure
what was recorded):

* each record carries a SHA-256 ``digest`` of its own fields and of the previous record's digest (a hash chain),
  checked by :func:`verify_history`: an edited, removed or re-ordered record breaks the chain;
* deleted record runs are still read (MLflow deletes runs softly) and flagged as deleted.

Every attempt that reaches the gate is recorded, whether it moved the alias or not: a refused attempt is as much
part of the audit trail as a promotion (``moved`` says which). Attempts refused before the gate (unknown version,
blank approver or reason) change nothing and are not recorded.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.entities import ViewType

from features.project import CHAMPION_ALIAS
from training.data.runs import HISTORY_EXPERIMENT
from training.tracking import ensure_experiment

if TYPE_CHECKING:
    from training.registry.gate import GateConfig, GateResult

CHAMPION = CHAMPION_ALIAS
__all__ = ["CHAMPION", "HISTORY_EXPERIMENT", "ChainCheck", "Promotion", "PromotionOutcome", "PromotionRefused",
           "current_champion", "promote", "promotion_history", "verify_history"]
MAX_TEXT = 5000
"""Longest approver or reason accepted (characters); MLflow params hold at most 6000."""
_CHAINED_FIELDS = ("time_utc", "model_name", "version", "previous_champion", "approver", "reason", "gate", "forced",
                   "moved", "recorded_by", "gate_summary", "gate_sha256", "prev_digest")


class PromotionRefused(Exception):
    """The promotion was not carried out before any record was written (bad version, blank approver or reason)."""


@dataclass(frozen=True)
class Promotion:
    """One recorded promotion attempt.

    Attributes
    ----------
    time_utc : str
        When it was recorded (ISO 8601, UTC).
    model_name, version : str
        The registered model and the candidate version.
    previous_champion : str or None
        The version holding the alias at the time of the attempt.
    approver, reason : str
        Who asked for the move and why.
    gate : str
        Gate outcome: ``passed``, ``failed``, ``no-champion``, ``already-champion``, ``not-evaluable``, or ``not run``
        (records written before the gate existed).
    forced : bool
        True when ``--force`` overrode a gate that did not pass.
    recorded_by : str
        Operating-system user that ran the command.
    moved : bool
        Whether the alias moved (False for a refused attempt).
    gate_summary, gate_sha256 : str
        The gate's verdict in words, and the SHA-256 of the full ``gate.json`` artifact stored with the record.
    prev_digest, digest : str
        Hash chain (empty for records written before chaining).
    record_run_id : str or None
        The MLflow run holding the record.
    record_deleted : bool
        True when the record's run was deleted in the store (it is still shown).
    """

    time_utc: str
    model_name: str
    version: str
    previous_champion: str | None
    approver: str
    reason: str
    gate: str
    forced: bool
    recorded_by: str
    moved: bool = True
    gate_summary: str = ""
    gate_sha256: str = ""
    prev_digest: str = ""
    digest: str = ""
    record_run_id: str | None = None
    record_deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PromotionOutcome:
    """What ``promote`` did: the record it appended and the gate's full result."""

    record: Promotion
    gate: GateResult

    @property
    def moved(self) -> bool:
        return self.record.moved


def _digest(fields: dict[str, Any]) -> str:
    canonical = json.dumps({k: "" if fields.get(k) is None else str(fields.get(k)) for k in _CHAINED_FIELDS},
                           sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def current_champion(model_name: str) -> str | None:
    """Version string holding the champion alias, or None."""
    client = mlflow.MlflowClient()
    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def promote(model_name: str, version: str, *, approver: str, reason: str, force: bool = False,
            gate_config: GateConfig | None = None, on: Path | None = None) -> PromotionOutcome:
    """Run the promotion gate, record the attempt, and move ``champion`` to ``version`` if allowed.

    The alias moves when the gate passes (including trivially: no champion yet, or already champion), or when
    ``force`` overrides a gate that did not pass; the record then says ``forced``. The record is written before
    the alias moves, so a crash in between leaves an extra record, never a silent move.

    Parameters
    ----------
    model_name, version : str
        The registered model and the version to promote (must exist).
    approver, reason : str
        Who approves and why (both required, non-blank, at most 5000 characters).
    force : bool, default False
        Move the alias even if the gate does not pass (the override is recorded).
    gate_config : GateConfig, optional
        Criteria and margins; default ``training/configs/gate.yaml``.
    on : Path, optional
        Cohort Parquet file to compare the two versions on (needed when they were trained on different data).

    Returns
    -------
    PromotionOutcome
        The appended record (``moved`` tells whether the alias moved) and the gate result.

    Raises
    ------
    PromotionRefused
        For a blank or over-long approver or reason, or a version that does not exist (nothing recorded).
    training.data.runs.AuditError
        When ``on`` is not a usable cohort file (nothing recorded).
    """
    from training.registry.gate import evaluate_gate, load_gate_config

    approver, reason = approver.strip(), reason.strip()
    if not approver:
        raise PromotionRefused("--approver must name a person")
    if not reason:
        raise PromotionRefused("--reason must say why")
    for name, text in (("--approver", approver), ("--reason", reason)):
        if len(text) > MAX_TEXT:
            raise PromotionRefused(f"{name} is {len(text)} characters long; at most {MAX_TEXT} are recorded")
    client = mlflow.MlflowClient()
    try:
        client.get_model_version(model_name, version)
    except mlflow.exceptions.MlflowException:
        raise PromotionRefused(f"{model_name} has no version {version}") from None
    previous = current_champion(model_name)
    gate = evaluate_gate(model_name, str(version), previous, gate_config or load_gate_config(), on=on)
    moved = gate.passed or force
    gate_json = json.dumps(gate.to_dict(), indent=2, allow_nan=False, default=str)
    fields: dict[str, Any] = {
        "time_utc": datetime.now(UTC).isoformat(timespec="milliseconds"), "model_name": model_name,
        "version": str(version), "previous_champion": previous, "approver": approver, "reason": reason,
        "gate": gate.status, "forced": force and not gate.passed, "moved": moved,
        "recorded_by": getpass.getuser(), "gate_summary": gate.summary()[:MAX_TEXT],
        "gate_sha256": hashlib.sha256(gate_json.encode("utf-8")).hexdigest(),
    }
    record_id = _append(fields, gate_json)
    if moved:
        client.set_registered_model_alias(model_name, CHAMPION, str(version))
        client.set_model_version_tag(model_name, str(version), "promoted_at", fields["time_utc"])
    stored = next(r for r in promotion_history() if r.record_run_id == record_id)
    return PromotionOutcome(record=stored, gate=gate)


def _append(fields: dict[str, Any], gate_json: str) -> str:
    """Write one record run (params are immutable once logged) chained to the last record; return its run id."""
    history = promotion_history()
    chained = [r for r in history if r.digest]
    fields = {**fields, "prev_digest": chained[-1].digest if chained else ""}
    fields["digest"] = _digest(fields)
    experiment_id = ensure_experiment(HISTORY_EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment_id,
                          run_name=f"promote-{fields['model_name']}-v{fields['version']}") as run:
        mlflow.log_params({k: "" if v is None else str(v) for k, v in fields.items()})
        mlflow.set_tag("alsstrat.kind", "promotion")
        mlflow.log_text(gate_json, "gate.json")
        return str(run.info.run_id)


def promotion_history(model_name: str | None = None) -> list[Promotion]:
    """Every recorded promotion attempt, oldest first (optionally of one model), deleted record runs included."""
    experiment = mlflow.get_experiment_by_name(HISTORY_EXPERIMENT)
    if experiment is None:
        return []
    runs = mlflow.MlflowClient().search_runs([experiment.experiment_id], run_view_type=ViewType.ALL,
                                              order_by=["attributes.start_time ASC"], max_results=50_000)
    out = []
    for run in sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        p = run.data.params
        if "version" not in p or (model_name is not None and p.get("model_name") != model_name):
            continue
        out.append(Promotion(time_utc=p.get("time_utc", ""), model_name=p.get("model_name", ""), version=p["version"],
                             previous_champion=p.get("previous_champion") or None, approver=p.get("approver", ""),
                             reason=p.get("reason", ""), gate=p.get("gate", "not run"),
                             forced=p.get("forced") == "True", recorded_by=p.get("recorded_by", ""),
                             moved=p.get("moved", "True") == "True", gate_summary=p.get("gate_summary", ""),
                             gate_sha256=p.get("gate_sha256", ""), prev_digest=p.get("prev_digest", ""),
                             digest=p.get("digest", ""), record_run_id=run.info.run_id,
                             record_deleted=run.info.lifecycle_stage == "deleted"))
    return out


@dataclass(frozen=True)
class ChainCheck:
    """Result of :func:`verify_history`: ``intact`` unless a problem was found (each problem in words)."""

    intact: bool
    n_records: int
    n_unchained: int
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_history(records: list[Promotion] | None = None) -> ChainCheck:
    """Check the hash chain of the whole promotion history (all models, oldest first).

    A record whose fields no longer match its digest was altered; a record whose ``prev_digest`` is not the
    digest of the record before it means a record was removed, inserted or re-ordered; a deleted record run is
    reported too. Records written before chaining (no digest) are counted as unchained and skipped.
    """
    records = promotion_history() if records is None else records
    problems: list[str] = []
    last = ""
    unchained = 0
    for r in records:
        where = f"record {r.record_run_id} ({r.time_utc}, {r.model_name} v{r.version})"
        if r.record_deleted:
            problems.append(f"{where} was deleted in the tracking store")
        if not r.digest:
            unchained += 1
            continue
        if _digest(asdict(r)) != r.digest:
            problems.append(f"{where} does not match its digest: its fields were altered")
        if r.prev_digest != last:
            problems.append(f"{where} does not follow the record before it: a record was removed, inserted or "
                            "re-ordered (or two promotions ran at the same moment)")
        last = r.digest
    return ChainCheck(intact=not problems, n_records=len(records), n_unchained=unchained, problems=tuple(problems))
