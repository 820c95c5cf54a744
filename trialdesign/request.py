"""``POST /trial/plan``'s contract: the request body, and the plan answer (or error) built from the served model.

The service (:mod:`serving.service`) only authenticates, bounds and audits the call; what the body is and what
the answer holds live here, beside the planner, so that the command line and the service cannot drift apart.

Body: ``{"candidates": [<rows exactly as /score_batch>], "design": {...}}`` (``design`` optional, every field
optional with the command line's defaults). Answer: ``{"plan": <plan.json>, "candidates": [{candidate_id,
prognostic_score, stratum, enrolled: {"1.0": true, ...}}], "report_html": "<!doctype html>...", "model": {...}}``.
Any invalid candidate makes the whole request a 400 naming the row and field (a plan never drops a candidate); a
bad design field is a 400 naming it; a model without a held-out summary is a 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from features.candidates import candidate_schema
from features.errors import UserInputError

if TYPE_CHECKING:
    from features.model.bundle import StratifierModel

DESIGN_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "description": "The trial design; every field optional (defaults shown). Unknown fields are refused (400).",
    "properties": {
        "endpoint": {"enum": ["slope", "survival"], "default": "slope",
                     "description": "slope: ALSFRS-R slope (points/month); survival: time to death, tracheostomy "
                                    "or permanent ventilation."},
        "effect": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.25,
                   "description": "Slope (strictly between 0 and 1): relative slowing of the enrolled "
                                  "population's mean decline; the treatment adds effect x |mean slope| "
                                  "(points/month)."},
        "hazard_ratio": {"type": "number", "minimum": 0.01, "maximum": 100, "default": 0.7,
                         "description": "Survival: the treatment's hazard ratio on each patient's own hazard "
                                        "(conditional; must not be 1)."},
        "follow_up_months": {"type": "number", "minimum": 1, "maximum": 36, "default": 12,
                             "description": "Survival: follow-up from the landmark (months)."},
        "alpha": {"type": "number", "minimum": 1e-6, "maximum": 1, "default": 0.05,
                  "description": "Two-sided significance level (below 1)."},
        "power": {"type": "number", "minimum": 0, "maximum": 0.9999, "default": 0.8,
                  "description": "Target power (greater than alpha)."},
        "dropout": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.1,
                    "description": "Fraction of enrolled patients lost before their outcome (below 1)."},
        "keep": {"type": "array", "minItems": 1, "maxItems": 10, "default": [1.0, 0.75, 0.5],
                 "items": {"type": "number", "minimum": 0, "maximum": 1},
                 "description": "Distinct fractions of the pool to enrol, each above 0 and at most 1 (fastest "
                                "predicted decline / highest risk first)."},
    },
}


def trial_request_model(landmark: str) -> type[BaseModel]:
    """The body of ``POST /trial/plan`` for a model at ``landmark`` (candidates documented as in /score_batch).

    Rows are typed loosely here and validated by the planner, so that a bad row is one 400 naming its position
    and field rather than a parser error.
    """
    rows_type = Annotated[list[Any], Field(min_length=1), WithJsonSchema(
        {"type": "array", "minItems": 1, "items": candidate_schema(landmark),
         "description": "The candidate pool, rows exactly as /score_batch takes them; at most ALSSTRAT_MAX_BATCH "
                        "rows (else HTTP 413). Every row must be valid: one invalid row fails the request."})]
    design_type = Annotated[dict[str, Any] | None, WithJsonSchema(DESIGN_SCHEMA)]

    class TrialPlanRequest(BaseModel):
        """Body of ``POST /trial/plan``: ``candidates`` and an optional ``design``."""

        model_config = ConfigDict(extra="forbid")
        candidates: rows_type
        design: design_type = None

    return TrialPlanRequest


@dataclass(frozen=True)
class TrialAnswer:
    """A planned request: the encoded 200 body, or the error (status, field, message); ids for the audit."""

    status: int
    body: bytes
    ids: list[str]
    rows_scored: int


def _error(status: int, field: str, message: str) -> TrialAnswer:
    return TrialAnswer(status, orjson.dumps({"error": {"field": field, "message": message}}), [], 0)


def plan_answer(model: StratifierModel, rows: list[Any], design: Any, model_info: dict[str, Any]) -> TrialAnswer:
    """Plan ``rows`` with ``design`` (a mapping or None) and encode the answer or the error.

    Errors: 400 for a bad design field (``design.<field>``), a bad row (``candidates[i].<field>``) or a design the
    pool cannot support; 409 when the served model has no held-out summary or no survival part for a survival plan.
    """
    from trialdesign.design import DesignError, parse_design
    from trialdesign.plan import candidate_records, plan_trial
    from trialdesign.pool import InvalidCandidate, PlanningUnavailable
    from trialdesign.power import InfeasibleDesign
    from trialdesign.report import render_html

    if design is not None and not isinstance(design, dict):
        return _error(400, "design", "must be a JSON object")
    try:
        parsed = parse_design(design)
        ids = [r.get("candidate_id") for r in rows if isinstance(r, dict)]
        plan, pool = plan_trial(model, rows, parsed)
    except DesignError as exc:
        return _error(400, exc.field, exc.message)
    except InvalidCandidate as exc:
        return _error(400, exc.field, exc.message)
    except PlanningUnavailable as exc:
        return _error(409, "model", str(exc))
    except InfeasibleDesign as exc:
        return _error(400, "design", str(exc))
    except UserInputError as exc:
        return _error(400, "candidates", str(exc))
    body = orjson.dumps({"plan": plan, "candidates": candidate_records(pool, parsed),
                         "report_html": render_html(plan, pool), "model": model_info})
    return TrialAnswer(200, body, [i for i in ids if isinstance(i, str)], pool.n)
