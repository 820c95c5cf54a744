"""A real server over real HTTP: ``alsstrat serve`` (which runs ``bentoml serve``), its refusals, and Schemathesis.

Servers listen on a free ephemeral port on 127.0.0.1, each in its own process group, and are always stopped
(also when a test fails). Request loops are bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import GOOD, TOKEN, Live, ServedModel, free_port, running, store_env

pytestmark = [pytest.mark.slow, pytest.mark.mlflow, pytest.mark.http]

AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[2]
SCHEMATHESIS_EXAMPLES = 25  # per operation and generation mode: enough to find a 5xx, small enough for ~30 s
# What the `alsstrat` console script runs (``python -m training.cli.app`` would import the CLI module twice).
ALSSTRAT = [sys.executable, "-c", "from training.cli.app import app; app()"]


def _env(model: ServedModel, **extra: str) -> dict[str, str]:
    """A clean environment for a server process: the test store, no token or model settings unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALSSTRAT_", "MLFLOW_", "BENTOML_"))}
    return {**env, **store_env(model), **extra}


# ------------------------------------------------------------------------------------------------ refusals
def test_alsstrat_serve_refuses_to_start_without_tokens(served_model: ServedModel) -> None:
    done = subprocess.run([*ALSSTRAT, "serve", "--port", str(free_port())],
                          env=_env(served_model), capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing to start: no API tokens configured" in done.stderr
    assert "ALSSTRAT_API_TOKENS" in done.stderr


def test_bentoml_serve_itself_refuses_to_start_without_tokens(served_model: ServedModel, tmp_path: Path) -> None:
    """Not only the CLI: the service's deployment hook stops ``bentoml serve`` before any worker starts."""
    port = free_port()
    cmd = [sys.executable, "-m", "bentoml", "serve", "serving.service:ALSStratifier", "--host", "127.0.0.1",
           "--port", str(port), "--working-dir", str(REPO)]
    with running(cmd, _env(served_model), tmp_path / "refused.log") as proc:
        code = proc.wait(timeout=120)
    output = (tmp_path / "refused.log").read_text()
    assert code != 0, output
    assert "ServiceConfigError: no API tokens configured" in output


def test_insecure_demo_is_announced_loudly(served_model: ServedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from training.cli.app import app

    for key, value in _env(served_model).items():
        monkeypatch.setenv(key, value)
    for key in ("ALSSTRAT_API_TOKENS", "ALSSTRAT_API_TOKEN_FILE", "ALSSTRAT_MODEL_URI"):
        monkeypatch.delenv(key, raising=False)
    # A model URI that does not resolve stops the command right after the announcement, before any server starts.
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--insecure-demo", "--model-uri",
                                      "models:/als-stratifier@no-such-alias"])
    assert "INSECURE DEMO MODE" in result.stderr
    assert result.exit_code == 2
    assert "cannot resolve models:/als-stratifier@no-such-alias" in result.stderr


def test_short_tokens_are_refused(served_model: ServedModel) -> None:
    done = subprocess.run([*ALSSTRAT, "serve", "--port", str(free_port())],
                          env=_env(served_model, ALSSTRAT_API_TOKENS="short"), capture_output=True, text=True,
                          timeout=120, cwd=REPO, check=False)
    assert done.returncode == 2
    assert "shorter than 16 characters" in done.stderr


# ------------------------------------------------------------------------------------------- live server
def test_serve_reports_the_version_it_serves(live: Live, served_model: ServedModel) -> None:
    ready = f"ready: {live.url} serves als-stratifier version {served_model.version}"
    deadline = time.monotonic() + 30  # the CLI polls /readyz too, a moment after (or before) this test does
    while ready not in live.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    log = live.log.read_text()
    assert f"serving als-stratifier version {served_model.version} (run {served_model.run_id}) from " \
           f"models:/als-stratifier@champion on {live.url}" in log
    assert ready in log
    loaded = f"serving als-stratifier version {served_model.version} (run {served_model.run_id}), loaded in"
    assert loaded in log, "each worker logs the version it loaded"
    meta = httpx.get(f"{live.url}/model", headers=AUTH, timeout=10).json()
    assert (meta["version"], meta["run_id"]) == (served_model.version, served_model.run_id)
    assert meta["model_uri"] == f"models:/als-stratifier/{served_model.version}", "the alias is pinned at start"


def test_score_over_real_http(live: Live, served_model: ServedModel) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        one = client.post("/score", json={"candidate": {**GOOD, "candidate_id": "http-1"}}, headers=AUTH)
        batch = client.post("/score_batch", json={"candidates": [GOOD, {**GOOD, "fvc_pct_pred": "low"}, GOOD]},
                            headers=AUTH)
        refused = client.post("/score", json={"candidate": GOOD})
        nan = client.post("/score", content=json.dumps({"candidate": GOOD}).replace("82.0", "NaN"),
                          headers={**AUTH, "content-type": "application/json"})
        invalid = client.post("/score_batch", content=b'{"candidates": [', headers={**AUTH,
                                                                                  "content-type": "application/json"})
        metrics = client.get("/metrics")
    assert one.status_code == 200, one.text
    assert one.json()["candidate_id"] == "http-1"
    assert one.json()["model"]["version"] == served_model.version
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [("error" in r) for r in results] == [False, True, False]
    assert results[1]["error"]["field"] == "fvc_pct_pred"
    assert results[0]["slope"] == results[2]["slope"]
    assert refused.status_code == 401
    assert (nan.status_code, nan.json()["error"]["field"]) == (400, "candidate.fvc_pct_pred")
    assert (invalid.status_code, invalid.json()["error"]["field"]) == (400, "body")
    assert metrics.status_code == 200
    assert "bentoml_service_request_total" in metrics.text
    audit = [json.loads(line) for line in live.audit.read_text().splitlines()]
    assert len(audit) >= 3
    assert TOKEN not in live.audit.read_text()


def _pool(n: int) -> list[dict[str, Any]]:
    """``n`` plausible candidates that differ in age, duration and ALSFRS-R (so their predictions differ)."""
    return [{**GOOD, "candidate_id": f"c{i}", "age_at_onset_years": 40.0 + i % 30,
             "months_since_onset": 12.0 + i % 20, "diagnostic_delay_months": 10.0,
             "alsfrs_r_total": float(30 + i % 15)} for i in range(n)]


def test_trial_plan_over_real_http(live: Live, served_model: ServedModel) -> None:
    pool = _pool(40)
    design = {"endpoint": "slope", "effect": 0.3, "keep": [1.0, 0.5]}
    with httpx.Client(base_url=live.url, timeout=60) as client:
        ok = client.post("/trial/plan", json={"candidates": pool, "design": design}, headers=AUTH)
        bad_row = client.post("/trial/plan", json={"candidates": [*pool[:3], {**GOOD, "age_at_onset_years": 5.0},
                                                                  *pool[3:]]}, headers=AUTH)
        bad_design = client.post("/trial/plan", json={"candidates": pool, "design": {"hazzard_ratio": 0.7}},
                                 headers=AUTH)
        refused = client.post("/trial/plan", json={"candidates": pool})
        too_many = client.post("/trial/plan", json={"candidates": [GOOD] * 10_001}, headers=AUTH)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert set(body) == {"plan", "candidates", "report_html", "model"}
    assert body["model"]["version"] == served_model.version
    designs = body["plan"]["designs"]
    assert [(d["keep_fraction"], d["adjustment"]) for d in designs] == [
        (1.0, "none"), (1.0, "prognostic"), (0.5, "none"), (0.5, "prognostic")]
    for d in designs:
        assert {"n_per_arm", "screened_per_enrolled", "outcome_mean", "outcome_sd"} <= set(d)
        assert ("rho" in d) == (d["adjustment"] == "prognostic")
    assert body["plan"]["sources"]["rho_source"].startswith(f"held-out patients of run {served_model.run_id}")
    assert [c["candidate_id"] for c in body["candidates"]] == [c["candidate_id"] for c in pool]
    assert sum(c["enrolled"]["0.5"] for c in body["candidates"]) == 20
    assert all(c["enrolled"]["1.0"] and c["stratum"] in (1, 2, 3) for c in body["candidates"])
    assert body["report_html"].startswith("<!doctype html>")
    assert not any(tag in body["report_html"] for tag in ("<script", "<link", "src=", "@import"))
    assert bad_row.status_code == 400
    assert bad_row.json()["error"]["field"] == "candidates[3].age_at_onset_years"
    assert (bad_design.status_code, bad_design.json()["error"]["field"]) == (400, "design.hazzard_ratio")
    assert refused.status_code == 401
    assert (too_many.status_code, too_many.json()["error"]["field"]) == (413, "candidates")
    audit = [json.loads(line) for line in live.audit.read_text().splitlines()]
    assert any(a["endpoint"] == "trial_plan" and a["status"] == 200 and a["rows_scored"] == 40 for a in audit)


def test_schemathesis_finds_no_server_error(live: Live) -> None:
    """Property-based requests from the live OpenAPI document, valid and invalid ones: never a 5xx."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{live.url}/docs.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    labels = {op.label for op in operations}
    assert {"POST /score", "POST /score_batch"} <= labels, labels
    seen: dict[str, set[int]] = {}
    session = requests.Session()

    def check(operation: Any, mode: GenerationMode) -> None:
        @settings(max_examples=SCHEMATHESIS_EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def no_server_error(case: Any) -> None:
            response = case.call(base_url=live.url, session=session, headers=AUTH, timeout=30)
            seen.setdefault(operation.label, set()).add(response.status_code)
            assert response.status_code < 500, (
                f"{operation.label} -> {response.status_code}: {response.text[:500]}\nbody: {str(case.body)[:500]}")

        no_server_error()

    try:
        for operation in operations:
            check(operation, GenerationMode.POSITIVE)
            if operation.method.upper() == "POST":  # a GET without parameters has no invalid form to generate
                check(operation, GenerationMode.NEGATIVE)
    finally:
        session.close()
    assert seen["POST /score"] >= {200, 400}, seen
    assert 400 in seen["POST /score_batch"], seen


def test_serve_refuses_a_model_trained_with_another_feature_spec(served_model: ServedModel,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked before the server starts: a worker refusing the model would leave a server that is never ready."""
    from typer.testing import CliRunner

    import features.spec
    from training.cli.app import app

    for key, value in _env(served_model, ALSSTRAT_API_TOKENS=TOKEN).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ALSSTRAT_MODEL_URI", raising=False)
    monkeypatch.setattr(features.spec, "spec_hash", lambda: "0123456789abcdef")
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port())])
    assert result.exit_code == 2, result.output
    assert "was trained with feature spec" in result.stderr
    assert "this code has spec 0123456789abcdef" in result.stderr


def test_serve_exits_naming_the_cause_when_the_model_artifact_is_corrupt(served_model: ServedModel,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    """Loaded and probed before "serving" is printed: a truncated artifact used to crash every worker in a loop."""
    import mlflow
    from typer.testing import CliRunner

    from training.cli.app import app

    for key, value in _env(served_model, ALSSTRAT_API_TOKENS=TOKEN).items():
        monkeypatch.setenv(key, value)
    mlflow.set_tracking_uri(served_model.tracking_uri)
    copy = Path(mlflow.artifacts.download_artifacts(f"models:/{served_model.name}/{served_model.version}",
                                                    dst_path=str(tmp_path)))
    artifacts = sorted(copy.rglob("*.joblib"))
    assert artifacts, sorted(p.name for p in copy.rglob("*"))
    for artifact in artifacts:
        artifact.write_bytes(artifact.read_bytes()[:100])
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--model-uri", str(copy)])
    assert result.exit_code == 2, result.output
    assert f"cannot serve {copy}: the model does not load and score here" in result.stderr
    assert "serving " not in result.stdout, "nothing is reported as served"
