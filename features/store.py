"""Where the MLflow store is, for every process that reads or writes models (training, CLI, serving).

Local default: ``sqlite:///<home>/mlruns/mlflow.db`` with artifacts under ``<home>/mlruns/artifacts``, where
``<home>`` is ``$ALSSTRAT_HOME`` or the repository root. ``MLFLOW_TRACKING_URI`` overrides it (e.g. a shared
``mlflow server``). Nothing happens at import: callers call :func:`configure_tracking`.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_home() -> Path:
    """``$ALSSTRAT_HOME`` or the repository root (the folder holding ``pyproject.toml`` above this package)."""
    env = os.environ.get("ALSSTRAT_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def default_tracking_uri() -> str:
    return f"sqlite:///{project_home() / 'mlruns' / 'mlflow.db'}"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def configure_tracking() -> str:
    """Point MLflow at ``$MLFLOW_TRACKING_URI`` or the local SQLite store (created on first use); return the URI."""
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri
