"""Deployment files agree with the code: the serving lock pins the main lock's versions; workers wait passively."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\],]+)==([^\s;]+)(?:\s*;\s*(.+))?$")


def _pins(path: Path) -> dict[tuple[str, str], str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            name, version, marker = match.groups()
            pins[(name.lower().replace("_", "-"), marker or "")] = version
    return pins


def test_serving_lock_is_a_subset_of_the_main_lock_at_the_same_versions() -> None:
    main = _pins(REPO / "requirements.lock")
    serving = _pins(REPO / "requirements-serving.lock")
    assert serving, "the serving lock pins nothing"
    differing = {k: (v, main.get(k)) for k, v in serving.items() if main.get(k) != v}
    assert differing == {}
    for tool in ("pytest", "mypy", "ruff", "schemathesis"):
        assert all(name != tool for name, _ in serving), f"{tool} is a development tool, not a serving dependency"
    for needed in ("bentoml", "mlflow", "xgboost", "scikit-learn", "orjson"):
        assert any(name == needed for name, _ in serving), f"{needed} missing from the serving lock"


def test_the_bento_installs_the_serving_lock() -> None:
    assert 'requirements_txt: "./requirements-serving.lock"' in (REPO / "bentofile.yaml").read_text()


def test_served_workers_wait_passively_however_they_are_started() -> None:
    import yaml

    from serving.config import WORKER_ENVIRONMENT, worker_environment

    bento_envs = {e["name"]: e["value"] for e in yaml.safe_load((REPO / "bentofile.yaml").read_text())["envs"]}
    assert bento_envs == WORKER_ENVIRONMENT == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert worker_environment({"PATH": "/bin"}) == {"PATH": "/bin", "OMP_WAIT_POLICY": "PASSIVE"}
    assert worker_environment({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE", "operator wins"
