"""``make bento``: freeze a registered model into the BentoML model store and build a self-contained Bento.

The registry URI (default: the ``champion`` alias) is resolved to one version, that version's MLflow model is
copied into the BentoML model store with ``bentoml.mlflow.import_model`` (reused when that exact version and run
are already there), and ``bentofile.yaml`` is built with that model tag pinned. The Bento records the tag as the
Bento argument ``alsstrat_model``, so the served Bento loads its own copy and needs no MLflow registry at run
time. The registry version is in the Bento's version string (visible in ``bentoml list``), in its labels and in
``GET /model``. Nothing is downloaded: the Bento's Python requirements are the repository's ``requirements.lock``.

Run ``python -m serving.bento [--model-uri URI] [--json]``; the store is ``$BENTOML_HOME`` (default ``~/bentoml``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from features.project import CHAMPION_URI, repository_root
from serving.loader import BENTO_MODEL_ARG, BENTO_MODEL_NAME, BENTO_PREFIX

REPO = repository_root()
BENTOFILE = REPO / "bentofile.yaml"
DEFAULT_MODEL_URI = CHAMPION_URI


class BentoBuildError(ValueError):
    """The model URI does not name a registered version, or the bentofile is unusable."""


def check_run_spec(run_id: str | None, uri: str) -> str | None:
    """The feature-spec hash the run was trained with; refuse it when it differs from this code's.

    Reads the run's ``spec_hash`` tag, so nothing is downloaded. Serving code and a Bento carry this code's
    ``features`` package: a model trained with another spec would misread its inputs.

    Raises
    ------
    features.model.pyfunc.IncompatibleModelError
        Naming both hashes and what to do.
    """
    import mlflow

    from features.model.pyfunc import IncompatibleModelError
    from features.spec import spec_hash

    if not run_id:
        return None
    trained = mlflow.MlflowClient().get_run(run_id).data.tags.get("spec_hash")
    if trained is not None and trained != spec_hash():
        raise IncompatibleModelError(
            f"{uri} was trained with feature spec {trained}, but this code has spec {spec_hash()}: retrain the "
            "model with this version, or serve it with the code version it was trained with")
    return trained


@dataclass(frozen=True)
class BuiltBento:
    """What ``build_bento`` produced: the Bento, the frozen model and where it came from."""

    bento_tag: str
    bento_path: str
    model_tag: str
    model_reused: bool
    registry_name: str
    registry_version: str
    run_id: str | None
    source_uri: str


def freeze_model(model_uri: str = DEFAULT_MODEL_URI) -> tuple[Any, bool]:
    """Copy the registered version ``model_uri`` names into the BentoML model store.

    Parameters
    ----------
    model_uri : str
        ``models:/<name>@<alias>`` or ``models:/<name>/<version>``.

    Returns
    -------
    (bentoml.Model, bool)
        The BentoML model (tag ``als-stratifier:v<version>-<run id prefix>``, metadata ``registry_name``,
        ``registry_version``, ``run_id``, ``source_uri``, ``tracking_uri``, ``spec_hash``) and whether an
        identical copy was already in the store and is reused.

    Raises
    ------
    BentoBuildError
        ``model_uri`` is not a registry URI, the registry has no such alias or version, or the model was trained
        with another feature spec than the code the Bento would carry.
    """
    import bentoml
    from mlflow.exceptions import MlflowException

    from features.model.pyfunc import IncompatibleModelError, resolve_version
    from features.project import configure_tracking

    tracking = configure_tracking()
    try:
        name, version, run_id = resolve_version(model_uri)
    except MlflowException as exc:
        raise BentoBuildError(f"cannot resolve {model_uri} in the model registry at {tracking}: "
                              f"{exc.message}") from None
    if name is None or version is None:
        raise BentoBuildError(f"{model_uri} is not a registry URI (models:/<name>@<alias> or models:/<name>/<N>): "
                              f"a Bento freezes a registered version so that its version can be reported")
    pinned = f"models:/{name}/{version}"
    try:
        trained_spec = check_run_spec(run_id, pinned)
    except IncompatibleModelError as exc:
        raise BentoBuildError(str(exc)) from None
    metadata = {"registry_name": name, "registry_version": version, "run_id": run_id or "", "source_uri": pinned,
                "requested_uri": model_uri, "tracking_uri": tracking, "spec_hash": trained_spec or ""}
    base = f"v{version}-{(run_id or 'norun')[:12]}"
    try:
        existing = bentoml.models.list(BENTO_MODEL_NAME)
    except bentoml.exceptions.NotFound:  # the store has no model of that name yet
        existing = []
    for model in existing:
        meta = model.info.metadata
        same = all(meta.get(k) == metadata[k] for k in ("registry_name", "registry_version", "run_id",
                                                          "tracking_uri"))
        if same and model.tag.version and model.tag.version.startswith(base):
            return model, True
    taken = {m.tag.version for m in existing}
    version_tag = base if base not in taken else f"{base}-{secrets.token_hex(3)}"
    import bentoml.mlflow

    model = bentoml.mlflow.import_model(f"{BENTO_MODEL_NAME}:{version_tag}", pinned, metadata=metadata,
                                       labels={"registry_version": version, "project": "alsstrat"})
    return model, False


def build_bento(model_uri: str = DEFAULT_MODEL_URI, *, bentofile: Path = BENTOFILE,
                build_ctx: Path = REPO) -> BuiltBento:
    """Freeze ``model_uri`` into the BentoML store and build ``bentofile`` with that model pinned.

    Parameters
    ----------
    model_uri : str
        Registry URI of the version to freeze (default: the champion alias).
    bentofile : Path
        The build description (service, included sources, Python requirements).
    build_ctx : Path
        Folder the bentofile's ``include`` patterns are relative to.

    Returns
    -------
    BuiltBento
    """
    import bentoml
    import yaml

    # The type bentoml.bentos.build expects for envs (it does not convert the bentofile's dicts itself); bentoml is
    # pinned by the lock, and the Bento tests build with it.
    from bentoml._internal.bento.build_config import BentoEnvSchema

    if not bentofile.is_file():
        raise BentoBuildError(f"bentofile not found: {bentofile}")
    spec = yaml.safe_load(bentofile.read_text()) or {}
    unknown = set(spec) - {"service", "name", "description", "labels", "include", "exclude", "python", "docker",
                           "envs", "models"}
    if unknown:
        raise BentoBuildError(f"{bentofile}: keys this builder does not pass on: {sorted(unknown)}")
    model, reused = freeze_model(model_uri)
    meta = model.info.metadata
    registry_version = str(meta["registry_version"])
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    labels = {**(spec.get("labels") or {}), "registry_model": str(meta["registry_name"]),
              "registry_version": registry_version, "run_id": str(meta.get("run_id") or ""),
              "model_tag": str(model.tag)}
    bento = bentoml.bentos.build(
        service=spec["service"], name=spec.get("name"), description=spec.get("description"), labels=labels,
        include=spec.get("include"), exclude=spec.get("exclude"), python=spec.get("python"),
        docker=spec.get("docker"), envs=[BentoEnvSchema(**env) for env in spec.get("envs") or []],
        # The exact tag, not the bentofile's "latest": the Bento must carry the version it reports.
        models=[str(model.tag)], args={BENTO_MODEL_ARG: str(model.tag)},
        version=f"v{registry_version}-{stamp}", build_ctx=str(build_ctx),
    )
    return BuiltBento(bento_tag=str(bento.tag), bento_path=str(bento.path), model_tag=str(model.tag),
                      model_reused=reused, registry_name=str(meta["registry_name"]),
                      registry_version=registry_version, run_id=str(meta.get("run_id") or "") or None,
                      source_uri=str(meta["source_uri"]))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m serving.bento``: 0 built, 2 bad model URI or bentofile."""
    parser = argparse.ArgumentParser(prog="python -m serving.bento", description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default=DEFAULT_MODEL_URI, help="registry URI to freeze (default: champion)")
    parser.add_argument("--bentofile", type=Path, default=BENTOFILE)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    ns = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a build log, not a terminal UI
    try:
        built = build_bento(ns.model_uri, bentofile=ns.bentofile)
    except BentoBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if ns.json:
        print(json.dumps(asdict(built)))
        return 0
    how = "reused" if built.model_reused else "imported"
    print(f"built Bento {built.bento_tag}: {built.registry_name} version {built.registry_version} "
          f"(run {built.run_id}) frozen as BentoML model {built.model_tag} ({how})")
    print(f"serve it without a registry: ALSSTRAT_API_TOKENS=<token> bentoml serve {built.bento_tag}")
    print(f"model URI inside the Bento: {BENTO_PREFIX}{built.model_tag}; container: bentoml containerize "
          f"{built.bento_tag}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
