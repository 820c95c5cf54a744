"""Test helpers for code that writes to an MLflow store: a private project home, and the CLI's JSON output."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_ENV_KEYS = ("ALSSTRAT_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")


@contextmanager
def private_home(path: Path) -> Iterator[Path]:
    """Make ``path`` the project home (its own ``mlruns/mlflow.db``) so tests never touch the developer's store.

    ``MLFLOW_TRACKING_URI`` is cleared (it would override the home) and the environment is restored afterwards.
    """
    saved = {k: os.environ.get(k) for k in _ENV_KEYS}
    os.environ["ALSSTRAT_HOME"] = str(path)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield path
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def last_json(output: str) -> dict[str, Any]:
    """The JSON object a ``--json`` command prints last on stdout."""
    start = output.rfind("\n{")
    parsed: dict[str, Any] = json.loads(output[start + 1 if start >= 0 else 0:])
    return parsed
