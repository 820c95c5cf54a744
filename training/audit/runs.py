"""Auditor functions behind ``alsstrat runs``: list runs, read the promotion history, reproduce a run, print a card.

Run comparison lives in :mod:`training.audit.compare` (and :mod:`training.reports.compare_html`), the promotion gate in
:mod:`training.registry.gate`. Everything here reads the tracking store; the only write is the optional reproduction
record (:func:`reproduce_run`), kept in its own experiment so it never mixes with training runs.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from training.data import runs as AD

if TYPE_CHECKING:
    from training.registry.promotion import Promotion

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

NOT_REPRODUCIBLE_METRICS = frozenset({"train_seconds"})
"""Metrics that measure the machine, not the model (wall-clock time): never compared."""


# ----------------------------------------------------------------------------------------------------------------
# runs list
# ----------------------------------------------------------------------------------------------------------------
def run_row(run: AD.RunFacts) -> dict[str, Any]:
    """One training run as a flat, JSON-ready row (the line of ``alsstrat runs list``)."""
    metrics = {k: (v if math.isfinite(v) else None) for k, v in run.metrics.items() if k in AD.KEY_METRICS}
    return {"start_utc": run.start_utc, "run_id": run.run_id, "experiment": run.experiment, "status": run.status,
            "data_hash": run.data_hash, "source": run.source, "n_patients": run.n_patients,
            "git_commit": run.git_commit, "git_dirty": run.git_dirty, "metrics": metrics,
            "versions": [{"model_name": v.model_name, "version": v.version, "aliases": list(v.aliases)}
                         for v in run.versions]}


def list_runs(experiment: str | None = None) -> list[dict[str, Any]]:
    """Every top-level training run, oldest first (see :func:`training.data.runs.training_runs`)."""
    return [run_row(r) for r in AD.training_runs(experiment)]


def format_run_line(row: dict[str, Any]) -> str:
    """``start  run id  data hash  source  n  commit  C=…  RMSE=…  cov80=…  v3 [champion]`` on one line."""
    m = row["metrics"]

    def f(key: str) -> str:
        v = m.get(key)
        return "n/a" if v is None else f"{v:.3f}"

    commit = row["git_commit"][:10] + ("+dirty" if row["git_dirty"] == "true" else "")
    versions = " ".join(f"v{v['version']}" + (f"[{','.join(v['aliases'])}]" if v["aliases"] else "")
                        for v in row["versions"]) or "-"
    n = row["n_patients"] if row["n_patients"] is not None else "?"
    return (f"{row['start_utc']:<20}  {row['run_id']:<32}  {row['data_hash'][:12]:<12}  {row['source']:<10}  "
            f"{n!s:>7}  {commit:<16}  {f('test_survival_cindex'):>6}  {f('test_slope_rmse'):>6}  "
            f"{f('test_slope_interval_coverage_80'):>6}  {versions}")


RUN_HEADER = (f"{'start (UTC)':<20}  {'run id':<32}  {'data hash':<12}  {'source':<10}  {'n':>7}  {'git commit':<16}  "
              f"{'C-idx':>6}  {'RMSE':>6}  {'cov80':>6}  versions [aliases]")


# ----------------------------------------------------------------------------------------------------------------
# runs history
# ----------------------------------------------------------------------------------------------------------------
def format_history_line(p: Promotion) -> str:
    """One promotion attempt on one line (time, version, previous champion, gate, forced, moved, who, why)."""
    flags = ("FORCED " if p.forced else "") + ("moved" if p.moved else "NOT moved (refused)")
    deleted = "  [RECORD DELETED IN STORE]" if p.record_deleted else ""
    return (f"{p.time_utc}  {p.model_name} v{p.version}  previous {p.previous_champion or '-'}  gate {p.gate}  "
            f"{flags}  approver {p.approver!r}  reason {p.reason!r}{deleted}")


# ----------------------------------------------------------------------------------------------------------------
# runs reproduce
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reproduction:
    """Result of retraining a run from its logged config on the same data.

    ``identical`` lists metrics reproduced bit for bit; ``differing`` the others with both values;
    ``only_logged``/``only_new`` metrics present on one side only (e.g. a metric that became undefined).
    """

    run_id: str
    data_hash: str
    identical: tuple[str, ...]
    differing: tuple[dict[str, Any], ...]
    only_logged: tuple[str, ...]
    only_new: tuple[str, ...]
    not_compared: tuple[str, ...]
    notes: tuple[str, ...]
    record_run_id: str | None = None

    @property
    def reproduced(self) -> bool:
        return not (self.differing or self.only_logged or self.only_new)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reproduced": self.reproduced}


def compare_metrics(logged: dict[str, float], new: dict[str, float]) -> tuple[list[str], list[dict[str, Any]],
                                                                              list[str], list[str]]:
    """Exact comparison of two metric dicts (NaN/absent on both sides counts as reproduced).

    Returns
    -------
    identical, differing, only_logged, only_new
        ``differing`` rows hold ``metric``, ``logged``, ``reproduced`` and ``difference`` (reproduced − logged).
    """
    keys_logged = {k for k, v in logged.items() if k not in NOT_REPRODUCIBLE_METRICS and math.isfinite(v)}
    keys_new = {k for k, v in new.items() if k not in NOT_REPRODUCIBLE_METRICS and math.isfinite(float(v))}
    identical, differing = [], []
    for key in sorted(keys_logged & keys_new):
        a, b = float(logged[key]), float(new[key])
        if a == b:
            identical.append(key)
        else:
            differing.append({"metric": key, "logged": a, "reproduced": b, "difference": b - a})
    return identical, differing, sorted(keys_logged - keys_new), sorted(keys_new - keys_logged)


def reproduce_run(run_id: str, *, record: bool = True, stage: Callable[[str], None] | None = None) -> Reproduction:
    """Retrain a run from its logged config on data whose content hash equals the logged one; compare every metric.

    Nothing is registered. With ``record`` (default), the check itself is logged as a run in the experiment
    ``alsstrat-reproductions`` (tags ``alsstrat.kind=reproduction``, ``reproduces_run_id``, ``reproduced``; the
    full result as ``reproduction.json``), so the audit trail shows when a run was re-checked and with what result.

    Raises
    ------
    training.data.runs.AuditError
        When the run is unknown, has no loadable config, its data cannot be rebuilt, or the rebuilt data's content
        hash differs from the logged one (the message gives both hashes).
    """
    from training.data.load import load_training_data
    from training.fit.train import fit_and_evaluate
    from training.tracking import git_state, package_versions

    say = stage or (lambda s: None)
    run = AD.get_run(run_id)
    cfg = run.train_config()
    why = AD.data_unavailable_reason(cfg)
    if why is not None:
        raise AD.AuditError(f"cannot reproduce run {run_id}: {why}")
    say("loading data")
    try:
        data = load_training_data(cfg.data)
    except (FileNotFoundError, OSError) as exc:
        raise AD.AuditError(f"cannot reproduce run {run_id}: loading its data failed: {exc}") from None
    now = data.cohort.content_hash
    if now != run.data_hash:
        raise AD.AuditError(f"refused: the data named by run {run_id}'s config ({data.description}) now has content "
                            f"hash {now}, but the run was trained on {run.data_hash}; a retrain on other data "
                            "would prove nothing")
    notes = []
    git = git_state()
    if git["git_commit"] != run.git_commit:
        notes.append(f"code differs: the run was trained at commit {run.git_commit}, this checkout is at "
                     f"{git['git_commit']}")
    if git["git_dirty"] == "true" or run.git_dirty == "true":
        notes.append("uncommitted changes were present (at training or now); differences may come from them")
    env_now = package_versions()
    changed = [f"{k} {v} -> {env_now.get(k)}" for k, v in run.environment.items() if env_now.get(k) != v]
    if changed:
        notes.append("package versions differ: " + ", ".join(changed))
    from features.spec import spec_hash

    if run.tags.get("spec_hash") not in (None, spec_hash()):
        notes.append(f"the feature spec changed since training ({run.tags['spec_hash']} -> {spec_hash()}): the "
                     "retrained model reads its inputs differently")
    if cfg.tuning.timeout_seconds is not None:
        notes.append("tuning is time-bounded (tuning.timeout_seconds): the number of trials, hence the result, may "
                     "depend on machine speed")
    say("retraining")
    fitted = fit_and_evaluate(cfg, data, stage=say)
    new = {k: float(v) for k, v in fitted.metrics.items()}
    identical, differing, only_logged, only_new = compare_metrics(run.metrics, new)
    not_compared = sorted(k for k in set(run.metrics) | set(new) if k in NOT_REPRODUCIBLE_METRICS)
    result = Reproduction(run_id=run_id, data_hash=now, identical=tuple(identical), differing=tuple(differing),
                          only_logged=tuple(only_logged), only_new=tuple(only_new), not_compared=tuple(not_compared),
                          notes=tuple(notes))
    if record:
        result = Reproduction(**{**asdict(result), "record_run_id": _record_reproduction(run, result, git)})
    return result


def _record_reproduction(run: AD.RunFacts, result: Reproduction, git: dict[str, str]) -> str:
    import mlflow

    from training.tracking import ensure_experiment, stdout_to_stderr

    experiment_id = ensure_experiment(AD.REPRODUCTION_EXPERIMENT)
    # stdout is the command's (--json); MLflow's "View run" line against a server goes to stderr instead.
    with stdout_to_stderr(), mlflow.start_run(experiment_id=experiment_id,
                                              run_name=f"reproduce-{run.run_id[:8]}") as rec:
        mlflow.set_tags({"alsstrat.kind": "reproduction", "reproduces_run_id": run.run_id,
                         "reproduced": str(result.reproduced).lower(), "data_hash": result.data_hash,
                         "n_identical": str(len(result.identical)), "n_differing": str(len(result.differing)),
                         "checked_utc": datetime.now(UTC).isoformat(timespec="seconds"), **git})
        mlflow.log_text(json.dumps(result.to_dict(), indent=2, default=str), "reproduction.json")
        return str(rec.info.run_id)


# ----------------------------------------------------------------------------------------------------------------
# runs card
# ----------------------------------------------------------------------------------------------------------------
def model_card(model_name: str, version: str, fmt: Literal["md", "html"] = "md") -> str:
    """The model card logged with the run that produced a registered version (Markdown or HTML).

    Raises
    ------
    training.data.runs.AuditError
        When the version does not exist or its run logged no card.
    """
    v = AD.get_version(model_name, version)
    if not v.run_id:
        raise AD.AuditError(f"{model_name} version {version} records no training run, so it has no model card")
    run = AD.RunFacts(run_id=v.run_id, experiment="", run_name="", start_ms=0, status="", tags={}, params={},
                      metrics={})
    name = "model_card.md" if fmt == "md" else "model_card.html"
    text = run.artifact_text(name)
    if text is None:
        raise AD.AuditError(f"run {v.run_id} of {model_name} version {version} logged no {name}")
    return text
