"""The BentoML service trial teams call: score enrolment candidates with the champion model.

Endpoints (JSON): ``POST /score`` (one candidate), ``POST /score_batch`` (up to ALSSTRAT_MAX_BATCH, one result per
row, in order; a bad row gets its own error and never fails the others), ``GET /model`` (version, run id, training
data hash, key metrics, subtypes, feature spec), plus BentoML's ``/healthz``, ``/livez``, ``/readyz`` (ready once
the model is loaded), ``/metrics`` and the OpenAPI document at ``/docs.json`` (completed by
:mod:`serving.web.openapi`). ``GET /`` is the trial team's web page and ``GET /docs`` a local Swagger UI
(:mod:`serving.web.page`).

Scoring and metadata need ``Authorization: Bearer <token>`` (tokens from configuration only). The service refuses
to start without tokens unless ALSSTRAT_INSECURE_DEMO=1, which it logs loudly. Serving imports ``features`` (the
spec, candidate validation, the model bundle), never ``training``.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import time
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import bentoml
import orjson
from pydantic import BaseModel, ConfigDict, WithJsonSchema
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from features.candidates import candidate_rows_type, candidate_schema
from features.spec import DEFAULT_LANDMARK
from serving.audit import AuditLog
from serving.auth import bearer_token, fingerprint, token_matches
from serving.config import ServiceSettings
from serving.encode import ResultEncoder
from serving.errors import UniformErrors, install_log_filter
from serving.limits import RequestGate, duplicate_key
from serving.metadata import model_metadata
from serving.metrics import RequestMetrics
from serving.metrics import render as render_metrics
from serving.scoring import score_rows
from serving.web.openapi import openapi_document
from serving.web.page import page_routes
from trialdesign.request import plan_answer, trial_request_model

logger = logging.getLogger("alsstrat.serving")
INSECURE_DEMO_WARNING = ("*** INSECURE DEMO MODE: no API tokens configured, every caller is accepted. "
                         "Never run this way with real candidates. ***")

# The request schema holds the fields usable at the served model's landmark. `alsstrat serve` and the Bento set
# ALSSTRAT_LANDMARK from the model before this module is imported; whatever it says, every row is validated against
# the loaded model's own landmark (features.candidates), so a mismatch can only make the document wrong, never a
# prediction.
SCHEMA_LANDMARK = os.environ.get("ALSSTRAT_LANDMARK", DEFAULT_LANDMARK)
_CANDIDATE_SCHEMA = candidate_schema(SCHEMA_LANDMARK)
# The documented schema is the strict spec-generated one; the handler validates each row itself so that one bad
# row yields one per-row error (HTTP 400 for /score) in a single, uniform error shape.
CandidateBody = Annotated[dict[str, Any], WithJsonSchema(_CANDIDATE_SCHEMA)]
if TYPE_CHECKING:  # the runtime type is built from the spec; to a type checker it is a list
    CandidateList = list[Any]
else:
    # A valid batch is validated while the JSON is parsed; see features.candidates.candidate_rows_type
    CandidateList = Annotated[candidate_rows_type(SCHEMA_LANDMARK), WithJsonSchema(
        {"type": "array", "minItems": 1, "items": _CANDIDATE_SCHEMA,
         "description": "Candidates to score; at most ALSSTRAT_MAX_BATCH rows (default 10,000), else HTTP 413."})]


class ScoreRequest(BaseModel):
    """Body of ``POST /score``: exactly one key, ``candidate`` (any other key is a 400 naming it)."""

    model_config = ConfigDict(extra="forbid")
    candidate: CandidateBody


class ScoreBatchRequest(BaseModel):
    """Body of ``POST /score_batch``: exactly one key, ``candidates``."""

    model_config = ConfigDict(extra="forbid")
    candidates: CandidateList

TrialPlanRequest = trial_request_model(SCHEMA_LANDMARK)
if TYPE_CHECKING:
    TrialRows = list[Any]
    TrialDesign = dict[str, Any] | None
else:
    TrialRows = TrialPlanRequest.model_fields["candidates"].rebuild_annotation()
    TrialDesign = TrialPlanRequest.model_fields["design"].rebuild_annotation()

UNAUTHORISED = {"error": {"field": "Authorization", "message": "missing or invalid bearer token"}}


def _json_bytes(body: bytes) -> Any:
    """A JSON response from already-encoded bytes (see :mod:`serving.encode`).

    Typed ``Any`` on purpose: BentoML passes a returned Response through untouched (status code and headers still
    come from ``ctx``), while each endpoint's return annotation keeps documenting the JSON shape in OpenAPI.
    """
    return Response(body, media_type="application/json")


async def _metadata(request: Request) -> JSONResponse:
    service = bentoml.get_current_service()
    if not service.authorised(request.headers.get("authorization")):
        return JSONResponse(UNAUTHORISED, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return JSONResponse(service.metadata)


async def _metrics(request: Request) -> Response:
    service = bentoml.get_current_service()
    if service.settings.metrics_need_token and not service.authorised(request.headers.get("authorization")):
        return JSONResponse(UNAUTHORISED, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    body, content_type = await run_in_threadpool(render_metrics)
    return Response(body, headers={"Content-Type": content_type})


async def _openapi(request: Request) -> JSONResponse:
    """The OpenAPI document: BentoML's, completed by :func:`serving.web.openapi.openapi_document`."""
    service = bentoml.get_current_service()
    base = ALSStratifier.openapi_spec.asdict()  # type: ignore[attr-defined]  # a bentoml Service at run time
    return JSONResponse(openapi_document(base, metrics_need_token=service.settings.metrics_need_token,
                                         served=service.metadata["model"]))


metadata_app = Starlette(routes=[Route("/model", endpoint=_metadata, methods=["GET"]),
                                 Route("/metrics", endpoint=_metrics, methods=["GET"]),
                                 Route("/docs.json", endpoint=_openapi, methods=["GET"]),
                                 *page_routes()])


# Mounted at the root after BentoML's own API routes but before its index page and /docs.json, so it answers
# GET /model, /metrics, /docs.json and the trial team's page (serving.web), and 404 for unknown paths. BentoML's
# metrics are off: they labelled series by raw path, without bound (serving.metrics).
@bentoml.asgi_app(metadata_app, path="/")
@bentoml.service(name="als_stratifier", workers=2, traffic={"timeout": 60},
                 http={"cors": {"enabled": False}}, metrics={"enabled": False})
class ALSStratifier:
    """Scores candidates with the model named by ALSSTRAT_MODEL_URI (default: the model frozen into the Bento
    being served, else the ``champion`` alias)."""

    @bentoml.on_deployment
    def check_configuration() -> None:
        """Refuse to start before any worker is spawned when the configuration is unusable (e.g. no tokens).

        ``bentoml serve`` runs this once in its own process: an exception here makes it exit non-zero with the
        message, whereas the same error raised in ``__init__`` only kills the workers and leaves the server up.
        """
        settings = ServiceSettings.from_env()
        if settings.insecure_demo:
            logger.warning(INSECURE_DEMO_WARNING)

    def __init__(self) -> None:
        from serving.loader import bundled_model_uri, check_model_scores, load_for_serving

        # BentoML only shows WARNING and above for loggers it does not own; the served version must be visible.
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        install_log_filter()
        settings = ServiceSettings.from_env()
        # A Bento built with a frozen model serves that model unless ALSSTRAT_MODEL_URI says otherwise.
        bundled = bundled_model_uri(getattr(ALSStratifier, "bento", None))
        if bundled and not os.environ.get("ALSSTRAT_MODEL_URI"):
            settings = dataclasses.replace(settings, model_uri=bundled)
        self.settings = settings
        if self.settings.insecure_demo:
            logger.warning(INSECURE_DEMO_WARNING)
        started = time.perf_counter()
        loaded = load_for_serving(self.settings.model_uri)
        self.model = loaded.model
        self.model.set_predict_threads(self.settings.predict_threads)
        check_model_scores(loaded)
        self.encoder = ResultEncoder(self.model)
        self.audit = AuditLog(self.settings.audit_log, self.settings.audit_salt,
                              max_bytes=self.settings.audit_max_bytes, backups=self.settings.audit_backups)
        self.metadata = model_metadata(loaded, self.settings)
        logger.info("serving %s version %s (run %s), loaded in %.1f s", loaded.name, loaded.version, loaded.run_id,
                    time.perf_counter() - started)
        # Everything allocated so far (libraries, the model) lives as long as the worker. Freezing it keeps the
        # cyclic garbage collector from re-scanning it on every full collection: measured, those scans stalled
        # one large-batch request in about fifteen by ~200 ms.
        gc.collect()
        gc.freeze()

    @bentoml.on_shutdown
    def close(self) -> None:
        """Flush and close the audit log when the worker stops."""
        self.audit.close()

    # ------------------------------------------------------------------ helpers
    def authorised(self, header: str | None) -> bool:
        return self.settings.insecure_demo or token_matches(bearer_token(header), self.settings.tokens)

    def _audit(self, endpoint: str, header: str | None, started: float, scored: int, rejected: int,
               ids: list[str], status: int) -> str:
        request_id = uuid.uuid4().hex
        self.audit.record(
            request_id=request_id, endpoint=endpoint, status=status,
            token_fingerprint=fingerprint(bearer_token(header), self.audit.salt),
            model_name=self.metadata["name"], model_version=self.metadata["version"],
            run_id=self.metadata["run_id"], rows_scored=scored, rows_rejected=rejected,
            latency_ms=round(1000 * (time.perf_counter() - started), 3),
            candidate_id_hashes=[self.audit.hash_id(i) for i in ids],
        )
        return request_id


    def audit_refusal(self, endpoint: str, header: str | None, started: float) -> str:
        """Audit a scoring call refused with 401 and return its request id.

        The presented token's fingerprint is logged, so repeated attempts with one wrong token can be told apart
        from many. :class:`serving.limits.RequestGate` refuses such calls before their body is read; the
        handlers check again in case the service runs without the gate.
        """
        return self._audit(endpoint, header, started, 0, 0, [], 401)

    def _unauthorised(self, ctx: bentoml.Context, endpoint: str, header: str | None, started: float) -> dict[str, Any]:
        ctx.response.status_code = 401
        ctx.response.headers["WWW-Authenticate"] = "Bearer"
        ctx.response.headers["X-Request-ID"] = self.audit_refusal(endpoint, header, started)
        return UNAUTHORISED

    def _duplicate(self, ctx: bentoml.Context, endpoint: str, header: str | None, started: float, rows: int,
                   key: str) -> dict[str, Any]:
        """400 for a body that repeats a key in one object (a parser would keep the last value silently)."""
        ctx.response.status_code = 400
        ctx.response.headers["X-Request-ID"] = self._audit(endpoint, header, started, 0, rows, [], 400)
        shown = key if len(key) <= 64 else key[:64] + "..."
        return {"error": {"field": "body", "message": f"duplicate key {shown!r} in a JSON object: each key may "
                          "appear once"}}

    def _refuse_rows(self, ctx: bentoml.Context, endpoint: str, noun: str, header: str | None, started: float,
                     rows: list[Any]) -> dict[str, Any] | None:
        """The refusals every many-row endpoint shares, in order: 401 (token), 413 (more rows than
        ALSSTRAT_MAX_BATCH) and 400 (a key repeated in one object); None when the request may proceed."""
        if not self.authorised(header):
            return self._unauthorised(ctx, endpoint, header, started)
        if len(rows) > self.settings.max_batch:
            ctx.response.status_code = 413
            self._audit(endpoint, header, started, 0, len(rows), [], 413)
            return {"error": {"field": "candidates", "message": f"{noun} of {len(rows)} rows exceeds the "
                              f"maximum of {self.settings.max_batch}"}}
        duplicate = duplicate_key(ctx.request.scope, rows)
        if duplicate is not None:
            return self._duplicate(ctx, endpoint, header, started, len(rows), duplicate)
        return None

    # ------------------------------------------------------------------ endpoints
    @bentoml.api(route="/score", input_spec=ScoreRequest)
    async def score(self, candidate: CandidateBody, ctx: bentoml.Context) -> dict[str, Any]:
        """Score one enrolment candidate: subtype, ALSFRS-R slope with an 80 % interval, survival, explanation."""
        started = time.perf_counter()
        header = ctx.request.headers.get("authorization")
        if not self.authorised(header):
            return self._unauthorised(ctx, "score", header, started)
        duplicate = duplicate_key(ctx.request.scope, [candidate])
        if duplicate is not None:
            return self._duplicate(ctx, "score", header, started, 1, duplicate)
        scored = score_rows(self.model, self.encoder, [candidate])
        rejected = len(scored.errors)
        status = 400 if rejected else 200
        ctx.response.status_code = status
        request_id = self._audit("score", header, started, 1 - rejected, rejected, scored.ids, status)
        ctx.response.headers["X-Request-ID"] = request_id
        if rejected:
            error = scored.errors[0]
            return {"error": {"field": f"candidate.{error['field']}" if error["field"] != "candidate"
                              else "candidate", "message": error["message"]}}
        return _json_bytes(scored.encoded[0])

    @bentoml.api(route="/score_batch", input_spec=ScoreBatchRequest)
    async def score_batch(self, candidates: CandidateList, ctx: bentoml.Context) -> dict[str, Any]:
        """Score a batch: exactly one result per input row, in order; bad rows get ``{"error": {field, message}}``."""
        started = time.perf_counter()
        header = ctx.request.headers.get("authorization")
        refused = self._refuse_rows(ctx, "score_batch", "batch", header, started, candidates)
        if refused is not None:
            return refused
        scored = score_rows(self.model, self.encoder, candidates)
        request_id = self._audit("score_batch", header, started, len(candidates) - len(scored.errors),
                                 len(scored.errors), scored.ids, 200)
        ctx.response.headers["X-Request-ID"] = request_id
        return _json_bytes(b'{"results":[' + b",".join(scored.encoded) + b'],"model":'
                           + orjson.dumps(self.metadata["model"]) + b"}")

    @bentoml.api(route="/trial/plan", input_spec=TrialPlanRequest)
    async def trial_plan(self, candidates: TrialRows, ctx: bentoml.Context, design: TrialDesign = None,
                         ) -> dict[str, Any]:
        """Plan a trial on a candidate pool: per keep fraction x adjustment, patients per arm, screened per
        enrolled, outcome SD and rho (slope) or events (survival); every candidate's score, stratum and enrolment;
        the self-contained HTML report. One invalid candidate fails the whole request (400 naming row and field)."""
        started = time.perf_counter()
        header = ctx.request.headers.get("authorization")
        refused = self._refuse_rows(ctx, "trial_plan", "pool", header, started, candidates)
        if refused is not None:
            return refused
        answer = plan_answer(self.model, candidates, design, self.metadata["model"])
        ctx.response.status_code = answer.status
        rejected = 0 if answer.status == 200 else len(candidates)
        ctx.response.headers["X-Request-ID"] = self._audit("trial_plan", header, started, answer.rows_scored,
                                                           rejected, answer.ids, answer.status)
        return _json_bytes(answer.body)


# The decorators return a bentoml Service, though the stubs type the result as the class itself.
ALSStratifier.add_asgi_middleware(RequestMetrics)  # type: ignore[attr-defined]  # outermost: sees every answer
ALSStratifier.add_asgi_middleware(RequestGate)  # type: ignore[attr-defined]
ALSStratifier.add_asgi_middleware(UniformErrors)  # type: ignore[attr-defined]
