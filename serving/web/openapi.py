"""The service's OpenAPI document (``/docs.json``): BentoML's, completed so that it says what the service does.

BentoML 1.4 builds the document from the service's endpoints (``Service.openapi_spec``, public) but has no hook to
change its title, version, description or security schemes, and it does not list the routes of a mounted Starlette
app. This module takes BentoML's document and

* names the project and its version (package metadata) instead of BentoML's defaults, and drops BentoML's
  marketing text and contact;
* declares the ``bearerAuth`` HTTP bearer scheme and applies it to every data endpoint, so Swagger UI's
  "Authorize" and "Try it out" send the token;
* lists ``GET /model`` with its response schema, and gives the scoring endpoints their real response and error
  schemas (``{"error": {"field", "message"}}`` with 400/401/413/415) in place of "any object".

The schemas here are checked against live answers by the tests, so a change of an answer without a change here fails.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT = "alsstrat"
SCHEMA_REF = "#/components/schemas/{}"
SECURITY_SCHEME = "bearerAuth"
DATA_TAG = "Service APIs"
"""BentoML's tag for the service's own endpoints (its infrastructure endpoints are tagged "Infrastructure")."""


def project_name_and_version() -> tuple[str, str]:
    """The project's name and version: the installed package's metadata, else the ``pyproject.toml`` shipped beside
    the packages (a Bento carries the source and ``pyproject.toml``, not an installed distribution)."""
    try:
        return PROJECT, metadata.version(PROJECT)
    except metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        return str(project.get("name", PROJECT)), str(project.get("version", "unknown"))
    return PROJECT, "unknown"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMA_REF.format(name)}


def _obj(properties: dict[str, Any], required: list[str] | None = None, *, closed: bool = True,
         **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required,
            "additionalProperties": not closed, **extra}


_STR = {"type": "string"}
_NULLABLE_STR = {"type": "string", "nullable": True}
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_FIELD_ERROR = _obj({"field": {"type": "string", "description": "The offending field (dotted path), or 'body'."},
                     "message": {"type": "string", "description": "The rule broken and, where safe, the value."}})

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": _obj({"error": _FIELD_ERROR}, description="Every refusal: 400, 401, 413, 415."),
    "ModelRef": _obj({"name": _STR, "version": _NULLABLE_STR, "run_id": _NULLABLE_STR},
                     description="The model that produced the answer (registry name, version, MLflow run id)."),
    "ScoreResult": _obj({
        "candidate_id": {"type": "string", "description": "Echoed when the candidate sent one."},
        "subtype": _obj({"label": _INT, "name": _STR,
                         "uncertain": {"type": "boolean", "description": "No subtype has a clear majority."},
                         "probabilities": {"type": "object", "additionalProperties": _NUM,
                                           "description": "Subtype label -> probability (0-1)."}}),
        "slope": _obj({"point": {"type": "number", "description": "Predicted ALSFRS-R slope, points/month."},
                       "point_kind": {"type": "string", "description": "What the point is (e.g. mean, median)."},
                       "p10": {"type": "number", "description": "10th percentile, points/month."},
                       "p90": {"type": "number", "description": "90th percentile, points/month."},
                       "unit": _STR}),
        "survival": _obj({
            "probability_at_months": {"type": "object", "additionalProperties": _NUM,
                                      "description": "Months from the time origin -> probability of no event."},
            "median_months": {"type": "number", "nullable": True,
                              "description": "Predicted median time to event, months from the time origin; null "
                                             "when not reached."},
            "risk_group": _INT, "risk_groups": _INT, "risk_group_meaning": _STR,
            "time_origin": {"type": "string", "description": "What month 0 is."}},
            nullable=True, description="Null when the model has no survival part."),
        "explanation": {"type": "array", "items": _obj({"feature": _STR, "contribution": _NUM})},
        "model": _ref("ModelRef"),
    }, required=["subtype", "slope", "survival", "explanation", "model"]),
    "RowError": _obj({"error": _FIELD_ERROR, "candidate_id": _STR}, required=["error"],
                     description="A rejected row of a batch; the other rows are still scored."),
    "ScoreBatchResponse": _obj({
        "results": {"type": "array", "items": {"oneOf": [_ref("ScoreResult"), _ref("RowError")]},
                    "description": "Exactly one entry per input row, in input order."},
        "model": _ref("ModelRef")}),
    "ModelMetadata": _obj({
        "name": _STR, "version": _NULLABLE_STR, "run_id": _NULLABLE_STR, "model_uri": _STR, "model": _ref("ModelRef"),
        "training_data_hash": _NULLABLE_STR, "training_source": _NULLABLE_STR, "spec_hash": _NULLABLE_STR,
        "alsfrs_scale": {"type": "integer", "nullable": True, "description": "Maximum ALSFRS-R total, points."},
        "landmark": _obj({"name": _STR, "day": {"type": "integer", "description": "Day of the landmark, days."},
                          "description": _STR}),
        "time_origin": {"type": "string", "description": "What month 0 of the survival answers is."},
        "biomarkers_measured": {"type": "array", "items": _STR}, "biomarkers_measured_text": _STR,
        "subtype_features": {"type": "array", "items": _STR},
        "lcn2_ablation": {"nullable": True, "description": "The LCN2 ablation's outcome, or why there is none."},
        "metrics": {"type": "object", "additionalProperties": {"type": "number", "nullable": True},
                    "description": "Key test-set metrics of the served model."},
        "subtypes": {"type": "array", "items": _obj({"label": _INT, "name": _STR, "description": _STR})},
        "feature_spec": {"type": "array", "description": "The request fields usable at the model's landmark.",
                         "items": _obj({
                             "name": _STR, "type": {"type": "string", "enum": ["numeric", "integer", "categorical",
                                                                               "boolean", "text", "id"]},
                             "unit": _NULLABLE_STR,
                             "minimum": {"type": "number", "nullable": True, "description": "Inclusive, in unit."},
                             "maximum": {"type": "number", "nullable": True, "description": "Inclusive, in unit."},
                             "categories": {"type": "array", "items": _STR, "nullable": True},
                             "required": {"type": "boolean", "description": "Scoring refuses a row without it."},
                             "description": _STR})},
        "max_batch": {"type": "integer", "description": "Most rows one /score_batch call accepts."},
        "lcn2_note": _STR,
    }, description="The served model: version, provenance, key metrics, subtypes and the feature spec."),
    "TrialPlanResponse": _obj({
        "plan": _obj({
            "endpoint": {"type": "string", "enum": ["slope", "survival"]},
            "designs": {"type": "array", "description": "One design per keep fraction x analysis.", "items": _obj({
                "keep_fraction": {"type": "number", "description": "Fraction of the pool enrolled (0-1)."},
                "adjustment": {"type": "string", "description": "none, or prognostic (adjusted for the score)."},
                "analysis": {"type": "string", "description": "The planned test, in words."},
                "n_per_arm": {"type": "integer", "description": "Patients to enrol per arm (dropout and, for the "
                                                                "slope endpoint, missing outcomes included)."},
                "n_total": _INT, "n_analysed_per_arm": _INT,
                "screened_per_enrolled": {"type": "number", "description": "Candidates screened per patient "
                                                                           "enrolled."},
                "n_screened": {"type": "integer", "description": "Candidates to screen in total."},
                "planned_power": _NUM}, closed=False,
                description="Slope designs add outcome_mean, outcome_sd (points/month), rho and "
                            "outcome_observed_share (0-1, the enrolled expected to yield a slope outcome); survival "
                            "designs add events_required and event probabilities.")},
        }, required=["designs"], closed=False,
            description="The plan (the same as ``alsstrat trial plan`` writes): design, pool, sources, designs."),
        "candidates": {"type": "array", "description": "Every candidate, in input order.", "items": _obj({
            "candidate_id": _NULLABLE_STR, "prognostic_score": _NUM,
            "stratum": {"type": "integer", "description": "Tertile of the prognostic score; 1 = slowest decline / "
                                                          "lowest risk."},
            "enrolled": {"type": "object", "additionalProperties": {"type": "boolean"},
                         "description": "Keep fraction -> whether the design enrols this candidate."}})},
        "report_html": {"type": "string", "description": "The plan's self-contained HTML report."},
        "model": _ref("ModelRef")}),
}
"""Schemas of the answers, by component name (OpenAPI 3.0: ``nullable`` marks a value that may be null)."""

RESPONSE_SCHEMAS = {"/score": "ScoreResult", "/score_batch": "ScoreBatchResponse", "/trial/plan": "TrialPlanResponse"}
"""Path -> schema of its 200 answer, for the endpoints BentoML documents as "any object"."""


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _error_responses(post: bool) -> dict[str, Any]:
    responses = {"401": _json("Missing or invalid bearer token (header WWW-Authenticate: Bearer).", "Error")}
    if post:
        responses.update({
            "400": _json("Invalid request; names the field, the rule and (where safe) the value.", "Error"),
            "413": _json("Body over ALSSTRAT_MAX_BODY_BYTES, or more rows than ALSSTRAT_MAX_BATCH.", "Error"),
            "415": _json("Content-Type is not application/json.", "Error")})
    return responses


def _model_path() -> dict[str, Any]:
    return {"get": {
        "tags": [DATA_TAG], "operationId": "als_stratifier__model",
        "summary": "The served model",
        "description": "Version, run id, training data hash, key metrics, subtypes, the landmark with its time "
                       "origin, and the feature spec (the request fields usable at the landmark, with units, bounds "
                       "and categories).",
        "responses": {"200": _json("The served model's metadata.", "ModelMetadata"), **_error_responses(False)},
        "security": [{SECURITY_SCHEME: []}]}}


def openapi_document(base: dict[str, Any], *, metrics_need_token: bool, served: dict[str, Any] | None = None,
                     ) -> dict[str, Any]:
    """BentoML's OpenAPI document completed with the project's name and version, the bearer scheme and schemas.

    Parameters
    ----------
    base : dict
        BentoML's document for the service (``Service.openapi_spec.asdict()``); not modified.
    metrics_need_token : bool
        Whether ``GET /metrics`` needs the bearer token (ALSSTRAT_METRICS_NEED_TOKEN).
    served : dict, optional
        ``{"name", "version", "run_id"}`` of the served model, named in the description.

    Returns
    -------
    dict
        The document served at ``/docs.json``.
    """
    doc = copy.deepcopy(base)
    name, version = project_name_and_version()
    model_text = (f" This server answers with model {served.get('name')} version {served.get('version')}."
                  if served else "")
    doc["info"] = {
        "title": name, "version": version,
        "description": "ALS patient stratification for trial teams: subtype, ALSFRS-R slope with an 80 % interval "
                       "and survival for enrolment candidates." + model_text + " Every data endpoint needs "
                       "`Authorization: Bearer <token>`: use Authorize, then Try it out. LCN2 effects in humans are "
                       "unvalidated hypotheses.",
        "license": {"name": "Apache-2.0"}}
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(copy.deepcopy(SCHEMAS))
    components["securitySchemes"] = {SECURITY_SCHEME: {
        "type": "http", "scheme": "bearer",
        "description": "A token from the server's configuration (ALSSTRAT_API_TOKENS or ALSSTRAT_API_TOKEN_FILE)."}}
    paths = doc.setdefault("paths", {})
    for path, item in paths.items():
        for method, operation in item.items():
            # BentoML keys some responses by int (400) and others by str ("200"); a document holding both 400 and
            # "400" is JSON with a repeated key, which Swagger UI refuses. Status codes are strings in OpenAPI.
            responses = operation["responses"] = {str(k): v for k, v in operation.get("responses", {}).items()}
            if DATA_TAG not in operation.get("tags", []):
                continue
            responses.pop("404", None)  # a known route never answers 404
            responses.update(_error_responses(method == "post"))
            if path in RESPONSE_SCHEMAS:
                responses["200"] = _json("The answer.", RESPONSE_SCHEMAS[path])
            if path == "/trial/plan":
                responses["409"] = _json("The served model cannot plan this (no held-out summary, or no survival "
                                         "part for a survival plan).", "Error")
            operation["security"] = [{SECURITY_SCHEME: []}]
    paths["/model"] = _model_path()
    if metrics_need_token and "get" in paths.get("/metrics", {}):
        metrics = paths["/metrics"]["get"]
        metrics["security"] = [{SECURITY_SCHEME: []}]
        metrics.setdefault("responses", {}).update(_error_responses(False))
    return doc
