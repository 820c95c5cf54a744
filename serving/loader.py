"""Where the served model comes from: the MLflow registry, or a model frozen into a built Bento.

``ALSSTRAT_MODEL_URI`` takes any URI :func:`features.model.pyfunc.load_stratifier` understands (``models:/name@alias``,
``models:/name/N``, ``runs:/...``) or ``bento:<name>:<version>``, a model imported into the BentoML model store by
``python -m serving.bento``. A Bento built that way records its model tag as the Bento argument
:data:`BENTO_MODEL_ARG`, so when ALSSTRAT_MODEL_URI is unset the Bento serves its own frozen copy and needs no
registry at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from features.project import MODEL_NAME

if TYPE_CHECKING:
    from features.model.pyfunc import LoadedModel

BENTO_PREFIX = "bento:"
BENTO_MODEL_NAME = MODEL_NAME
"""Name of the stratifier in the BentoML model store."""
BENTO_MODEL_ARG = "alsstrat_model"
"""Bento argument (``bentoml build --arg``) naming the BentoML model tag a built Bento serves."""


def bundled_model_uri(bento: Any = None) -> str | None:
    """``bento:<tag>`` when this process serves a Bento with a frozen model, else None.

    Parameters
    ----------
    bento : bentoml.Bento, optional
        The Bento being served (``Service.bento``), if any. Its single ``als-stratifier`` model is used when
        the Bento was built without the :data:`BENTO_MODEL_ARG` argument (a plain ``bentoml build``).
    """
    import bentoml

    tag = getattr(bentoml.use_arguments(), BENTO_MODEL_ARG, None)
    if not tag and bento is not None:
        packed = [str(m.tag) for m in bento.info.models if m.tag.name == BENTO_MODEL_NAME]
        tag = packed[0] if len(packed) == 1 else None
    return f"{BENTO_PREFIX}{tag}" if tag else None


def load_for_serving(uri: str) -> LoadedModel:
    """Load the stratifier named by ``uri`` and where it came from (registry name, version, run id).

    Parameters
    ----------
    uri : str
        ``bento:<name>:<version>`` for the BentoML model store (no MLflow registry needed), anything else is
        handed to :func:`features.model.pyfunc.load_stratifier`.

    Raises
    ------
    bentoml.exceptions.NotFound
        The BentoML model tag is not in the model store (or in the Bento being served).
    TypeError
        The model is not an alsstrat stratifier.
    """
    if not uri.startswith(BENTO_PREFIX):
        from features.model.pyfunc import load_stratifier

        return load_stratifier(uri)
    return _load_bento_model(uri.removeprefix(BENTO_PREFIX))


def _load_bento_model(tag: str) -> LoadedModel:
    import bentoml
    import mlflow

    from features.model.pyfunc import LoadedModel, StratifierPyfunc, check_spec_compatible

    bento_model = bentoml.models.get(tag)
    meta = bento_model.info.metadata
    version = str(meta["registry_version"]) if meta.get("registry_version") is not None else None
    config = {"model_version": version} if version else None
    # A local directory: MLflow reads it without a tracking or registry URI.
    pyfunc_model = mlflow.pyfunc.load_model(bento_model.path_of("mlflow_model"), model_config=config)
    wrapper = pyfunc_model.unwrap_python_model()
    if not isinstance(wrapper, StratifierPyfunc):
        raise TypeError(f"BentoML model {bento_model.tag} is not an alsstrat stratifier "
                        f"(found {type(wrapper).__name__})")
    model = wrapper.model
    check_spec_compatible(model, f"{BENTO_PREFIX}{bento_model.tag}")
    model.model_version = version if version is not None else f"run:{model.metadata.get('run_id', 'unknown')}"
    return LoadedModel(model=model, uri=f"{BENTO_PREFIX}{bento_model.tag}",
                       name=str(meta.get("registry_name") or model.metadata.get("model_name") or MODEL_NAME),
                       version=version, run_id=str(meta.get("run_id") or model.metadata.get("run_id")))


class IncompatibleModel(RuntimeError):
    """The loaded model cannot score with this code (typically: trained before a feature-spec change)."""


def probe_candidate() -> dict[str, object]:
    """A minimal valid candidate built from the spec: required fields only, each at a plausible in-range value."""
    from features import spec as S

    row: dict[str, object] = {}
    for f in S.BASELINE_FIELDS:
        if not f.required_for_scoring:
            continue
        if f.kind == "categorical":
            assert f.categories is not None
            row[f.name] = f.categories[0]
        elif f.kind == "boolean":
            row[f.name] = False
        else:
            lower = float(f.lower) if f.lower is not None else 0.0
            upper = float(f.upper) if f.upper is not None else lower + 1.0
            row[f.name] = (lower + upper) / 2
    return row


def check_model_scores(loaded: LoadedModel) -> None:
    """Score one probe candidate at start-up, so that a model the code cannot run fails the start, not every call.

    Raises
    ------
    IncompatibleModel
        With the model, its spec hash and the code's spec hash, and the underlying error.
    """
    from features import spec as S
    from features.candidates import validate_candidate

    values, error = validate_candidate(probe_candidate(), loaded.model.landmark.name)
    if error is not None or values is None:  # the spec and its own probe disagree: a bug in this module
        raise IncompatibleModel(f"probe candidate is invalid: {error}")
    values.pop("candidate_id", None)
    try:
        results = loaded.model.predict_records([values])
    except Exception as exc:  # noqa: BLE001 - any failure here means the model cannot serve
        trained = loaded.model.metadata.get("spec_hash")
        raise IncompatibleModel(
            f"{loaded.uri} (version {loaded.version}) cannot score with this code: {type(exc).__name__}: {exc}. "
            f"Feature spec of the model: {trained}, of the code: {S.spec_hash()}; retrain the model or serve it "
            f"with the code it was trained with.") from exc
    if len(results) != 1:
        raise IncompatibleModel(f"{loaded.uri} returned {len(results)} results for one candidate")
