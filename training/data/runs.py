"""What auditors read back from the tracking store: training runs, registered versions, and each run's data.

A run's facts are its tags (data hash, source, patient count, git commit), params (the flattened config), metrics
and artifacts (``config.yaml``, ``environment.json``, ``counts.json``, ``tables/*.csv``). A run's *data* can be
rebuilt from its logged config when the data are reproducible (the simulator's settings, or an input path that
still exists); the rebuilt cohort is only used when its content hash equals the logged one, so an auditor never
compares against data that merely look alike. Re-splitting it with the logged split settings gives back the exact
held-out patients, because the split is a deterministic function of the cohort table and the split seed.

Nothing here writes to the store.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from features.model.bundle import StratifierModel
    from training.config import TrainConfig
    from training.data.load import TrainingData
    from training.data.splits import Split

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

HISTORY_EXPERIMENT = "alsstrat-promotions"
REPRODUCTION_EXPERIMENT = "alsstrat-reproductions"
RECORD_EXPERIMENTS = frozenset({HISTORY_EXPERIMENT, REPRODUCTION_EXPERIMENT})
"""Experiments that hold audit records rather than training runs."""
PARENT_TAG = "mlflow.parentRunId"
KEY_METRICS = ("test_survival_cindex", "test_slope_rmse", "test_slope_interval_coverage_80")


class AuditError(Exception):
    """A run, version or file the auditor named cannot be used; the message says which and why (exit 2)."""


def utc(ms: int | None) -> str:
    """ISO-8601 UTC time (seconds) of an MLflow millisecond timestamp."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------------------------------------------
# Registered versions
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionFacts:
    """One registered model version: which run produced it, its aliases now, and when it was registered."""

    model_name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    created_utc: str

    def to_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "version": self.version, "run_id": self.run_id,
                "aliases": list(self.aliases), "created_utc": self.created_utc}


def _version_facts(mv: Any, aliases: dict[str, Any] | None = None) -> VersionFacts:
    # search_model_versions leaves ``aliases`` empty in MLflow 3, so callers pass the registered model's alias map.
    named = set(getattr(mv, "aliases", []) or [])
    named |= {alias for alias, version in (aliases or {}).items() if str(version) == str(mv.version)}
    return VersionFacts(model_name=str(mv.name), version=str(mv.version), run_id=mv.run_id,
                        aliases=tuple(sorted(named)), created_utc=utc(mv.creation_timestamp))


def get_version(model_name: str, version: str) -> VersionFacts:
    """A registered version; :class:`AuditError` naming the model and version when it does not exist."""
    import mlflow

    try:
        mv = mlflow.MlflowClient().get_model_version(model_name, str(version))
    except mlflow.exceptions.MlflowException:
        raise AuditError(f"{model_name} has no version {version}") from None
    return _version_facts(mv)


def versions_by_run(model_name: str | None = None) -> dict[str, list[VersionFacts]]:
    """Registered versions grouped by the run that logged them (every model, or one)."""
    import mlflow

    client = mlflow.MlflowClient()
    query = f"name='{model_name}'" if model_name else None
    aliases = {str(m.name): dict(m.aliases or {}) for m in client.search_registered_models(max_results=1000)}
    out: dict[str, list[VersionFacts]] = {}
    for mv in client.search_model_versions(query, max_results=10_000):
        facts = _version_facts(mv, aliases.get(str(mv.name)))
        if facts.run_id:
            out.setdefault(facts.run_id, []).append(facts)
    for versions in out.values():
        versions.sort(key=lambda v: int(v.version) if v.version.isdigit() else 0)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunFacts:
    """A training run as logged: identity, provenance tags, params, metrics; artifacts are read on demand."""

    run_id: str
    experiment: str
    run_name: str
    start_ms: int
    status: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    versions: tuple[VersionFacts, ...] = ()

    @property
    def start_utc(self) -> str:
        return utc(self.start_ms)

    @property
    def data_hash(self) -> str:
        return self.tags.get("data_hash", "")

    @property
    def source(self) -> str:
        return self.tags.get("source", "")

    @property
    def n_patients(self) -> int | None:
        value = self.tags.get("n_patients")
        return int(value) if value and value.isdigit() else None

    @property
    def git_commit(self) -> str:
        return self.tags.get("git_commit", "unknown")

    @property
    def git_dirty(self) -> str:
        return self.tags.get("git_dirty", "unknown")

    def artifact_text(self, path: str) -> str | None:
        """Text of one run artifact, or None when the run has no such artifact."""
        import mlflow

        try:
            return str(mlflow.artifacts.load_text(f"runs:/{self.run_id}/{path}"))
        except (mlflow.exceptions.MlflowException, OSError):
            return None

    @cached_property
    def config(self) -> dict[str, Any] | None:
        """The whole validated training config (``config.yaml`` artifact), or None for a run without it."""
        import yaml

        text = self.artifact_text("config.yaml")
        loaded = yaml.safe_load(text) if text else None
        return loaded if isinstance(loaded, dict) else None

    @cached_property
    def environment(self) -> dict[str, str]:
        """Package versions the run was trained with (``environment.json``), empty when not logged."""
        text = self.artifact_text("environment.json")
        return {str(k): str(v) for k, v in json.loads(text).items()} if text else {}

    @cached_property
    def counts(self) -> dict[str, int]:
        """Patient counts of the split (``counts.json``), empty when not logged."""
        text = self.artifact_text("counts.json")
        return {str(k): int(v) for k, v in json.loads(text).items()} if text else {}

    def table(self, name: str) -> pd.DataFrame | None:
        """An aggregate table the run logged under ``tables/<name>.csv``, or None."""
        import io

        text = self.artifact_text(f"tables/{name}.csv")
        return pd.read_csv(io.StringIO(text)) if text else None

    def train_config(self) -> TrainConfig:
        """The logged config validated by this code's :class:`~training.config.TrainConfig`.

        Raises
        ------
        AuditError
            When the run has no ``config.yaml`` or it no longer validates (the message names the key).
        """
        from pydantic import ValidationError

        from training.config import TrainConfig

        if self.config is None:
            raise AuditError(f"run {self.run_id} has no config.yaml artifact, so its training cannot be rebuilt")
        try:
            return TrainConfig.model_validate(self.config)
        except ValidationError as exc:
            raise AuditError(f"the config logged with run {self.run_id} does not validate with this code's "
                             f"training config: {exc}") from None

    def model_uri(self) -> str:
        """Registry URI of the run's first registered version, else the run's logged model."""
        if self.versions:
            v = self.versions[0]
            return f"models:/{v.model_name}/{v.version}"
        return f"runs:/{self.run_id}/model"


def _facts(run: Any, experiment: str, versions: list[VersionFacts]) -> RunFacts:
    return RunFacts(run_id=run.info.run_id, experiment=experiment, run_name=run.info.run_name or "",
                    start_ms=int(run.info.start_time or 0), status=str(run.info.status),
                    tags=dict(run.data.tags), params=dict(run.data.params), metrics=dict(run.data.metrics),
                    versions=tuple(versions))


def get_run(run_id: str) -> RunFacts:
    """A training run by id.

    Raises
    ------
    AuditError
        When no run has this id, or the run is not a training run (an Optuna trial, a promotion record...).
    """
    import mlflow

    client = mlflow.MlflowClient()
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise AuditError(f"no run {run_id!r} in the tracking store {mlflow.get_tracking_uri()}") from None
    parent = run.data.tags.get(PARENT_TAG)
    if parent:
        raise AuditError(f"run {run_id} is a tuning trial inside training run {parent}; name the training run")
    if "data_hash" not in run.data.tags or run.data.tags.get("alsstrat.kind") in ("promotion", "reproduction"):
        raise AuditError(f"run {run_id} is not a training run (it has no data_hash tag)")
    experiment = client.get_experiment(run.info.experiment_id).name
    versions = versions_by_run().get(run.info.run_id, [])
    return _facts(run, experiment, versions)


def training_runs(experiment: str | None = None) -> list[RunFacts]:
    """Every top-level training run (nested tuning trials and audit records skipped), oldest first.

    Parameters
    ----------
    experiment : str, optional
        Only this experiment; by default every experiment except the audit-record ones.

    Raises
    ------
    AuditError
        When ``experiment`` does not exist.
    """
    import mlflow

    client = mlflow.MlflowClient()
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = sorted(e.name for e in client.search_experiments())
            raise AuditError(f"no experiment named {experiment!r}; experiments in the store: {names}")
        experiments = [found]
    else:
        experiments = [e for e in client.search_experiments() if e.name not in RECORD_EXPERIMENTS]
    if not experiments:
        return []
    by_id = {str(e.experiment_id): str(e.name) for e in experiments}
    versions = versions_by_run()
    runs = client.search_runs(list(by_id), order_by=["attributes.start_time ASC"], max_results=50_000)
    return [_facts(r, by_id[r.info.experiment_id], versions.get(r.info.run_id, [])) for r in runs
            if PARENT_TAG not in r.data.tags and "data_hash" in r.data.tags
            and r.data.tags.get("alsstrat.kind") not in ("promotion", "reproduction")]


# ----------------------------------------------------------------------------------------------------------------
# A run's data, rebuilt
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class RunData:
    """A run's training cohort rebuilt from its logged config, or why that is not possible.

    ``split`` holds the run's train/test positions into ``table`` (re-split with the logged seed).
    """

    available: bool
    reason: str
    data: TrainingData | None = None
    split: Split | None = None

    @property
    def table(self) -> pd.DataFrame:
        assert self.data is not None
        return self.data.cohort.table.reset_index(drop=True)

    def rows(self, part: str) -> pd.DataFrame:
        """The ``"train"`` or ``"test"`` patients' cohort rows."""
        assert self.split is not None
        return self.table.iloc[getattr(self.split, part)].reset_index(drop=True)


def data_unavailable_reason(cfg: TrainConfig) -> str | None:
    """None when the config's data can be rebuilt here; otherwise why not."""
    if cfg.data.source == "synthetic" and cfg.data.input is None:
        return None
    if cfg.data.input is None:
        return f"the run's data config names no input for source {cfg.data.source!r}"
    if not Path(cfg.data.input).exists():
        return f"the run's input {cfg.data.input} no longer exists"
    return None


@dataclass
class DataCache:
    """Rebuilt cohorts keyed by their data config, so two runs on the same data load it once."""

    loaded: dict[str, TrainingData | str] = field(default_factory=dict)

    def load(self, cfg: TrainConfig) -> TrainingData | str:
        """The training data of a config, or why it cannot be loaded (a message)."""
        from features.errors import FeatureDataError
        from training.data.load import load_training_data

        key = cfg.data.model_dump_json()
        if key not in self.loaded:
            why = data_unavailable_reason(cfg)
            if why is not None:
                self.loaded[key] = why
            else:
                try:
                    self.loaded[key] = load_training_data(cfg.data)
                except (FeatureDataError, FileNotFoundError, ValueError, OSError) as exc:
                    self.loaded[key] = f"loading the run's data failed: {type(exc).__name__}: {exc}"
        return self.loaded[key]


def rebuild_run_data(run: RunFacts, cache: DataCache | None = None) -> RunData:
    """Rebuild a run's cohort from its logged config and check its content hash against the logged one."""
    from training.data.splits import holdout_split

    try:
        cfg = run.train_config()
    except AuditError as exc:
        return RunData(False, str(exc))
    loaded = (cache or DataCache()).load(cfg)
    if isinstance(loaded, str):
        return RunData(False, loaded)
    now = loaded.cohort.content_hash
    if now != run.data_hash:
        return RunData(False, f"the data rebuilt from the run's config has content hash {now[:12]}…, not the "
                              f"logged {run.data_hash[:12]}… (the data changed since training)")
    table = loaded.cohort.table.reset_index(drop=True)
    split = holdout_split(table, test_fraction=cfg.split.test_fraction, seed=cfg.split.seed)
    return RunData(True, "rebuilt from the logged config; content hash matches", data=loaded, split=split)


# ----------------------------------------------------------------------------------------------------------------
# One evaluation cohort for two models
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class EvalCohort:
    """Patients on which two models are scored side by side.

    Attributes
    ----------
    table : DataFrame
        Their cohort rows (baseline fields and outcomes), index reset.
    description : str
        Where they come from, in words (printed in reports and gate records).
    kind : str
        ``"held-out"`` (patients neither model trained on, from their shared training data) or ``"named"`` (a
        cohort file the auditor named).
    content_hash : str
        Content hash of the whole cohort the rows were taken from.
    alsfrs_scale : int
        ALSFRS scale maximum of that cohort (48 or 40).
    truth : DataFrame or None
        Planted truth (synthetic data rebuilt from a simulator config only).
    """

    table: pd.DataFrame
    description: str
    kind: str
    content_hash: str
    alsfrs_scale: int
    truth: pd.DataFrame | None = None

    @property
    def n(self) -> int:
        return len(self.table)

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "kind": self.kind, "content_hash": self.content_hash,
                "n_patients": self.n}


def _held_out(table: pd.DataFrame, runs: list[RunFacts]) -> tuple[np.ndarray, list[str]]:
    """Positions held out by every run in ``runs`` (all trained on ``table``), re-split with each run's settings."""
    from training.data.splits import holdout_split

    keep = np.ones(len(table), dtype=bool)
    notes = []
    for run in runs:
        cfg = run.train_config()
        split = holdout_split(table, test_fraction=cfg.split.test_fraction, seed=cfg.split.seed)
        mask = np.zeros(len(table), dtype=bool)
        mask[split.test] = True
        keep &= mask
        notes.append(f"run {run.run_id[:8]} held out {len(split.test)} (split seed {cfg.split.seed}, "
                     f"test fraction {cfg.split.test_fraction:g})")
    return np.flatnonzero(keep), notes


def common_cohort(run_a: RunFacts, run_b: RunFacts, on: Path | None = None,
                  cache: DataCache | None = None) -> EvalCohort | str:
    """The one cohort both runs' models can be scored on, or why there is none.

    * ``on`` given: that cohort file (``alsstrat cohort`` Parquet). If it is the very table a run trained on
      (same content hash), only the patients that run held out are kept, so no model is scored on its own
      training patients.
    * Same data hash: the patients held out by both runs (the same test patients when the split settings match).
    * Otherwise: no common cohort (the reason is returned).

    Raises
    ------
    AuditError
        When ``on`` is not a readable cohort file.
    """
    cache = cache or DataCache()
    if on is not None:
        from features.cohort.table import read_cohort
        from features.errors import FeatureDataError

        if not on.is_file():
            raise AuditError(f"--on {on}: no such cohort file (write one with `alsstrat cohort ... --out FILE`)")
        try:
            cohort = read_cohort(on)
        except FeatureDataError:
            raise
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the auditor's input problem
            raise AuditError(f"--on {on} is not a cohort Parquet file: {type(exc).__name__}: {exc}") from None
        table = cohort.table.reset_index(drop=True)
        digest = cohort.content_hash
        trained_on = [r for r in (run_a, run_b) if r.data_hash == digest]
        description = f"named cohort {on.name} ({cohort.source}, {len(table)} patients, hash {digest[:12]}…)"
        if trained_on:
            try:
                keep, notes = _held_out(table, list({r.run_id: r for r in trained_on}.values()))
            except AuditError as exc:
                raise AuditError(f"--on {on} is the training data of run {trained_on[0].run_id} but its split "
                                 f"cannot be rebuilt: {exc}") from None
            table = table.iloc[keep].reset_index(drop=True)
            description += ("; it is the training data of " + ", ".join(r.run_id[:8] for r in trained_on)
                            + ", so only patients held out from training are used (" + "; ".join(notes) + ")")
        return EvalCohort(table=table, description=description, kind="named", content_hash=digest,
                          alsfrs_scale=cohort.alsfrs_scale)
    if run_a.data_hash != run_b.data_hash:
        return (f"the runs were trained on different data (hash {run_a.data_hash[:12]}… vs {run_b.data_hash[:12]}…), "
                "so they share no held-out patients; name a common evaluation cohort with --on PATH")
    rebuilt = rebuild_run_data(run_a, cache)
    if not rebuilt.available and run_b.run_id != run_a.run_id:
        rebuilt = rebuild_run_data(run_b, cache)
    if not rebuilt.available:
        return f"the shared training data cannot be rebuilt: {rebuilt.reason}; name a cohort with --on PATH"
    assert rebuilt.data is not None
    table = rebuilt.table
    try:
        keep, notes = _held_out(table, [run_a, run_b] if run_a.run_id != run_b.run_id else [run_a])
    except AuditError as exc:
        return str(exc)
    description = (f"patients held out by both runs from their shared training data (hash {run_a.data_hash[:12]}…): "
                   + "; ".join(notes))
    return EvalCohort(table=table.iloc[keep].reset_index(drop=True), description=description, kind="held-out",
                      content_hash=run_a.data_hash, alsfrs_scale=rebuilt.data.cohort.alsfrs_scale,
                      truth=rebuilt.data.truth)


def load_model(run: RunFacts) -> StratifierModel:
    """The run's fitted stratifier (its registered version when there is one)."""
    from features.model.pyfunc import load_stratifier

    return load_stratifier(run.model_uri()).model


def check_scale(model: StratifierModel, cohort: EvalCohort, who: str) -> None:
    """Refuse to score a cohort on another ALSFRS scale than the model's (40-point legacy vs 48-point ALSFRS-R)."""
    scale = int(model.metadata.get("alsfrs_scale", 48))
    if scale != cohort.alsfrs_scale:
        raise AuditError(f"{who} was trained on ALSFRS scale 0-{scale} but the evaluation cohort is on 0-"
                         f"{cohort.alsfrs_scale}; scoring it would misread every ALSFRS value")
