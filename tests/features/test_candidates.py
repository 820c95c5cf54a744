"""Batch validation: a valid batch is validated while parsed; a batch with bad rows falls back to per-row errors."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from features.candidates import ValidatedRows, candidate_rows_type, validate_candidate, validate_candidates

GOOD = {"age_at_onset_years": 58.0, "sex": "male", "onset_site": "limb", "months_since_onset": 14.0,
        "diagnostic_delay_months": 10.0, "alsfrs_r_total": 39.0, "nfl_serum_pg_ml": 72.0, "candidate_id": "a"}


def test_a_valid_batch_is_validated_in_the_parse_and_not_again() -> None:
    rows = TypeAdapter(candidate_rows_type()).validate_json(json.dumps([GOOD, {**GOOD, "candidate_id": "b"}]))
    assert isinstance(rows, ValidatedRows)
    batch = validate_candidates(rows)
    assert batch.positions == [0, 1]
    assert batch.client_ids == ["a", "b"]
    assert batch.errors == {}
    assert all("candidate_id" not in values for values in batch.values)


def test_one_bad_row_falls_back_to_per_row_errors() -> None:
    raw = [GOOD, {**GOOD, "alsfrs_r_total": 49.0}, "not an object", {**GOOD, "nfl_serum_pg_ml": float("nan")}]
    rows = TypeAdapter(candidate_rows_type()).validate_python(raw)
    assert not isinstance(rows, ValidatedRows)
    batch = validate_candidates(rows)
    assert batch.positions == [0]
    assert {i: e.field for i, e in batch.errors.items()} == {1: "alsfrs_r_total", 2: "candidate",
                                                             3: "nfl_serum_pg_ml"}
    assert batch.errors[3].message == "must be a finite number, got nan"


@pytest.mark.parametrize("body", ["[]", '{"sex": "male"}', "3"])
def test_an_empty_or_non_list_batch_is_refused(body: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(candidate_rows_type()).validate_json(body)


# ------------------------------------------------------------------------------------------- plausibility
IMPLAUSIBLE: list[tuple[str, dict[str, object], str, str]] = [
    ("delay after day 0", {"diagnostic_delay_months": 100.0}, "diagnostic_delay_months",
     "must be <= months_since_onset (14), got 100: the diagnosis cannot come after the landmark, so "
     "onset-to-diagnosis cannot exceed onset-to-landmark"),
    ("fractional ALSFRS-R total", {"alsfrs_r_total": 39.5}, "alsfrs_r_total",
     "must be a whole number (ALSFRS-R scores are integers), got 39.5"),
    ("fractional ALSFRS-R item", {"alsfrs_q3": 2.5}, "alsfrs_q3",
     "must be a whole number (ALSFRS-R scores are integers), got 2.5"),
    ("serum NfL in ng/mL", {"nfl_serum_pg_ml": 0.065}, "nfl_serum_pg_ml",
     "0.065 pg/mL is implausible (plausible: 0.5-10000 pg/mL): looks like ng/mL; this field is in pg/mL "
     "(1 ng/mL = 1000 pg/mL)"),
    ("serum NfL a thousand times too high", {"nfl_serum_pg_ml": 93_050.0}, "nfl_serum_pg_ml",
     "93050 pg/mL is implausible (plausible: 0.5-10000 pg/mL): looks like a unit mix-up (pg/mL values labelled "
     "ng/mL?); this field is in pg/mL"),
    ("plasma LCN2 in pg/mL", {"lcn2_plasma_ng_ml": 95_000.0}, "lcn2_plasma_ng_ml",
     "95000 ng/mL is implausible (plausible: 2-5000 ng/mL): looks like pg/mL; this field is in ng/mL "
     "(1000 pg/mL = 1 ng/mL)"),
    ("FVC in litres", {"fvc_pct_pred": 3.2}, "fvc_pct_pred",
     "3.2 % predicted is implausible (plausible: 5-200 % predicted): looks like litres; this field is FVC in % of "
     "the predicted value"),
]


@pytest.mark.parametrize(("change", "field", "message"), [c[1:] for c in IMPLAUSIBLE], ids=[c[0] for c in IMPLAUSIBLE])
def test_implausible_rows_are_refused_with_the_likely_mistake(change: dict[str, object], field: str,
                                                              message: str) -> None:
    rows = TypeAdapter(candidate_rows_type()).validate_python([GOOD, {**GOOD, **change, "candidate_id": "b"}])
    assert isinstance(rows, ValidatedRows), "the schema accepts it: the spec's plausibility rules refuse it"
    batch = validate_candidates(rows)
    assert batch.positions == [0]
    assert batch.client_ids == ["a"]
    assert {i: (e.field, e.message) for i, e in batch.errors.items()} == {1: (field, message)}
    values, error = validate_candidate({**GOOD, **change})
    assert values is None
    assert error is not None
    assert (error.field, error.message) == (field, message)


def test_plausible_edges_pass() -> None:
    edge = {**GOOD, "diagnostic_delay_months": 14.0, "alsfrs_r_total": 48.0, "nfl_serum_pg_ml": 0.5,
            "fvc_pct_pred": 5.0, "lcn2_plasma_ng_ml": 5_000.0}
    values, error = validate_candidate(edge)
    assert error is None
    assert values is not None


def test_a_diagnosis_during_the_lead_in_is_plausible_at_the_lead_in_landmark_only() -> None:
    """At lead-in (day 91) a diagnosis may fall between the index visit and the landmark: up to 2.99 months more."""
    from features.candidates import validate_candidate

    row = {"age_at_onset_years": 60.0, "sex": "male", "onset_site": "limb", "months_since_onset": 10.0,
           "diagnostic_delay_months": 12.0, "alsfrs_r_total": 40.0}
    values, error = validate_candidate(row, "lead-in")
    assert error is None
    assert values is not None
    _, error = validate_candidate(row, "screening")
    assert error is not None
    assert error.field == "diagnostic_delay_months"
    assert error.message.startswith("must be <= months_since_onset (10), got 12: the diagnosis cannot come after")
    _, error = validate_candidate({**row, "diagnostic_delay_months": 13.5}, "lead-in")
    assert error is not None
    assert error.message.startswith("must be <= months_since_onset + 2.99 months to the landmark (12.9897), got 13.5")
