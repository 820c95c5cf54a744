"""MLflow glue for training: experiments, run provenance tags, the model signature generated from the spec.

Where the store is lives in :mod:`features.project` (shared with serving).
"""

from __future__ import annotations

import logging
import subprocess
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
