"""MLflow pyfunc wrapper around :class:`features.model.bundle.StratifierModel`, and the loader used by serving and CLI.

The fitted bundle is stored as a joblib artifact; the wrapper only loads it and calls ``predict_frame``.
Importing this module imports mlflow, so only the code paths that log or load models import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import joblib
import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.model.bundle import StratifierModel

BUNDLE_ARTIFACT = "bundle"
_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


class StratifierPyfunc(PythonModel):
    """pyfunc flavour: ``predict`` takes a DataFrame of cohort baseline fields, returns one row per input row."""

    model: StratifierModel

    def load_context(self, context: Any) -> None:
        self.model = joblib.load(context.artifacts[BUNDLE_ARTIFACT])
        config = getattr(context, "model_config", None) or {}
        if "model_version" in config:
            self.model.model_version = str(config["model_version"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Predict for a DataFrame of baseline fields (a cohort table's baseline columns will do).

        The signature declares optional booleans and categories as ``any`` (MLflow's enforcement refuses a
        missing value in a boolean column), so their check happens here: a boolean field holds true, false or
        missing (None, NaN, pd.NA), nothing else; categories are checked against their levels by the bundle.
        """
        _check_booleans(model_input)
        return self.model.predict_frame(model_input)


def _check_booleans(frame: pd.DataFrame) -> None:
    """Refuse a boolean field holding anything but true/false/missing, naming the field, value and row (1-based).

    Raises
    ------
    ValueError
        ``riluzole must be true, false or missing, got 0.5 in row 2``.
    """
    import numpy as np

    from features import spec as S

    for f in S.BASELINE_FIELDS:
        if f.kind != "boolean" or f.name not in frame.columns:
            continue
        column = frame[f.name]
        if pd.api.types.is_bool_dtype(column.dtype):  # bool or nullable "boolean": nothing else can be in it
            continue
        for i, value in enumerate(column.to_numpy(dtype=object)):
            missing = value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
            if not missing and not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{f.name} must be true, false or missing, got {value!r} in row {i + 1}")


@dataclass(frozen=True)
class LoadedModel:
    """A loaded stratifier and where it came from."""

    model: StratifierModel
    uri: str
    name: str | None
    version: str | None
    run_id: str | None


def resolve_version(uri: str) -> tuple[str | None, str | None, str | None]:
    """(model name, registry version, run id) for ``models:/name@alias`` or ``models:/name/N``; Nones otherwise."""
    match = _REGISTRY_URI.match(uri)
    if not match:
        return None, None, None
    client = mlflow.MlflowClient()
    name = match["name"]
    if match["alias"]:
        mv = client.get_model_version_by_alias(name, match["alias"])
    else:
        mv = client.get_model_version(name, match["version"])
    return name, str(mv.version), mv.run_id


class IncompatibleModelError(RuntimeError):
    """The model was trained against a different feature spec than the installed code."""


def check_spec_compatible(model: StratifierModel, uri: str) -> None:
    """Refuse a model whose feature spec differs from this code's: its inputs would be misread, not just worse.

    Raises
    ------
    IncompatibleModelError
        Naming both spec hashes and what to do.
    """
    from features.spec import spec_hash

    trained = model.metadata.get("spec_hash")
    if trained is not None and trained != spec_hash():
        raise IncompatibleModelError(
            f"{uri} was trained with feature spec {trained}, but this code has spec {spec_hash()}: retrain the "
            "model with this version, or serve it with the code version it was trained with")


def load_stratifier(uri: str) -> LoadedModel:
    """Load a logged stratifier by URI and stamp it with its registry version (when the URI names one).

    Parameters
    ----------
    uri : str
        ``models:/als-stratifier@champion``, ``models:/als-stratifier/3``, ``runs:/<run>/model`` or a local path.
    """
    from features.project import configure_tracking

    configure_tracking()
    name, version, run_id = resolve_version(uri)
    config = {"model_version": version} if version else None
    pyfunc_model = mlflow.pyfunc.load_model(uri, model_config=config)
    wrapper = pyfunc_model.unwrap_python_model()
    if not isinstance(wrapper, StratifierPyfunc):
        raise TypeError(f"{uri} is not an alsstrat stratifier model (found {type(wrapper).__name__})")
    model = wrapper.model
    check_spec_compatible(model, uri)
    model.model_version = version if version is not None else f"run:{model.metadata.get('run_id', 'unknown')}"
    return LoadedModel(model=model, uri=uri, name=name, version=version,
                       run_id=run_id or model.metadata.get("run_id"))
