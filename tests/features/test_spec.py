"""The spec is the single source of truth: generated artefacts must agree with it."""

from __future__ import annotations

import pytest

from features import spec as S
from features.contracts import pandera_schema
from features.spec_doc import render
from tests.conftest import REPO


def test_data_formats_doc_is_generated_from_the_spec() -> None:
    doc = (REPO / "docs" / "data-formats.md").read_text()
    assert doc == render(), "docs/data-formats.md is stale: run python -m features.spec_doc > docs/data-formats.md"


def test_pandera_schemas_follow_the_spec() -> None:
    for name, table in S.SYNTHETIC_TABLES.items():
        assert list(pandera_schema(name).columns) == list(table.names)


def test_biomarker_fields_carry_canonical_units_in_their_names() -> None:
    for f in S.BIOMARKER_FIELDS:
        assert f.analyte is not None
        assert f.unit == S.CANONICAL_UNIT[f.analyte]
        assert f.name.endswith(f.unit.replace("/", "_").lower())
        assert f.required_for_scoring is False


def test_required_scoring_fields() -> None:
    # diagnostic_delay_months is optional: the cohort keeps patients not diagnosed by the landmark (issue 17)
    assert S.REQUIRED_FOR_SCORING == ("age_at_onset_years", "sex", "onset_site", "months_since_onset",
                                      "alsfrs_r_total")


def test_unit_conversion_factors() -> None:
    assert S.unit_factor("nfl", "ng/L") == 1.0
    assert S.unit_factor("nfl", " NG/ML ") == 1000.0
    assert S.unit_factor("lcn2", "mcg/L") == 1.0
    assert S.unit_factor("lcn2", "pg/mL") == 0.001
    with pytest.raises(KeyError, match="unknown unit 'mmol/L' for analyte 'lcn2'"):
        S.unit_factor("lcn2", "mmol/L")


def test_spec_hash_is_stable_within_a_process() -> None:
    assert S.spec_hash() == S.spec_hash()
    assert len(S.spec_hash()) == 16
