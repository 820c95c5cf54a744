"""Enrolment candidates: the request schema generated from the spec, and per-row validation.

A candidate is one set of cohort baseline fields as a screening visit collects them. The pydantic model is built
from :data:`features.spec.BASELINE_FIELDS` (units and bounds in the descriptions, categories as enums, required
fields = ``required_for_scoring``); it is strict: no unknown fields, no NaN/Infinity, no numbers given as strings,
no booleans given as numbers. Both the HTTP service and ``alsstrat score`` validate rows with
:func:`validate_candidate`, so one bad row yields one error for that row and never fails its neighbours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from features import spec as S

CANDIDATE_ID = "candidate_id"
"""Optional client reference for a row (echoed back; only a salted hash of it is ever logged)."""


@dataclass(frozen=True)
class CandidateError:
    """Why a candidate row cannot be scored: the field and a readable message."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def _describe(f: S.BaselineField) -> str:
    parts = [f.description]
    if f.unit:
        parts.append(f"Unit: {f.unit}.")
    rule = f.bounds_text()
    if rule:
        parts.append(f"Allowed: {rule}.")
    parts.append("Required." if f.required_for_scoring else "Optional (null or absent = not measured).")
    return " ".join(parts)


def _annotation(f: S.BaselineField) -> Any:
    if f.kind == "categorical":
        assert f.categories is not None
        base: Any = Literal[f.categories]
    elif f.kind == "boolean":
        base = bool
    else:
        base = Annotated[float, Field(ge=f.lower, le=f.upper)]
    return base if f.required_for_scoring else base | None


@cache
def candidate_model() -> type[BaseModel]:
    """The strict pydantic model of one candidate, generated from the spec (cached)."""
    fields: dict[str, Any] = {
        CANDIDATE_ID: (str | None, Field(None, max_length=128, description="Optional client reference for this "
                                         "row; echoed back, never stored (only a salted hash is audited).")),
    }
    for f in S.BASELINE_FIELDS:
        default = ... if f.required_for_scoring else None
        fields[f.name] = (_annotation(f), Field(default, description=_describe(f)))
    config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, title="Candidate")
    return create_model("Candidate", __config__=config, **fields)


def _message(error: Mapping[str, Any]) -> tuple[str, str]:
    loc = error.get("loc") or ("candidate",)
    field = str(loc[0])
    kind = str(error.get("type"))
    value = error.get("input")
    spec = next((f for f in S.BASELINE_FIELDS if f.name == field), None)
    if kind == "missing":
        return field, "required field is missing"
    if kind == "extra_forbidden":
        return field, "unknown field"
    if kind == "finite_number":
        return field, f"must be a finite number, got {value!r}"
    if spec is not None and kind in ("greater_than_equal", "less_than_equal", "literal_error"):
        return field, f"must be {spec.bounds_text()}, got {value!r}"
    if spec is not None and kind.endswith("_type"):
        expected = {"categorical": "a string", "boolean": "true or false"}.get(spec.kind, "a number")
        return field, f"must be {expected}, got {value!r}"
    if kind == "model_type":
        return "candidate", "each candidate must be a JSON object"
    return field, str(error.get("msg"))


def validate_candidate(row: Any) -> tuple[dict[str, Any] | None, CandidateError | None]:
    """Validate one candidate row.

    Returns
    -------
    (values, None) or (None, error)
        ``values`` maps every baseline field to its value (None when not measured) plus ``candidate_id``;
        ``error`` names the first offending field (and how many more there are).
    """
    if not isinstance(row, Mapping):
        return None, CandidateError("candidate", "each candidate must be a JSON object")
    try:
        model = candidate_model().model_validate(row)
    except ValidationError as exc:
        errors = exc.errors()
        field, message = _message(errors[0])
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in this row)"
        return None, CandidateError(field, message)
    return model.model_dump(), None
