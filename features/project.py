"""Project-wide names and places: the registered model name, the champion alias and URI, the project home, the
state directories and where the MLflow store is. One home, so that no other module spells them out.

Local default store: ``sqlite:///<home>/mlruns/mlflow.db`` with artifacts under ``<home>/mlruns/artifacts``, where
``<home>`` is ``$ALSSTRAT_HOME`` or the repository root. ``MLFLOW_TRACKING_URI`` overrides it (e.g. a shared
``mlflow server``). Nothing happens at import: callers call :func:`configure_tracking`.
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_NAME = "als-stratifier"
"""The one registered model name (MLflow registry and BentoML store)."""

CHAMPION_ALIAS = "champion"
"""The registry alias of the model that serving and scoring use by default."""

CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}"
"""Default model URI of ``alsstrat score``, ``alsstrat serve`` and the Bento build."""


def repository_root() -> Path:
    """The checkout this code runs from: the folder above the ``features`` package."""
    return Path(__file__).resolve().parents[1]


def project_home() -> Path:
    """``$ALSSTRAT_HOME`` or the repository root (when it holds ``pyproject.toml``), else the working directory."""
    env = os.environ.get("ALSSTRAT_HOME")
    if env:
        return Path(env).resolve()
    here = repository_root()
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
        _create_sqlite_store_once(uri, Path(uri.removeprefix("sqlite:///")))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _create_sqlite_store_once(uri: str, db: Path) -> None:
    """Create a fresh SQLite store under an exclusive file lock, so that concurrent first users wait.

    MLflow creates its tables by running schema migrations on first use; two processes doing that at the same
    moment on a fresh file crash (``table _alembic_tmp_tags already exists``). Whoever takes the lock first
    creates the tables; the others then find a complete store. The lock is taken even when the file exists (it
    exists, half-built, while the first process migrates); that costs microseconds.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    import mlflow

    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks; concurrent first use stays unprotected there
        return
    with open(db.with_name(db.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (db.is_file() and db.stat().st_size > 0):
                # Both stores' first queries run the migrations (tracking and registry share the file).
                client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
                client.search_experiments(max_results=1)
                client.search_registered_models(max_results=1)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
