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

The history is the only way the champion moves. :func:`champion_state` compares the registry alias with the last
recorded move; ``promote``, ``runs history``, ``score`` and ``serve`` refuse a mismatch (e.g. the alias set in the
MLflow UI) through :func:`check_champion` until ``promote(..., adopt=True)`` records who accepted it and why.

Promotions are serialised by a lock held in the tracking backend itself (so it works on a shared server as well
as on a local SQLite store): a registered model named :data:`LOCK_NAME` exists while a promotion runs, and
creating a registered model that exists fails atomically. A second promotion waits for the first, then reads the
new champion and is gated against it.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.entities import ViewType

from features.project import CHAMPION_ALIAS
from training.data.runs import HISTORY_EXPERIMENT
from training.tracking import ensure_experiment, stdout_to_stderr

if TYPE_CHECKING:
    from training.registry.gate import GateConfig, GateResult

CHAMPION = CHAMPION_ALIAS
__all__ = ["CHAMPION", "HISTORY_EXPERIMENT", "LOCK_NAME", "ChainCheck", "ChampionDrift", "ChampionState", "Promotion",
           "PromotionOutcome", "PromotionRefused", "champion_model_name", "champion_state", "check_champion",
           "current_champion", "promote", "promotion_history", "promotion_lock", "verify_history"]
MAX_TEXT = 5000
"""Longest approver or reason accepted (characters); MLflow params hold at most 6000."""
_CHAINED_FIELDS = ("time_utc", "model_name", "version", "previous_champion", "approver", "reason", "gate", "forced",
                   "moved", "recorded_by", "gate_summary", "gate_sha256", "prev_digest")


LOCK_NAME = "alsstrat-promotion-lock"
"""Registered model that exists while a promotion runs (the backend's unique names make it a mutex)."""
LOCK_STALE_SECONDS = 15 * 60
"""A lock older than this is taken to be left by a crashed promotion and is broken (a gate takes minutes at most)."""
LOCK_WAIT_SECONDS = 10 * 60
"""How long a promotion waits for another one to finish before it gives up."""
_LOCK_HOLDER, _LOCK_SINCE = "alsstrat.lock_holder", "alsstrat.lock_since_epoch"


class PromotionRefused(Exception):
    """The promotion was not carried out before any record was written (bad version, blank approver or reason)."""


class ChampionDrift(PromotionRefused):
    """The champion alias does not point where the promotion history last moved it."""


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


@dataclass(frozen=True)
class ChampionState:
    """Where the champion alias points (``alias``) and where the history last moved it (``recorded``)."""

    model_name: str
    alias: str | None
    recorded: str | None

    @property
    def drifted(self) -> bool:
        return self.alias != self.recorded

    def message(self) -> str:
        """The mismatch in words, naming both versions and the commands that record the change."""
        if not self.drifted:
            return f"the {CHAMPION} alias of {self.model_name} is version {self.alias or 'none'}, as recorded"
        alias = (f"points at version {self.alias}" if self.alias is not None else "is not set")
        recorded = (f"last recorded version {self.recorded} as champion" if self.recorded is not None
                    else "records no champion")
        fixes = [f"`alsstrat promote {v} --adopt --approver NAME --reason TEXT`"
                 for v in (self.alias, self.recorded) if v is not None]
        return (f"champion drift: the {CHAMPION} alias of {self.model_name} {alias}, but the promotion history "
                f"{recorded} (the alias was moved outside `alsstrat promote`, e.g. in the MLflow UI). Record the "
                f"change with {' or '.join(fixes)}: --adopt records who accepted which version and why.")


def champion_state(model_name: str, records: list[Promotion] | None = None) -> ChampionState:
    """Compare the champion alias of ``model_name`` with the last move recorded in the promotion history."""
    records = promotion_history(model_name) if records is None else records
    moves = [r for r in records if r.model_name == model_name and r.moved]
    return ChampionState(model_name=model_name, alias=current_champion(model_name),
                         recorded=moves[-1].version if moves else None)


def check_champion(model_name: str) -> ChampionState:
    """The champion state of ``model_name``; raise :class:`ChampionDrift` when the alias drifted from the history.

    The one check that ``promote``, ``runs history``, ``score`` and ``serve`` share.
    """
    state = champion_state(model_name)
    if state.drifted:
        raise ChampionDrift(state.message())
    return state


def champion_model_name(uri: str) -> str | None:
    """The registered model's name when ``uri`` names its champion alias (``models:/NAME@champion``), else None."""
    prefix, suffix = "models:/", f"@{CHAMPION}"
    if uri.startswith(prefix) and uri.endswith(suffix) and len(uri) > len(prefix) + len(suffix):
        return uri[len(prefix):-len(suffix)]
    return None


@contextlib.contextmanager
def promotion_lock(*, wait_seconds: float = LOCK_WAIT_SECONDS, poll_seconds: float = 0.2) -> Iterator[None]:
    """Hold the store-wide promotion lock: one promotion at a time, whatever the tracking backend.

    Raises
    ------
    PromotionRefused
        When another promotion holds the lock for longer than ``wait_seconds``.
    """
    client = mlflow.MlflowClient()
    holder = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            client.create_registered_model(
                LOCK_NAME, tags={_LOCK_HOLDER: holder, _LOCK_SINCE: f"{time.time():.3f}"},
                description="Held by `alsstrat promote` while it gates and records a promotion; not a model.")
            break
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        other = _lock_tags(client)
        if other is not None and time.time() - float(other.get(_LOCK_SINCE) or 0) > LOCK_STALE_SECONDS:
            # Left by a crashed promotion; two breakers at once are harmless (the second delete finds nothing).
            with contextlib.suppress(mlflow.exceptions.MlflowException):
                client.delete_registered_model(LOCK_NAME)
            continue
        if time.monotonic() > deadline:
            who = (other or {}).get(_LOCK_HOLDER, "unknown")
            raise PromotionRefused(f"another promotion ({who}) has held the promotion lock for more than "
                                   f"{wait_seconds:.0f} s; try again when it has finished")
        time.sleep(poll_seconds)
    try:
        yield
    finally:
        if (_lock_tags(client) or {}).get(_LOCK_HOLDER) == holder:
            client.delete_registered_model(LOCK_NAME)


def _lock_tags(client: mlflow.MlflowClient) -> dict[str, str] | None:
    try:
        return dict(client.get_registered_model(LOCK_NAME).tags)
    except mlflow.exceptions.MlflowException:
        return None


def promote(model_name: str, version: str, *, approver: str, reason: str, force: bool = False,
            gate_config: GateConfig | None = None, on: Path | None = None, adopt: bool = False) -> PromotionOutcome:
    """Run the promotion gate, record the attempt, and move ``champion`` to ``version`` if allowed.

    The alias moves when the gate passes (including trivially: no champion yet, or already champion), or when
    ``force`` overrides a gate that did not pass; the record then says ``forced``. The record is written before
    the alias moves, so a crash in between leaves a record the alias does not follow: champion drift, refused
    until adopted.

    The whole attempt (drift check, gate against the champion of that moment, record, alias move) runs under
    :func:`promotion_lock`, so two promotions at once are gated one after the other, each against the champion
    the other left.

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
    adopt : bool, default False
        Accept a champion alias that drifted from the history: ``version`` must be the version the alias points
        at (adopted as it is) or the last recorded champion (the alias is moved back). No gate runs; the record
        says ``gate adopted`` with the approver and reason. Refused when there is no drift.

    Returns
    -------
    PromotionOutcome
        The appended record (``moved`` tells whether the alias moved) and the gate result.

    Raises
    ------
    PromotionRefused
        For a blank or over-long approver or reason, or a version that does not exist (nothing recorded).
    ChampionDrift
        When the alias drifted from the history and ``adopt`` is not given (nothing recorded).
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
    with promotion_lock():
        return _promote_locked(model_name, str(version), approver=approver, reason=reason, force=force,
                               gate_config=gate_config or load_gate_config(), on=on, adopt=adopt,
                               evaluate=evaluate_gate)


def _promote_locked(model_name: str, version: str, *, approver: str, reason: str, force: bool,
                    gate_config: GateConfig, on: Path | None, adopt: bool, evaluate: Any) -> PromotionOutcome:
    from training.registry.gate import GateResult

    client = mlflow.MlflowClient()
    state = champion_state(model_name)
    if adopt:
        if not state.drifted:
            raise PromotionRefused(f"nothing to adopt: the {CHAMPION} alias of {model_name} is version "
                                   f"{state.alias or 'none'}, as the promotion history records")
        if version not in (state.alias, state.recorded):
            raise PromotionRefused(f"--adopt accepts version {state.alias} (where the alias points) or version "
                                   f"{state.recorded} (the last recorded champion), not {version}")
        previous = state.recorded
        what = ("kept where it was moved outside the history" if version == state.alias
                else "moved back to the last recorded champion")
        gate = GateResult(status="adopted", candidate=version, champion=previous,
                          reason=f"alias drift adopted: the alias pointed at version {state.alias or 'none'}, "
                                 f"the history at version {state.recorded or 'none'}; version {version} {what}")
    elif state.drifted:
        raise ChampionDrift(state.message())
    else:
        previous = state.alias
        gate = evaluate(model_name, version, previous, gate_config, on=on)
    moved = gate.passed or force or adopt
    gate_json = json.dumps(gate.to_dict(), indent=2, allow_nan=False, default=str)
    fields: dict[str, Any] = {
        "time_utc": datetime.now(UTC).isoformat(timespec="milliseconds"), "model_name": model_name,
        "version": str(version), "previous_champion": previous, "approver": approver, "reason": reason,
        "gate": gate.status, "forced": force and not gate.passed and not adopt, "moved": moved,
        "recorded_by": getpass.getuser(), "gate_summary": gate.summary()[:MAX_TEXT],
        "gate_sha256": hashlib.sha256(gate_json.encode("utf-8")).hexdigest(),
    }
    record_id = _append(fields, gate_json)
    if moved:
        client.set_registered_model_alias(model_name, CHAMPION, str(version))
        client.set_model_version_tag(model_name, str(version), "promoted_at", fields["time_utc"])
        _describe_promotion(client, model_name, version, fields)
    stored = next(r for r in promotion_history() if r.record_run_id == record_id)
    return PromotionOutcome(record=stored, gate=gate)


def _append(fields: dict[str, Any], gate_json: str) -> str:
    """Write one record run (params are immutable once logged) chained to the last record; return its run id."""
    history = promotion_history()
    chained = [r for r in history if r.digest]
    fields = {**fields, "prev_digest": chained[-1].digest if chained else ""}
    fields["digest"] = _digest(fields)
    experiment_id = ensure_experiment(HISTORY_EXPERIMENT)
    # stdout carries the command's own output (--json): MLflow's "View run" lines for a server go to stderr.
    with stdout_to_stderr(), mlflow.start_run(experiment_id=experiment_id,
                          run_name=f"promote-{fields['model_name']}-v{fields['version']}") as run:
        mlflow.log_params({k: "" if v is None else str(v) for k, v in fields.items()})
        mlflow.set_tag("alsstrat.kind", "promotion")
        mlflow.log_text(gate_json, "gate.json")
        return str(run.info.run_id)


def _describe_promotion(client: mlflow.MlflowClient, model_name: str, version: str, fields: dict[str, Any]) -> None:
    """Append the promotion (when, who, why, gate) to the version's description, shown in the MLflow UI."""
    current = client.get_model_version(model_name, version).description or ""
    how = " (FORCED over the gate)" if fields["forced"] else ""
    line = (f"Champion since {fields['time_utc']}{how}: approved by {fields['approver']}; reason: "
            f"{fields['reason']}; gate {fields['gate']}; previous champion {fields['previous_champion'] or 'none'}.")
    client.update_model_version(model_name, version, description=f"{current}\n\n{line}".strip())


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
