"""MLflow glue for training: experiments, run provenance tags, the model signature generated from the spec.

Where the store is lives in :mod:`features.project` (shared with serving).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

from features import spec as S
from features.project import configure_tracking, default_tracking_uri, project_home, repository_root

__all__ = ["configure_tracking", "default_tracking_uri", "project_home"]

KEY_METRICS = (("test_slope_rmse", "slope RMSE (points/month)"), ("test_slope_mae", "slope MAE (points/month)"),
               ("test_slope_interval_coverage_80", "80 % interval coverage"),
               ("test_survival_cindex", "survival Harrell C-index"))
"""Test metrics written into a registered version's description (those the model has; others are skipped)."""
DATASET_DIGEST_CHARS = 36
"""MLflow's dataset digest column holds 36 characters (VARCHAR(36) on PostgreSQL): the hash is cut there."""

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

TRACKED_PACKAGES = ("alsstrat", "mlflow", "bentoml", "xgboost", "scikit-learn", "scikit-survival", "pandas", "numpy",
                    "scipy", "optuna", "pyarrow", "pandera", "pydantic")
# The model's runtime requirements, pinned to what is installed (logged explicitly: inferring them costs seconds).
MODEL_REQUIREMENTS = ("mlflow", "xgboost", "scikit-learn", "scikit-survival", "pandas", "numpy", "scipy", "joblib",
                      "pyarrow", "pandera", "pydantic")


def artifact_root(uri: str) -> str | None:
    """Artifact location for new experiments: ``<db folder>/artifacts`` for SQLite stores; server default else."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
    return None


def ensure_experiment(name: str) -> str:
    """Id of the experiment called ``name``, creating it (with the local artifact root) if needed."""
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    root = artifact_root(mlflow.get_tracking_uri())
    location = f"{root}/{name}" if root else None
    return str(mlflow.create_experiment(name, artifact_location=location))


def git_state() -> dict[str, str]:
    """Commit and dirty flag of the working tree this code runs from ('unknown' outside git)."""
    home = repository_root()
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=home, capture_output=True, text=True, check=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=home,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def model_requirements() -> list[str]:
    versions = package_versions()
    reqs = []
    for name in MODEL_REQUIREMENTS:
        try:
            reqs.append(f"{name}=={versions.get(name) or metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


def _mlflow_type(f: S.FieldSpec, required: bool = True) -> str | AnyType:
    if not required and f.kind in ("boolean", "categorical"):
        # MLflow's enforcement cannot hold a missing value in a boolean column (a pandas "boolean" column with NA
        # fails with "cannot convert float NaN to bool"), nor in a string column that arrives all-missing as
        # float64 NaN or as a pandas category; "any" passes the column through, and the model reads it like the
        # candidate schema does (true/false or missing; a category level or missing; anything else is refused).
        return AnyType()
    return {"numeric": "double", "integer": "double", "categorical": "string", "text": "string",
            "boolean": "boolean", "id": "string"}[f.kind]


def input_signature_schema(landmark: S.Landmark | None = None) -> Schema:
    """MLflow input schema generated from the spec: the baseline fields usable at the model's landmark (default:
    every baseline field); required = required for scoring.

    Numbers are double (NaN = missing; integer-valued fields too, because MLflow refuses NaN in integer columns).
    Optional booleans and categories are declared ``any`` so that a real table with missing values passes MLflow's
    schema enforcement (see :func:`_mlflow_type`); required ones keep their type, as they are never missing.
    """
    fields = S.BASELINE_FIELDS if landmark is None else landmark.fields
    return Schema([ColSpec(_mlflow_type(f, f.required_for_scoring), f.name, required=f.required_for_scoring)
                   for f in fields])


def model_signature(output_example: Any, landmark: S.Landmark | None = None) -> ModelSignature:
    import warnings

    from mlflow.models import infer_signature

    with warnings.catch_warnings():
        # The hint concerns integer *inputs* with missing values; our integer outputs (labels) are never missing.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        inferred = infer_signature(model_output=output_example)
    return ModelSignature(inputs=input_signature_schema(landmark), outputs=inferred.outputs)


def input_example() -> dict[str, list[Any]]:
    """A made-up typical candidate (never a real patient: input examples are stored in plain text)."""
    row: dict[str, Any] = {
        "age_at_onset_years": 58.0, "sex": "male", "onset_site": "limb", "months_since_onset": 14.0,
        "diagnostic_delay_months": 10.0, "alsfrs_r_total": 39.0, "fvc_pct_pred": 86.0, "bmi": 24.5,
        "nfl_serum_pg_ml": 72.0, "lcn2_plasma_ng_ml": 95.0, "c9orf72": "negative", "el_escorial": "probable",
        "ftd": "no", "riluzole": True,
    }
    return {k: [v] for k, v in row.items()}


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """Flatten a nested config dict into MLflow param keys (``slope.params.max_depth``)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: value}


def is_local_store(uri: str) -> bool:
    return urlparse(uri).scheme in ("sqlite", "file", "")


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send stdout to stderr while MLflow runs end: against a tracking server MLflow writes "View run ..." lines to
    stdout, which would precede a command's ``--json`` output. Kept on stderr, the links stay visible."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def run_name(source: str, landmark: str, seed: int, simulator_seed: int | None = None) -> str:
    """A training run's name in the MLflow UI: source, landmark and split seed (``train-native-screening-seed42``);
    a simulated cohort also names its simulator seed (``train-synthetic-screening-sim11-seed42``)."""
    sim = f"-sim{simulator_seed}" if simulator_seed is not None else ""
    return f"train-{source}-{landmark}{sim}-seed{seed}"


def log_training_dataset(table: Any, *, content_hash: str, source: str, landmark: str, description: str,
                         path: str | None = None) -> None:
    """Log the training cohort as an MLflow dataset input of the active run (the UI's "Datasets" column).

    Its digest is the project's whole-table content hash (SHA-256), cut to the 36 characters MLflow stores; the
    full hash is the input's ``data_hash`` tag (and the run's). Only the schema and row count are stored, no cell.
    The dataset's source carries the description and, when a file or folder was read, its ``path``.
    """
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.data.pandas_dataset import from_pandas

    # An explicit source object: a plain path string is resolved by MLflow's registry of source types, which warns
    # that a local path "can be interpreted in multiple ways" (and pytest turns warnings into errors).
    tags = {"description": description, **({"path": str(Path(path).resolve())} if path else {})}
    origin: DatasetSource = CodeDatasetSource(tags=tags)

    with warnings.catch_warnings():
        # MLflow's schema inference hints that integer columns cannot hold missing values; the schema shown in
        # the UI is descriptive only (the model's own signature is generated from the spec).
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        dataset = from_pandas(table, source=origin, name=f"{source}-{landmark}-cohort",
                              digest=content_hash[:DATASET_DIGEST_CHARS])
        mlflow.log_input(dataset, context="training", tags={"data_hash": content_hash, "source": source,
                                                            "landmark": landmark})


def version_description(*, run_id: str, source: str, landmark: str, n_patients: int, content_hash: str,
                        metrics: dict[str, float]) -> str:
    """A registered version's description (the MLflow UI's model page): data, data hash and key test metrics."""
    import math

    shown = [f"{label} {metrics[key]:.3f}" for key, label in KEY_METRICS
             if key in metrics and math.isfinite(metrics[key])]
    return (f"Trained by run {run_id} on {source} data at the {landmark} landmark ({n_patients} patients; data "
            f"hash {content_hash}). Test metrics: {'; '.join(shown) or 'none recorded'}. Research use only.")
