"""Batch validation: a valid batch is validated while parsed; a batch with bad rows falls back to per-row errors."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from features.candidates import ValidatedRows, candidate_rows_type, validate_candidates

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
