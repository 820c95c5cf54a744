"""Enrolment candidates: the request schema generated from the spec, and row validation.

A candidate is one set of cohort baseline fields as a screening visit collects them. The schema is a TypedDict
built from :data:`features.spec.BASELINE_FIELDS` (units and bounds in the descriptions, categories as enums,
required fields = ``required_for_scoring``) and validated by pydantic in strict mode: no unknown fields, no
NaN/Infinity, no numbers given as strings, no booleans given as numbers. Both the HTTP service and ``alsstrat
score`` validate with :func:`validate_candidates`, so one bad row yields one error for that row and never fails its
neighbours. A row that passes the schema must also pass the spec's plausibility rules (whole-number
ALSFRS-R scores, diagnostic delay within the time since onset, plausible biomarker and FVC values, see
:data:`features.spec.PLAUSIBLE_RANGES`), the same rules :mod:`features.contracts` applies to the raw tables.

Why a TypedDict rather than a BaseModel: it validates straight into plain dicts (what the model's record path
takes), about three times faster than building and dumping a model per row, and a whole batch of valid rows is
checked by one call into pydantic-core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic needs this one, not typing.TypedDict, before Python 3.12

from features import spec as S

CANDIDATE_ID = "candidate_id"
"""Optional client reference for a row (echoed back; only a salted hash of it is ever logged)."""
MAX_ID_CHARS = 128
"""Longest accepted ``candidate_id``; a rejected row's id is echoed cut to this length."""


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
    described = Annotated[base, Field(description=_describe(f))]
    return described if f.required_for_scoring else NotRequired[Annotated[base | None,
                                                                          Field(description=_describe(f))]]


@cache
def candidate_type(landmark: str = S.DEFAULT_LANDMARK) -> Any:
    """The strict TypedDict of one candidate at ``landmark``, generated from the spec (cached per landmark).

    Only the fields usable at the landmark are in it: a screening candidate cannot send a lead-in slope.
    """
    fields: dict[str, Any] = {
        CANDIDATE_ID: NotRequired[Annotated[str | None, Field(
            max_length=MAX_ID_CHARS, description="Optional client reference for this row; echoed back, never stored "
            "(only a salted hash is audited).")]],
    }
    for f in S.landmark(landmark).fields:
        fields[f.name] = _annotation(f)
    typed = TypedDict("Candidate", fields)  # type: ignore[misc]  # functional form with computed fields
    return with_config(ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, title="Candidate"))(typed)


@cache
def _row_adapter(landmark: str = S.DEFAULT_LANDMARK) -> TypeAdapter[Any]:
    return TypeAdapter(candidate_type(landmark))


@cache
def _batch_adapter(landmark: str = S.DEFAULT_LANDMARK) -> TypeAdapter[Any]:
    return TypeAdapter(list[candidate_type(landmark)])  # type: ignore[misc, arg-type]


def candidate_schema(landmark: str = S.DEFAULT_LANDMARK) -> dict[str, Any]:
    """JSON schema of one candidate at ``landmark`` (OpenAPI): units, bounds, categories, required fields."""
    return _row_adapter(landmark).json_schema()


def _message(error: Mapping[str, Any], landmark: str = S.DEFAULT_LANDMARK) -> tuple[str, str]:
    loc = error.get("loc") or ("candidate",)
    field = str(loc[0])
    kind = str(error.get("type"))
    value = error.get("input")
    spec = next((f for f in S.BASELINE_FIELDS if f.name == field), None)
    if kind == "missing":
        return field, "required field is missing"
    if kind == "extra_forbidden":
        if spec is not None:  # a real field, but not one this landmark can know
            at = S.landmark(landmark)
            return field, (f"not usable at the {at.name} landmark: the model predicts {at.time_origin}, and this "
                           "field needs several visits of a lead-in; leave it out")
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


def _row_error(exc: ValidationError, landmark: str = S.DEFAULT_LANDMARK) -> CandidateError:
    errors = exc.errors()
    field, message = _message(errors[0], landmark)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in this row)"
    return CandidateError(field, message)


def validate_candidate(row: Any, landmark: str = S.DEFAULT_LANDMARK,
                       ) -> tuple[dict[str, Any] | None, CandidateError | None]:
    """Validate one candidate row against the fields usable at ``landmark``.

    Returns
    -------
    (values, None) or (None, error)
        ``values`` holds the fields the row gave (an absent optional field is not measured) and ``candidate_id``
        if given; ``error`` names the first offending field (and how many more problems the row has).
    """
    if not isinstance(row, Mapping):
        return None, CandidateError("candidate", "each candidate must be a JSON object")
    try:
        return _checked(dict(_row_adapter(landmark).validate_python(row)), landmark)
    except ValidationError as exc:
        return None, _row_error(exc, landmark)


@dataclass(frozen=True)
class CandidateBatch:
    """A validated batch: the valid rows (client ids split off) and, by input position, every rejected row.

    Attributes
    ----------
    values : list of dict
        Baseline fields of each valid row, in input order, without ``candidate_id``.
    positions : list of int
        Input position of each entry of ``values``.
    client_ids : list of str or None
        The ``candidate_id`` each valid row sent (None when absent).
    errors : dict of int to CandidateError
        Input position -> why that row cannot be scored.
    """

    values: list[dict[str, Any]]
    positions: list[int]
    client_ids: list[str | None]
    errors: dict[int, CandidateError]


class ValidatedRows(list[dict[str, Any]]):
    """Candidate rows that already passed the strict schema of ``landmark`` (see :func:`candidate_rows_type`)."""

    def __init__(self, rows: Sequence[dict[str, Any]] = (), landmark: str = S.DEFAULT_LANDMARK) -> None:
        super().__init__(rows)
        self.landmark = landmark


def candidate_rows_type(landmark: str = S.DEFAULT_LANDMARK) -> Any:
    """The type of a request's candidate list: strict candidates where every row is valid, else any rows.

    Used as a request field, it lets pydantic-core validate a valid batch while it parses the JSON, in one pass.
    The result is a :class:`ValidatedRows`, which :func:`validate_candidates` does not check again. A batch with
    any bad row falls back to a plain list of whatever was sent, and each row is then checked on its own, so
    every bad row gets its own error. Both members require at least one row.
    """
    def checked(rows: list[dict[str, Any]]) -> ValidatedRows:
        return ValidatedRows(rows, landmark)

    strict = Annotated[list[candidate_type(landmark)], AfterValidator(checked),  # type: ignore[misc, valid-type]
                       Field(min_length=1)]
    return Annotated[strict | Annotated[list[Any], Field(min_length=1)], Field(union_mode="left_to_right")]


def validate_candidates(rows: Sequence[Any], landmark: str = S.DEFAULT_LANDMARK) -> CandidateBatch:
    """Validate a batch of candidate rows: one result per row, a bad row never affects the others.

    The whole list is first validated in one pydantic-core call (none at all for :class:`ValidatedRows`); only
    when that fails is each row validated on its own, which gives exactly the per-row errors of
    :func:`validate_candidate`.
    """
    try:
        trusted = isinstance(rows, ValidatedRows) and rows.landmark == landmark
        checked: list[dict[str, Any]] = (rows if trusted  # type: ignore[assignment]  # a ValidatedRows is a list
                                         else _batch_adapter(landmark).validate_python(rows))
        errors: dict[int, CandidateError] = {}
        positions = list(range(len(rows)))
    except ValidationError:
        checked, positions, errors = [], [], {}
        for i, row in enumerate(rows):
            values, error = validate_candidate(row, landmark)
            if error is not None:
                errors[i] = error
            else:
                assert values is not None
                checked.append(values)
                positions.append(i)
    checked, positions = _drop_implausible(checked, positions, errors, landmark)
    client_ids = [values.pop(CANDIDATE_ID, None) for values in checked]
    return CandidateBatch(checked, positions, client_ids, errors)


# ------------------------------------------------------------------------------------------- plausibility
@cache
def _plausibility_rules() -> tuple[dict[str, S.PlausibleRange], tuple[S.AtMost, ...], frozenset[str]]:
    return ({r.field: r for r in S.PLAUSIBLE_RANGES}, S.CROSS_FIELD_RULES, frozenset(S.WHOLE_NUMBER_FIELDS))


def implausibility(values: Mapping[str, Any], landmark: str = S.DEFAULT_LANDMARK) -> CandidateError | None:
    """The first plausibility rule of the spec (:data:`features.spec.PLAUSIBLE_RANGES`, cross-field rules, whole
    numbers) that a schema-valid candidate breaks, or None.

    Runs on every valid row, so it only looks at the rule fields the row holds (one set intersection).
    """
    return _implausibility(values, S.landmark(landmark).day)


def _implausibility(values: Mapping[str, Any], landmark_day: int) -> CandidateError | None:
    ranges, cross, whole = _plausibility_rules()
    for name in whole & values.keys():
        value = values[name]
        if value is not None and value % 1:
            return CandidateError(name, f"must be a whole number (ALSFRS-R scores are integers), got {value!r}")
    for rule in cross:
        value, limit = values.get(rule.field), values.get(rule.limit_field)
        if value is not None and limit is not None:
            message = rule.problem(value, limit, landmark_day)
            if message is not None:
                return CandidateError(rule.field, message)
    for name in ranges.keys() & values.keys():
        value = values[name]
        if value is not None:
            message = ranges[name].problem(value)
            if message is not None:
                return CandidateError(name, message)
    return None


def _checked(values: dict[str, Any], landmark: str = S.DEFAULT_LANDMARK,
             ) -> tuple[dict[str, Any] | None, CandidateError | None]:
    error = implausibility(values, landmark)
    return (values, None) if error is None else (None, error)


def _drop_implausible(checked: list[dict[str, Any]], positions: list[int], errors: dict[int, CandidateError],
                      landmark: str = S.DEFAULT_LANDMARK) -> tuple[list[dict[str, Any]], list[int]]:
    """Move the rows that break a plausibility rule from ``checked`` into ``errors`` (by input position)."""
    day = S.landmark(landmark).day  # once per batch, not once per row
    found = [(k, error) for k, values in enumerate(checked)
             if (error := _implausibility(values, day)) is not None]
    if not found:
        return checked, positions
    dropped = {k for k, _ in found}
    for k, error in found:
        errors[positions[k]] = error
    return ([v for k, v in enumerate(checked) if k not in dropped],
            [p for k, p in enumerate(positions) if k not in dropped])
