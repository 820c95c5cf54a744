"""``python -m serving.bento`` (``make bento``): a Bento with the champion frozen in it, served with no registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.servers import GOOD, TOKEN, ServedModel, free_port, running, store_env, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.mlflow, pytest.mark.http]

AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[2]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALSSTRAT_", "MLFLOW_", "BENTOML_"))}
    return {**env, **extra}


@pytest.fixture(scope="module")
def bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bentoml-home")


@pytest.fixture(scope="module")
def built(served_model: ServedModel, bentoml_home: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "serving.bento", "--json"],
                          env=_clean_env(**store_env(served_model), BENTOML_HOME=str(bentoml_home)),
                          capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_build_freezes_the_champion_and_records_its_version(built: dict[str, Any], served_model: ServedModel,
                                                            bentoml_home: Path) -> None:
    assert built["registry_name"] == "als-stratifier"
    assert built["registry_version"] == served_model.version
    assert built["run_id"] == served_model.run_id
    assert built["source_uri"] == f"models:/als-stratifier/{served_model.version}"
    assert built["bento_tag"].startswith(f"als_stratifier:v{served_model.version}-")
    assert built["model_tag"] == f"als-stratifier:v{served_model.version}-{served_model.run_id[:12]}"
    listed = subprocess.run([sys.executable, "-m", "bentoml", "list", "-o", "json"],
                            env=_clean_env(BENTOML_HOME=str(bentoml_home)), capture_output=True, text=True,
                            timeout=120, check=True)
    assert built["bento_tag"] in {b["tag"] for b in json.loads(listed.stdout)}, "bentoml list shows the version"
    info = (Path(built["bento_path"]) / "bento.yaml").read_text()
    assert f"registry_version: '{served_model.version}'" in info
    assert f"alsstrat_model: {built['model_tag']}" in info


def test_bento_installs_the_locked_versions_without_resolving(built: dict[str, Any]) -> None:
    requirements = (Path(built["bento_path"]) / "env" / "python" / "requirements.txt").read_text()
    lock = (REPO / "requirements.lock").read_text()
    pins = [line for line in lock.splitlines() if "==" in line and not line.startswith("#")]
    for package in ("mlflow==", "scikit-learn==", "xgboost==", "pandas==", "bentoml=="):
        pin = next(line for line in pins if line.startswith(package))
        assert pin in requirements, f"{pin} not carried into the Bento"
    sources = {p.relative_to(Path(built["bento_path"]) / "src").parts[0]
               for p in (Path(built["bento_path"]) / "src").rglob("*.py")}
    assert sources == {"features", "serving", "trialdesign"}, "serving needs features, trialdesign, never training"
    bento_yaml = yaml.safe_load((Path(built["bento_path"]) / "bento.yaml").read_text())
    assert {"name": "OMP_WAIT_POLICY", "value": "PASSIVE"}.items() <= next(
        e for e in bento_yaml["envs"] if e["name"] == "OMP_WAIT_POLICY").items()


@pytest.fixture(scope="module")
def bento_server(built: dict[str, Any], bentoml_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[str, Path]]:
    """The built Bento served from a folder with no MLflow store at all."""
    empty_home = tmp_path_factory.mktemp("no-registry")
    port = free_port()
    env = _clean_env(BENTOML_HOME=str(bentoml_home), ALSSTRAT_HOME=str(empty_home), ALSSTRAT_API_TOKENS=TOKEN,
                     ALSSTRAT_AUDIT_LOG=str(empty_home / "audit" / "audit.jsonl"))
    cmd = [sys.executable, "-m", "bentoml", "serve", built["bento_tag"], "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    log = empty_home / "server.log"
    with running(cmd, env, log, cwd=empty_home) as proc:
        try:
            wait_ready(proc, url)
        except AssertionError:
            print(log.read_text()[-5000:])
            raise
        yield url, empty_home


def test_built_bento_serves_its_frozen_model_without_a_registry(bento_server: tuple[str, Path],
                                                                built: dict[str, Any],
                                                                served_model: ServedModel) -> None:
    url, empty_home = bento_server
    meta = httpx.get(f"{url}/model", headers=AUTH, timeout=30).json()
    assert meta["model_uri"] == f"bento:{built['model_tag']}"
    assert (meta["version"], meta["run_id"]) == (served_model.version, served_model.run_id)
    scored = httpx.post(f"{url}/score", json={"candidate": GOOD}, headers=AUTH, timeout=30)
    assert scored.status_code == 200, scored.text
    assert scored.json()["model"] == {"name": "als-stratifier", "version": served_model.version,
                                      "run_id": served_model.run_id}
    assert not (empty_home / "mlruns").exists(), "the Bento never opened an MLflow store"


def test_built_bento_carries_the_page_and_names_the_project(bento_server: tuple[str, Path],
                                                            built: dict[str, Any]) -> None:
    """The page's static files and pyproject.toml are packed (bentofile include), and served from the Bento."""
    url, _ = bento_server
    src = Path(built["bento_path"]) / "src"
    assert (src / "serving" / "web" / "static" / "app.js").is_file()
    assert (src / "pyproject.toml").is_file()
    page = httpx.get(f"{url}/", timeout=30)
    assert page.status_code == 200
    assert "<title>ALS stratification" in page.text
    assert httpx.get(f"{url}/web/app.js", timeout=30).status_code == 200
    info = httpx.get(f"{url}/docs.json", timeout=30).json()["info"]
    project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    assert (info["title"], info["version"]) == (project["name"], project["version"])


@pytest.mark.parametrize(("uri", "message"), [
    ("models:/als-stratifier@nope", "cannot resolve models:/als-stratifier@nope"),
    ("runs:/0123/model", "is not a registry URI"),
])
def test_build_refuses_what_is_not_a_registered_version(served_model: ServedModel, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], uri: str,
                                                        message: str) -> None:
    from serving.bento import main

    for key, value in store_env(served_model).items():
        monkeypatch.setenv(key, value)
    assert main(["--model-uri", uri]) == 2  # refused before anything touches the BentoML store
    assert message in capsys.readouterr().err


def test_build_refuses_a_model_the_packed_code_cannot_run(served_model: ServedModel,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import features.spec
    from serving.bento import main

    for key, value in store_env(served_model).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(features.spec, "spec_hash", lambda: "0123456789abcdef")
    assert main([]) == 2
    assert "was trained with feature spec" in capsys.readouterr().err
