"""The HTTP contract of the service, in process: ``ALSStratifier.to_asgi()`` under Starlette's TestClient.

A real (tiny) model from a private MLflow store; the lifespan runs, so the service loads the champion exactly as
``bentoml serve`` would. Limits are set small here (5 rows per batch, 20 kB per body) to test the 413 paths.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from features import spec as S
from tests.servers import GOOD, TOKEN, ServedModel, store_env

pytestmark = [pytest.mark.slow, pytest.mark.mlflow]

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
MAX_BATCH = 5
MAX_BODY = 20_000
REQUIRED_ONLY = {k: GOOD[k] for k in S.REQUIRED_FOR_SCORING}


@pytest.fixture(scope="module")
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def client(served_model: ServedModel, audit_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One service instance for the module (its start-up loads the model: seconds, not milliseconds)."""
    with warnings.catch_warnings():
        # starlette 1.x warns once, on import, that it would prefer the httpx2 package for its test client; the
        # pinned environment has httpx, which works, and the warning says nothing about this code.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
        from starlette.testclient import TestClient

    from serving.service import ALSStratifier

    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**store_env(served_model), "ALSSTRAT_API_TOKENS": TOKEN,
                           "ALSSTRAT_AUDIT_LOG": str(audit_log), "ALSSTRAT_AUDIT_SALT": "serving-tests-salt",
                           "ALSSTRAT_MAX_BATCH": str(MAX_BATCH), "ALSSTRAT_MAX_BODY_BYTES": str(MAX_BODY),
                           # BentoML's /metrics reads Prometheus' multiprocess folder, which `bentoml serve`
                           # creates; in process we provide one.
                           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("prometheus"))}.items():
            mp.setenv(key, value)
        for key in ("ALSSTRAT_MODEL_URI", "ALSSTRAT_API_TOKEN_FILE", "ALSSTRAT_INSECURE_DEMO"):
            mp.delenv(key, raising=False)
        app: Any = ALSStratifier  # a bentoml Service at run time; the stubs type it as the class
        with TestClient(app.to_asgi()) as test_client:
            yield test_client


def _error(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"field", "message"}, body
    assert body["error"]["message"], body
    return dict(body["error"])


# ------------------------------------------------------------------------------------------------ good requests
def test_score_returns_every_field_of_the_response_shape(client: Any, served_model: ServedModel) -> None:
    response = client.post("/score", json={"candidate": GOOD}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"subtype", "slope", "survival", "explanation", "model"}

    subtype = body["subtype"]
    assert set(subtype) == {"label", "name", "uncertain", "probabilities"}
    assert isinstance(subtype["label"], int)
    assert isinstance(subtype["name"], str)
    assert subtype["name"]
    probabilities = subtype["probabilities"]
    ranked = sorted(probabilities.values(), reverse=True)
    assert subtype["uncertain"] is (len(ranked) > 1 and ranked[0] - ranked[1] < 0.2 + 1e-3)
    assert str(subtype["label"]) in probabilities
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-9)
    assert probabilities[str(subtype["label"])] == max(probabilities.values())

    slope = body["slope"]
    assert set(slope) == {"point", "point_kind", "p10", "p90", "unit"}
    assert slope["point_kind"] == "mean"  # the default configuration serves the conditional mean
    assert slope["p10"] <= slope["point"] <= slope["p90"]
    assert slope["unit"] == "ALSFRS-R points/month"

    survival = body["survival"]
    assert set(survival) == {"probability_at_months", "median_months", "risk_group", "risk_groups",
                             "risk_group_meaning", "time_origin"}
    assert survival["risk_groups"] == 5
    assert survival["risk_group_meaning"] == "1 = lowest risk, 5 = highest risk"
    assert survival["time_origin"] == "months from the scoring visit (day 0)"  # the session model: screening
    curve = [survival["probability_at_months"][t] for t in ("12", "24", "36")]
    assert set(survival["probability_at_months"]) == {"12", "24", "36"}
    assert all(0.0 <= p <= 1.0 for p in curve)
    assert curve[0] >= curve[1] >= curve[2], "survival must be non-increasing"
    assert survival["median_months"] > 0
    assert survival["risk_group"] in range(1, 11)

    explanation = body["explanation"]
    assert explanation
    assert all(set(e) == {"feature", "contribution"} for e in explanation)
    assert all(isinstance(e["feature"], str) and math.isfinite(e["contribution"]) for e in explanation)

    assert body["model"] == {"name": "als-stratifier", "version": served_model.version,
                             "run_id": served_model.run_id}
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_missing_optional_biomarkers_give_a_prediction_not_an_error(client: Any) -> None:
    absent = client.post("/score", json={"candidate": REQUIRED_ONLY}, headers=AUTH)
    explicit_null = client.post("/score", json={"candidate": {**REQUIRED_ONLY, "nfl_serum_pg_ml": None,
                                                              "lcn2_csf_ng_ml": None, "riluzole": None}},
                                headers=AUTH)
    assert absent.status_code == 200, absent.text
    assert explicit_null.status_code == 200, explicit_null.text
    assert absent.json()["slope"] == explicit_null.json()["slope"], "null and absent both mean 'not measured'"


def test_batch_gives_one_entry_per_row_in_order_with_row_errors(client: Any) -> None:
    rows = [
        {**GOOD, "candidate_id": "row-1"},
        {**GOOD, "alsfrs_r_total": 49.0, "candidate_id": "row-2"},
        "not an object",
        {**REQUIRED_ONLY, "candidate_id": "row-4"},
        {**GOOD, "nfl_csf_pg_ml": "1200"},
    ]
    response = client.post("/score_batch", json={"candidates": rows}, headers=AUTH)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(rows)
    assert results[0]["candidate_id"] == "row-1"
    assert "slope" in results[0]
    assert results[1] == {"candidate_id": "row-2", "error": {"field": "alsfrs_r_total",
                                                             "message": results[1]["error"]["message"]}}
    assert "[0, 48]" in results[1]["error"]["message"]
    assert results[2] == {"error": {"field": "candidate", "message": "each candidate must be a JSON object"}}
    assert results[3]["candidate_id"] == "row-4"
    assert "survival" in results[3]
    assert results[4]["error"]["field"] == "nfl_csf_pg_ml"
    single = client.post("/score", json={"candidate": GOOD}, headers=AUTH).json()
    assert results[0]["slope"] == pytest.approx(single["slope"]), "a batch row scores as the same single request"


# ---------------------------------------------------------------------------------------------- bad requests
def _candidate(**changes: Any) -> dict[str, Any]:
    row = {**GOOD, **changes}
    return {k: v for k, v in row.items() if v is not _DROP}


_DROP = object()
_RAW_GOOD = json.dumps(GOOD)

# (id, path, body, expected status, expected error field). A body given as str is sent verbatim (raw JSON).
BAD_INPUTS: list[tuple[str, str, Any, int, str]] = [
    ("unknown field", "/score", {"candidate": _candidate(nfl_serum=12.0)}, 400, "candidate.nfl_serum"),
    ("NaN literal", "/score", _RAW_GOOD.replace('"fvc_pct_pred": 82.0', '"fvc_pct_pred": NaN')
     .join(['{"candidate": ', "}"]), 400, "candidate.fvc_pct_pred"),
    ("Infinity literal", "/score", _RAW_GOOD.replace('"nfl_serum_pg_ml": 65.0', '"nfl_serum_pg_ml": Infinity')
     .join(['{"candidate": ', "}"]), 400, "candidate.nfl_serum_pg_ml"),
    ("-Infinity literal", "/score", _RAW_GOOD.replace('"months_since_onset": 14.0', '"months_since_onset": '
                                                      '-Infinity').join(['{"candidate": ', "}"]), 400,
     "candidate.months_since_onset"),
    ("number overflowing to inf", "/score", _RAW_GOOD.replace('"fvc_pct_pred": 82.0', '"fvc_pct_pred": 1e400')
     .join(['{"candidate": ', "}"]), 400, "candidate.fvc_pct_pred"),
    ("above range", "/score", {"candidate": _candidate(alsfrs_r_total=49.0)}, 400, "candidate.alsfrs_r_total"),
    ("below range", "/score", {"candidate": _candidate(age_at_onset_years=5.0)}, 400,
     "candidate.age_at_onset_years"),
    ("zero biomarker", "/score", {"candidate": _candidate(lcn2_plasma_ng_ml=0.0)}, 400,
     "candidate.lcn2_plasma_ng_ml"),
    ("unknown category", "/score", {"candidate": _candidate(onset_site="arm")}, 400, "candidate.onset_site"),
    ("number as string", "/score", {"candidate": _candidate(alsfrs_r_total="39")}, 400, "candidate.alsfrs_r_total"),
    ("bool for number", "/score", {"candidate": _candidate(fvc_pct_pred=True)}, 400, "candidate.fvc_pct_pred"),
    ("number for bool", "/score", {"candidate": _candidate(riluzole=1)}, 400, "candidate.riluzole"),
    ("number for category", "/score", {"candidate": _candidate(sex=1)}, 400, "candidate.sex"),
    ("null for required", "/score", {"candidate": _candidate(sex=None)}, 400, "candidate.sex"),
    ("missing required", "/score", {"candidate": _candidate(alsfrs_r_total=_DROP)}, 400, "candidate.alsfrs_r_total"),
    ("candidate_id too long", "/score", {"candidate": _candidate(candidate_id="x" * 129)}, 400,
     "candidate.candidate_id"),
    ("candidate not an object", "/score", {"candidate": [GOOD]}, 400, "candidate"),
    ("candidate missing", "/score", {"patient": GOOD}, 400, "candidate"),
    ("unknown top-level key", "/score", {"candidate": GOOD, "explain": False}, 400, "explain"),
    ("unknown top-level key in batch", "/score_batch", {"candidates": [GOOD], "model": "2"}, 400, "model"),
    ("body not an object", "/score", "[1, 2]", 400, "body"),
    ("invalid JSON", "/score", '{"candidate": {"sex": "female",', 400, "body"),
    ("empty body", "/score", "", 400, "candidate"),
    ("empty batch", "/score_batch", {"candidates": []}, 400, "candidates"),
    ("batch not a list", "/score_batch", {"candidates": GOOD}, 400, "candidates"),
    ("batch invalid JSON", "/score_batch", '{"candidates": [', 400, "body"),
    ("oversized batch", "/score_batch", {"candidates": [GOOD] * (MAX_BATCH + 1)}, 413, "candidates"),
    ("oversized body", "/score_batch", {"candidates": [{**GOOD, "candidate_id": "p" * 100}] * 80}, 413, "body"),
]


@pytest.mark.parametrize(("path", "body", "status", "field"), [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_naming_the_field(client: Any, path: str, body: Any, status: int, field: str) -> None:
    if isinstance(body, str):
        response = client.post(path, content=body.encode(), headers={**AUTH, **JSON})
    else:
        response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert _error(response)["field"] == field


def test_the_size_cases_are_over_their_limits() -> None:
    cases = {case[0]: case[2] for case in BAD_INPUTS}
    assert len(json.dumps(cases["oversized body"]).encode()) > MAX_BODY
    assert len(json.dumps(cases["oversized batch"]).encode()) < MAX_BODY, "413 for the row count, not the size"


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("POST", "/score", {}),
    ("POST", "/score", {"Authorization": "Bearer wrong-token-0123456789"}),
    ("POST", "/score", {"Authorization": f"Basic {TOKEN}"}),
    ("POST", "/score", {"Authorization": TOKEN}),
    ("POST", "/score_batch", {}),
    ("POST", "/score_batch", {"Authorization": f"Bearer {TOKEN}x"}),
    ("GET", "/model", {}),
    ("GET", "/model", {"Authorization": "Bearer "}),
], ids=["score no header", "score wrong token", "score basic scheme", "score no scheme", "batch no header",
        "batch longer token", "model no header", "model empty token"])
def test_scoring_and_metadata_need_a_valid_bearer_token(client: Any, method: str, path: str,
                                                        headers: dict[str, str]) -> None:
    body = {"candidates": [GOOD]} if path == "/score_batch" else {"candidate": GOOD}
    response = client.request(method, path, json=body if method == "POST" else None, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert _error(response)["field"] == "Authorization"


def test_refused_scoring_calls_are_audited_without_the_presented_token(client: Any, audit_log: Path) -> None:
    before = len(audit_log.read_text().splitlines()) if audit_log.exists() else 0
    wrong = "not-the-token-but-long-enough-0123"
    refused = client.post("/score", json={"candidate": GOOD}, headers={"Authorization": f"Bearer {wrong}"})
    anonymous = client.post("/score_batch", json={"candidates": [GOOD]})
    assert (refused.status_code, anonymous.status_code) == (401, 401)
    text = audit_log.read_text()
    lines = [json.loads(line) for line in text.splitlines()[before:]]
    assert wrong not in text
    assert [(x["endpoint"], x["status"], x["rows_scored"], x["rows_rejected"]) for x in lines] == [
        ("score", 401, 0, 0), ("score_batch", 401, 0, 0)]
    assert re.fullmatch(r"[0-9a-f]{16}", lines[0]["token_fingerprint"])
    assert lines[1]["token_fingerprint"] is None
    assert [x["request_id"] for x in lines] == [r.headers["X-Request-ID"] for r in (refused, anonymous)]


# -------------------------------------------------------------------------------------------- other endpoints
@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_endpoints_are_open(client: Any, path: str) -> None:
    assert client.get(path).status_code == 200


def test_metrics_are_served(client: Any) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


def test_model_metadata_reports_version_provenance_and_spec(client: Any, served_model: ServedModel) -> None:
    response = client.get("/model", headers=AUTH)
    assert response.status_code == 200
    meta = response.json()
    assert (meta["name"], meta["version"], meta["run_id"]) == ("als-stratifier", served_model.version,
                                                               served_model.run_id)
    assert meta["model_uri"] == "models:/als-stratifier@champion"
    assert re.fullmatch(r"[0-9a-f]{64}", meta["training_data_hash"])
    assert meta["metrics"]
    assert all(v is None or math.isfinite(v) for v in meta["metrics"].values())
    assert meta["max_batch"] == MAX_BATCH
    fields = {f["name"]: f for f in meta["feature_spec"]}
    assert fields["nfl_serum_pg_ml"]["unit"] == "pg/mL"
    assert fields["nfl_serum_pg_ml"]["required"] is False
    assert {n for n, f in fields.items() if f["required"]} == set(S.REQUIRED_FOR_SCORING)


def test_openapi_documents_the_candidate_schema_with_units_and_bounds(client: Any) -> None:
    doc = client.get("/docs.json").json()
    assert {"/score", "/score_batch", "/healthz", "/readyz", "/metrics"} <= set(doc["paths"])
    single = doc["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    candidate = _resolve(doc, single)["properties"]["candidate"]
    candidate = _resolve(doc, candidate)
    assert candidate["additionalProperties"] is False
    assert set(candidate["required"]) == set(S.REQUIRED_FOR_SCORING)
    nfl = candidate["properties"]["nfl_serum_pg_ml"]
    assert "pg/mL" in nfl["description"]
    assert "[0.01, 100000]" in nfl["description"]
    assert "Optional" in nfl["description"]
    total = candidate["properties"]["alsfrs_r_total"]
    assert (total["minimum"], total["maximum"]) == (0, 48)
    assert "points" in total["description"]
    assert candidate["properties"]["onset_site"]["enum"] == ["bulbar", "limb", "respiratory", "other"]
    batch = _resolve(doc, doc["paths"]["/score_batch"]["post"]["requestBody"]["content"]["application/json"]
                     ["schema"])["properties"]["candidates"]
    assert batch["minItems"] == 1
    assert "ALSSTRAT_MAX_BATCH" in batch["description"]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


# -------------------------------------------------------------------------------------------------- audit log
def test_audit_log_has_one_line_per_request_and_no_secrets(client: Any, audit_log: Path,
                                                          served_model: ServedModel) -> None:
    before = len(audit_log.read_text().splitlines()) if audit_log.exists() else 0
    secret_id = "MRN-0042-private"
    first = client.post("/score", json={"candidate": {**GOOD, "candidate_id": secret_id}}, headers=AUTH)
    batch = client.post("/score_batch", json={"candidates": [{**GOOD, "candidate_id": secret_id},
                                                             {**GOOD, "candidate_id": "other-id-77", "sex": "x"}]},
                        headers=AUTH)
    rejected = client.post("/score", json={"candidate": _candidate(alsfrs_r_total=99.0)}, headers=AUTH)
    assert (first.status_code, batch.status_code, rejected.status_code) == (200, 200, 400)

    text = audit_log.read_text()
    lines = [json.loads(line) for line in text.splitlines()[before:]]
    assert len(lines) == 3, "one line per scoring request"
    assert TOKEN not in text
    assert secret_id not in text
    assert "other-id-77" not in text
    for line in lines:
        assert set(line) >= {"time", "request_id", "endpoint", "status", "token_fingerprint", "model_name",
                             "model_version", "run_id", "rows_scored", "rows_rejected", "latency_ms",
                             "candidate_id_hashes"}
        assert not set(line) & set(S.BASELINE_NAMES), "no candidate values in the audit log"
        assert re.fullmatch(r"[0-9a-f]{16}", line["token_fingerprint"])
        assert line["model_version"] == served_model.version
    assert [line["request_id"] for line in lines] == [r.headers["X-Request-ID"] for r in (first, batch, rejected)]
    assert [(x["endpoint"], x["status"], x["rows_scored"], x["rows_rejected"]) for x in lines] == [
        ("score", 200, 1, 0), ("score_batch", 200, 1, 1), ("score", 400, 0, 1)]
    assert len({line["token_fingerprint"] for line in lines}) == 1
    first_hash, = lines[0]["candidate_id_hashes"]
    assert re.fullmatch(r"[0-9a-f]{16}", first_hash)
    assert lines[1]["candidate_id_hashes"][0] == first_hash, "the same id hashes the same (salted) way"
    assert lines[1]["candidate_id_hashes"][1] != first_hash
    assert lines[2]["candidate_id_hashes"] == []


# ------------------------------------------------------------------------------------------ start-up checks
def test_a_model_that_cannot_score_fails_the_start_not_every_request() -> None:
    from types import SimpleNamespace

    from features.model.pyfunc import LoadedModel
    from serving.loader import IncompatibleModel, check_model_scores

    def broken(records: Any) -> Any:
        raise ValueError("Number of columns does not match number of features in booster")

    from features import spec as S

    model: Any = SimpleNamespace(metadata={"spec_hash": "0000"}, predict_records=broken,
                                 landmark=S.LANDMARKS["screening"])
    loaded = LoadedModel(model=model, uri="models:/als-stratifier/9", name="als-stratifier", version="9",
                         run_id="r")
    with pytest.raises(IncompatibleModel, match=r"version 9\) cannot score with this code.*retrain"):
        check_model_scores(loaded)


def test_a_served_bento_uses_its_own_model() -> None:
    from types import SimpleNamespace

    from bentoml import Tag

    from serving.loader import bundled_model_uri

    def bento(*tags: str) -> Any:
        return SimpleNamespace(info=SimpleNamespace(models=[SimpleNamespace(tag=Tag.from_taglike(t)) for t in tags]))

    assert bundled_model_uri(None) is None, "not serving a Bento: the configured URI applies"
    assert bundled_model_uri(bento("als-stratifier:v3-abc")) == "bento:als-stratifier:v3-abc"
    assert bundled_model_uri(bento("other:1")) is None
    assert bundled_model_uri(bento("als-stratifier:a", "als-stratifier:b")) is None, "ambiguous: never guess"


def test_the_audit_lists_every_candidate_id_whatever_path_scored_it(client: Any, audit_log: Path) -> None:
    """A fully valid batch takes the one-pass fast path; its ids must be audited as a mixed batch's are."""
    before = len(audit_log.read_text().splitlines()) if audit_log.exists() else 0
    valid = client.post("/score_batch", json={"candidates": [{**GOOD, "candidate_id": "A-1"},
                                                             {**GOOD, "candidate_id": "A-2"}]}, headers=AUTH)
    mixed = client.post("/score_batch", json={"candidates": [{**GOOD, "candidate_id": "A-1"},
                                                             {**GOOD, "candidate_id": "A-2", "sex": "x"}]},
                        headers=AUTH)
    assert (valid.status_code, mixed.status_code) == (200, 200)
    lines = [json.loads(line) for line in audit_log.read_text().splitlines()[before:]]
    assert len(lines[0]["candidate_id_hashes"]) == 2
    assert lines[0]["candidate_id_hashes"] == lines[1]["candidate_id_hashes"]
    assert valid.json()["results"][0]["candidate_id"] == "A-1", "the response still echoes the ids"


def test_a_rejected_rows_id_is_echoed_cut_to_the_id_limit(client: Any) -> None:
    long_id = "P" * 1_000
    response = client.post("/score_batch", json={"candidates": [{**GOOD, "candidate_id": long_id}]}, headers=AUTH)
    assert response.status_code == 200
    row = response.json()["results"][0]
    assert row["error"]["field"] == "candidate_id"
    assert row["candidate_id"] == "P" * 128


# ------------------------------------------------------------------------ the gate: token, media type, size
def _chunks(total: int, size: int = 4096) -> Iterator[bytes]:
    yield b'{"candidate": {"candidate_id": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}}'


# (id, path, headers, body, expected status, expected error field). A body that is an iterator is sent chunked,
# without Content-Length.
GATE_CASES: list[tuple[str, str, dict[str, str], Any, int, str]] = [
    ("chunked body over the limit", "/score", {**AUTH, **JSON}, "chunked", 413, "body"),
    ("multipart without boundary", "/score", {**AUTH, "content-type": "multipart/form-data"}, b"--x\r\n", 415,
     "Content-Type"),
    ("multipart with a bad boundary", "/score_batch", {**AUTH, "content-type": "multipart/form-data; boundary="},
     b"--zz\r\nContent-Disposition: form-data\r\n\r\nA\r\n", 415, "Content-Type"),
    ("text/plain", "/score", {**AUTH, "content-type": "text/plain"}, json.dumps({"candidate": GOOD}).encode(), 415,
     "Content-Type"),
    ("no content type", "/score", AUTH, json.dumps({"candidate": GOOD}).encode(), 415, "Content-Type"),
    ("bad body without a token", "/score", JSON, b'{"candidate": ', 401, "Authorization"),
    ("oversized body without a token", "/score_batch", JSON, b"x" * (MAX_BODY + 1), 401, "Authorization"),
    ("wrong media type without a token", "/score", {"content-type": "text/plain"}, b"hello", 401, "Authorization"),
]


@pytest.mark.parametrize(("path", "headers", "body", "status", "field"), [c[1:] for c in GATE_CASES],
                         ids=[c[0] for c in GATE_CASES])
def test_the_gate_refuses_before_parsing(client: Any, path: str, headers: dict[str, str], body: Any, status: int,
                                        field: str) -> None:
    content = _chunks(MAX_BODY * 2) if body == "chunked" else body
    response = client.post(path, content=content, headers=headers)
    assert response.status_code == status, response.text
    assert _error(response)["field"] == field


def test_json_with_a_charset_is_json(client: Any) -> None:
    response = client.post("/score", content=json.dumps({"candidate": GOOD}).encode(),
                           headers={**AUTH, "content-type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 200, response.text


def test_a_refusal_by_the_gate_is_audited(client: Any, audit_log: Path) -> None:
    before = len(audit_log.read_text().splitlines())
    response = client.post("/score", content=b"not even json", headers=JSON)
    assert response.status_code == 401
    line = json.loads(audit_log.read_text().splitlines()[before])
    assert (line["endpoint"], line["status"], line["request_id"]) == ("score", 401, response.headers["X-Request-ID"])


def test_no_caller_value_reaches_the_server_log(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    secret = "PATIENT-SECRET-456 born 1961-03-04"
    with caplog.at_level("DEBUG"):
        bad_json = client.post("/score", content=f'{{"candidate": "{secret}"'.encode(), headers={**AUTH, **JSON})
        wrong_type = client.post("/score", json={"candidate": secret}, headers=AUTH)
        wrong_batch = client.post("/score_batch", json={"candidates": secret}, headers=AUTH)
    assert (bad_json.status_code, wrong_type.status_code, wrong_batch.status_code) == (400, 400, 400)
    logged = caplog.text + "".join(str(r.exc_info) + r.getMessage() for r in caplog.records)
    assert "PATIENT-SECRET" not in logged
    assert "1961-03-04" not in logged
    assert any("refused a bad request to /score" in r.getMessage() for r in caplog.records), "still logged, briefly"


# ------------------------------------------------------------------------------------------------- /metrics
def _endpoint_labels(text: str) -> set[str]:
    return set(re.findall(r'endpoint="([^"]*)"', text))


def test_metrics_keep_a_bounded_label_set_whatever_paths_are_requested(client: Any) -> None:
    assert client.get("/x-first").status_code == 404
    small = client.get("/metrics").text
    for i in range(300):
        client.get(f"/x{i}")
    client.post("/score", json={"candidate": GOOD}, headers=AUTH)
    large = client.get("/metrics").text
    assert "x1" not in _endpoint_labels(large)
    assert {"other", "/score", "/metrics"} <= _endpoint_labels(large)
    assert _endpoint_labels(large) <= {"/score", "/score_batch", "/model", "/healthz", "/livez", "/readyz",
                                       "/metrics", "/docs.json", "/", "other"}
    assert len(large) - len(small) < 5_000, "300 unknown paths must not add series"
    assert 'bentoml_service_request_total{endpoint="other",http_response_code="404"' in large


def test_metrics_can_be_put_behind_the_token(client: Any) -> None:
    import dataclasses

    import bentoml

    service = bentoml.get_current_service()
    open_settings = service.settings
    service.settings = dataclasses.replace(open_settings, metrics_need_token=True)
    try:
        refused = client.get("/metrics")
        allowed = client.get("/metrics", headers=AUTH)
    finally:
        service.settings = open_settings
    assert refused.status_code == 401
    assert _error(refused)["field"] == "Authorization"
    assert allowed.status_code == 200


def test_metrics_need_a_token_only_when_configured() -> None:
    from serving.config import ServiceSettings

    base = {"ALSSTRAT_API_TOKENS": TOKEN}
    assert ServiceSettings.from_env(base).metrics_need_token is False
    assert ServiceSettings.from_env({**base, "ALSSTRAT_METRICS_NEED_TOKEN": "1"}).metrics_need_token is True


def test_a_field_the_landmark_cannot_know_is_a_400_naming_field_and_landmark(client: Any) -> None:
    """The session model is a screening model: a lead-in slope is refused, not silently ignored."""
    body = {"candidate": {**GOOD, "alsfrs_r_slope_baseline": -0.8}}
    response = client.post("/score", json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "candidate.alsfrs_r_slope_baseline"
    assert response.json()["error"]["message"].startswith("not usable at the screening landmark: the model predicts "
                                                         "months from the scoring visit (day 0)")


def test_model_metadata_states_landmark_and_biomarkers(client: Any) -> None:
    meta = client.get("/model", headers=AUTH).json()
    assert meta["landmark"]["name"] == "screening"
    assert meta["time_origin"] == "months from the scoring visit (day 0)"
    assert "nfl_serum_pg_ml" in meta["biomarkers_measured"]
    assert meta["biomarkers_measured_text"].startswith("biomarkers measured: ")
    assert "alsfrs_r_slope_baseline" not in {f["name"] for f in meta["feature_spec"]}


# ------------------------------------------------------------------------------------------- duplicate keys
_GOOD_BODY = json.dumps({"candidate": GOOD})
DUPLICATES: list[tuple[str, str, str, str]] = [
    ("in a candidate", "/score", _GOOD_BODY.replace('"sex": "female"', '"sex": "female", "sex": "male"'), "'sex'"),
    ("at the top level", "/score", _GOOD_BODY[:-1] + ', "candidate": ' + json.dumps(GOOD) + "}", "'candidate'"),
    ("in a batch row", "/score_batch", json.dumps({"candidates": [GOOD, GOOD]}).replace(
        '"sex": "female"', '"sex": "male", "sex": "female"', 1), "'sex'"),
    ("beside a colon in an id", "/score_batch", json.dumps({"candidates": [{**GOOD, "candidate_id": "site:4"}]})
     .replace('"onset_site": ', '"onset_site": "limb", "onset_site": ', 1), "'onset_site'"),
]


@pytest.mark.parametrize(("path", "body", "key"), [c[1:] for c in DUPLICATES], ids=[c[0] for c in DUPLICATES])
def test_a_repeated_key_is_refused_not_resolved_silently(client: Any, path: str, body: str, key: str) -> None:
    response = client.post(path, content=body.encode(), headers={**AUTH, **JSON})
    assert response.status_code == 400, response.text
    assert _error(response) == {"field": "body",
                                "message": f"duplicate key {key} in a JSON object: each key may appear once"}


def test_colons_inside_strings_are_not_duplicates(client: Any) -> None:
    rows = [{**GOOD, "candidate_id": "site:4:017"}, {**GOOD, "candidate_id": "a:b"}]
    response = client.post("/score_batch", json={"candidates": rows}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert [r["candidate_id"] for r in response.json()["results"]] == ["site:4:017", "a:b"]


def _decimals(value: float) -> int:
    text = repr(float(value))
    return 0 if "e" in text or "." not in text else len(text.split(".")[1].rstrip("0"))


def test_no_number_in_an_answer_has_more_than_the_stated_precision(client: Any) -> None:
    """Probabilities, slopes and contributions to 0.001; months to 0.1 (features.model.bundle.ANSWER_DECIMALS)."""
    body = client.post("/score_batch", json={"candidates": [GOOD, REQUIRED_ONLY]}, headers=AUTH).json()
    for result in body["results"]:
        numbers = [*result["subtype"]["probabilities"].values(), result["slope"]["point"], result["slope"]["p10"],
                   result["slope"]["p90"], *result["survival"]["probability_at_months"].values(),
                   *[e["contribution"] for e in result["explanation"]]]
        assert max(_decimals(v) for v in numbers) <= 3, numbers
        assert _decimals(result["survival"]["median_months"]) <= 1


def test_explanations_name_only_features_the_candidate_supplied(client: Any) -> None:
    """No weight or height was sent, so BMI (derived from them) never explains the prediction."""
    body = client.post("/score", json={"candidate": REQUIRED_ONLY}, headers=AUTH).json()
    named = [e["feature"] for e in body["explanation"]]
    assert named
    assert not any(name.startswith(("bmi", "ln_nfl", "ln_lcn2", "fvc")) for name in named), named
