"""Stage 1 assembly: exact values for every definition, the report, leakage guards and the ``cohort`` command.

Fixtures are tiny hand-made raw tables passed through the real contract (:func:`validate_tables`), so every
test input is something a user could load. Expected values are written as the arithmetic of the definition
(days / 30.4375 and so on), not recomputed with the code under test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features import spec as S
from features.cohort import assemble as C
from features.cohort.assemble import build_cohort, nearest_to_day0
from features.cohort.table import Cohort, ExcludedRecord, ImportReport, cohort_dtype, read_cohort
from features.contracts import parse_table, validate_tables
from features.errors import FeatureDataError
from training.cli.app import app

DPM = S.DAYS_PER_MONTH
ITEMS_40 = [4, 4, 4, 3, 3, 3, 3, 3, 3, 4, 3, 3]  # sums to 40

PATIENT: dict[str, Any] = {
    "sex": "female",
    "age_at_onset_years": 55.0,
    "onset_site": "limb",
    "onset_day": -365,
    "diagnosis_day": -122,
    "el_escorial": "probable",
    "c9orf72": "negative",
    "ftd": "no",
    "riluzole": True,
    "height_cm": 170.0,
    "last_contact_day": 400,
}


def patient(pid: str, **fields: Any) -> dict[str, Any]:
    return {"patient_id": pid, **PATIENT, **fields}


def visit(
    pid: str,
    day: int,
    total: float | None = None,
    items: Iterable[float | None] | None = None,
    fvc: float | None = None,
    weight: float | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "patient_id": pid,
        "day": day,
        "alsfrs_r_total": total,
        "fvc_pct_pred": fvc,
        "weight_kg": weight,
    }
    if items is not None:
        row.update(dict(zip(S.ALSFRS_ITEMS, items, strict=False)))
    return row


def sample(pid: str, day: int, analyte: str, matrix: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "patient_id": pid,
        "day": day,
        "analyte": analyte,
        "matrix": matrix,
        "value": value,
        "unit": unit,
        "assay": "simoa",
    }


def raw_tables(
    patients: list[dict[str, Any]],
    visits: Iterable[dict[str, Any]] = (),
    biomarkers: Iterable[dict[str, Any]] = (),
    events: Iterable[dict[str, Any]] = (),
) -> dict[str, pd.DataFrame]:
    """Raw tables as a Parquet export holds them (missing cells NaN/None)."""
    rows = {"patients": patients, "visits": list(visits), "biomarkers": list(biomarkers), "events": list(events)}
    return {name: pd.DataFrame(r, columns=list(S.RAW_TABLES[name].names)) for name, r in rows.items()}


def typed(raw: Mapping[str, pd.DataFrame], *, validate: bool = True) -> dict[str, pd.DataFrame]:
    """Validated tables; ``validate=False`` only parses, to test assembly's defences against invalid input."""
    if validate:
        return validate_tables(raw)
    return {name: parse_table(frame, name, []) for name, frame in raw.items()}


def assemble(raw: Mapping[str, pd.DataFrame], **kwargs: Any) -> Cohort:
    """Assemble at the lead-in landmark (L = day 91) unless told otherwise: most definitions below are its windows."""
    kwargs.setdefault("landmark", "lead-in")
    return build_cohort(typed(raw), source="native", **kwargs)


def row(cohort: Cohort, pid: str) -> pd.Series:
    table = cohort.table.set_index("patient_id")
    return table.loc[pid]


# ---------------------------------------------------------------------------------------------------------------
# A small cohort exercising every baseline definition
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def small_raw() -> dict[str, pd.DataFrame]:
    patients = [
        patient("P3", last_contact_day=100),
        patient("P1"),
        patient("P5", height_cm=None, diagnosis_day=None, last_contact_day=0),
        patient("P2", last_contact_day=100, onset_day=-30, diagnosis_day=91),
        patient("P4", height_cm=175.0, diagnosis_day=92),
    ]
    visits = [
        # P1: the day -1 visit is nearer to day 0 but outside the baseline window [0, 91].
        visit("P1", -1, 47),
        visit("P1", 2, 40, ITEMS_40),
        visit("P1", 32, 39),
        visit("P1", 62, 38),
        visit("P1", 92, 20),
        # P2: baseline total from the 12 items (all 3 -> 36).
        visit("P2", 0, None, [3] * 12),
        visit("P2", 45, 33),
        # P3: day 0 has 11 items and no total: not an ALSFRS visit, but its FVC is used.
        visit("P3", 0, None, [4] * 11, fvc=80.0),
        visit("P3", 10, 44),
        # P4: FVC and weight, each from its own nearest visit.
        visit("P4", 0, weight=70.0),
        visit("P4", 10, fvc=90.0),
        visit("P4", 20, fvc=88.0, weight=71.4),
        visit("P4", 100, weight=60.0),
        # An empty visit: excluded with its reason.
        visit("P4", 50),
    ]
    biomarkers = [
        sample("P1", -1, "nfl", "serum", 99.0, "pg/mL"),  # before day 0: not baseline
        sample("P1", 5, "nfl", "serum", 25.0, "ng/L"),  # nearest: 25 ng/L = 25 pg/mL
        sample("P1", 10, "nfl", "serum", 0.03, "ng/mL"),  # in window, not nearest
        sample("P1", 92, "nfl", "serum", 1.0, "pg/mL"),  # after the window
        sample("P1", 0, "lcn2", "plasma", 150.0, "µg/L"),  # 150 µg/L = 150 ng/mL
        sample("P1", 3, "lcn2", "csf", 0.5, "µg/mL"),  # 0.5 µg/mL = 500 ng/mL
        sample("P1", 7, "nfl", "csf", 1000.0, "pg/mL"),  # same-day replicates: mean of 1000 and 2000 pg/mL
        sample("P1", 7, "nfl", "csf", 2.0, "ng/mL"),
        sample("P1", 0, "pnfh", "plasma", 10.0, "pg/mL"),  # no cohort field for pNfH in plasma
        sample("P1", 0, "pnfh", "csf", 1.2, "ng/mL"),  # 1,200 pg/mL
        sample("P2", 500, "nfl", "serum", 40.0, "pg/mL"),  # late sample: only a contact day
    ]
    events = [
        {"patient_id": "P1", "event": "death", "day": 300},
        {"patient_id": "P1", "event": "tracheostomy", "day": 200},
        {"patient_id": "P3", "event": "permanent_niv", "day": 0},
    ]
    return raw_tables(patients, visits, biomarkers, events)


@pytest.fixture
def small(small_raw: dict[str, pd.DataFrame]) -> Cohort:
    return assemble(small_raw)


def test_every_patient_kept_in_patients_order(small: Cohort) -> None:
    assert small.table["patient_id"].tolist() == ["P3", "P1", "P5", "P2", "P4"]
    assert small.table.index.equals(pd.RangeIndex(5))
    assert small.source == "native"
    assert small.alsfrs_scale == 48


def test_columns_and_dtypes_equal_the_spec(small: Cohort) -> None:
    assert list(small.table.columns) == [f.name for f in S.COHORT_FIELDS]
    for f in S.COHORT_FIELDS:
        assert small.table[f.name].dtype == cohort_dtype(f), f.name


def test_empty_input_gives_an_empty_typed_table() -> None:
    cohort = assemble(raw_tables([]))
    assert len(cohort.table) == 0
    assert list(cohort.table.columns) == [f.name for f in S.COHORT_FIELDS]
    assert all(cohort.table[f.name].dtype == cohort_dtype(f) for f in S.COHORT_FIELDS)


def test_history_fields_in_months(small: Cohort) -> None:
    p1 = row(small, "P1")
    assert p1["months_since_onset"] == pytest.approx(365 / DPM, rel=1e-12)
    assert p1["diagnostic_delay_months"] == pytest.approx((-122 + 365) / DPM, rel=1e-12)
    p2 = row(small, "P2")  # diagnosis on day 91: still inside the history window
    assert p2["months_since_onset"] == pytest.approx(30 / DPM, rel=1e-12)
    assert p2["diagnostic_delay_months"] == pytest.approx((91 + 30) / DPM, rel=1e-12)
    assert pd.isna(row(small, "P5")["diagnostic_delay_months"])  # no diagnosis day
    assert pd.isna(row(small, "P4")["diagnostic_delay_months"])  # diagnosed on day 92: after the window
    assert small.report is not None
    assert small.report.counts["patients_diagnosis_after_landmark"] == 1


def test_patient_fields_copied(small: Cohort) -> None:
    p1 = row(small, "P1")
    assert (p1["sex"], p1["onset_site"], p1["el_escorial"], p1["c9orf72"], p1["ftd"]) == (
        "female",
        "limb",
        "probable",
        "negative",
        "no",
    )
    assert bool(p1["riluzole"]) is True
    assert p1["age_at_onset_years"] == 55.0


def test_alsfrs_from_the_visit_nearest_day0_inside_the_window(small: Cohort) -> None:
    p1 = row(small, "P1")
    assert p1["alsfrs_r_total"] == 40.0  # day 2, not day -1 (outside [0, 91])
    assert [p1[item] for item in S.ALSFRS_ITEMS] == ITEMS_40
    # Days 2, 32, 62 with 40, 39, 38: one point per 30 days; day 92 is outside the window.
    assert p1["alsfrs_r_slope_baseline"] == pytest.approx(-DPM / 30, rel=1e-12)


def test_total_from_items_when_absent(small: Cohort) -> None:
    p2 = row(small, "P2")
    assert p2["alsfrs_r_total"] == 36.0
    assert [p2[item] for item in S.ALSFRS_ITEMS] == [3.0] * 12
    assert p2["alsfrs_r_slope_baseline"] == pytest.approx(-3 / (45 / DPM), rel=1e-12)
    assert small.report is not None
    assert small.report.counts["visits_total_from_items"] == 1


def test_incomplete_items_without_total_are_not_a_total(small: Cohort) -> None:
    p3 = row(small, "P3")
    assert p3["alsfrs_r_total"] == 44.0  # from day 10, the nearest visit that has a total
    assert all(pd.isna(p3[item]) for item in S.ALSFRS_ITEMS)  # the day 10 visit recorded no items
    assert pd.isna(p3["alsfrs_r_slope_baseline"])  # one ALSFRS visit
    assert pd.isna(p3["fvc_change_pct"])  # one FVC visit
    assert p3["fvc_pct_pred"] == 80.0  # the day 0 visit still gives FVC
    assert small.report is not None
    assert small.report.counts["visits_items_incomplete_without_total"] == 1


def test_fvc_weight_bmi_and_their_slopes(small: Cohort) -> None:
    p4 = row(small, "P4")
    assert p4["fvc_pct_pred"] == 90.0  # day 10: the nearest visit having FVC
    assert p4["fvc_slope_baseline"] == pytest.approx(-2 / (10 / DPM), rel=1e-12)
    assert p4["fvc_change_pct"] == pytest.approx(100 * (88.0 - 90.0) / 90.0, rel=1e-12)  # days 10 -> 20
    assert p4["bmi"] == pytest.approx(70.0 / 1.75**2, rel=1e-12)  # day 0 weight, height 175 cm
    assert p4["weight_change_pct"] == pytest.approx(100 * (71.4 - 70.0) / 70.0, rel=1e-12)  # day 100 is outside
    assert p4["weight_slope_baseline"] == pytest.approx(1.4 / (20 / DPM), rel=1e-9)
    assert pd.isna(p4["alsfrs_r_total"])


def test_missing_stays_missing(small: Cohort) -> None:
    p5 = row(small, "P5")  # no visits, no samples, no height
    baseline_measurements = [
        f.name for f in S.BASELINE_FIELDS if f.kind == "numeric" and f.group not in ("history", "clinical")
    ]
    assert all(pd.isna(p5[name]) for name in baseline_measurements)
    p1 = row(small, "P1")  # no FVC and no weight recorded
    assert all(pd.isna(p1[name]) for name in ("fvc_pct_pred", "bmi", "weight_change_pct", "weight_slope_baseline"))


def test_biomarkers_nearest_day0_in_canonical_units(small: Cohort) -> None:
    p1 = row(small, "P1")
    assert p1["nfl_serum_pg_ml"] == pytest.approx(25.0)  # ng/L -> pg/mL, day 5 (not day -1, not day 10)
    assert p1["lcn2_plasma_ng_ml"] == pytest.approx(150.0)  # µg/L -> ng/mL
    assert p1["lcn2_csf_ng_ml"] == pytest.approx(500.0)  # µg/mL -> ng/mL
    assert p1["nfl_csf_pg_ml"] == pytest.approx(1500.0)  # same-day replicates averaged after conversion
    assert p1["pnfh_csf_pg_ml"] == pytest.approx(1200.0)  # ng/mL -> pg/mL
    for name in ("nfl_plasma_pg_ml", "pnfh_serum_pg_ml", "lcn2_serum_ng_ml"):
        assert pd.isna(p1[name])  # missing is not zero
    assert pd.isna(row(small, "P2")["nfl_serum_pg_ml"])  # its only sample is on day 500


def test_slope_outcome_is_missing_without_follow_up(small: Cohort) -> None:
    assert small.table["alsfrs_r_slope_3_12"].isna().all()  # P1 has one visit after day 91 (day 92)


def test_survival_outcome_counted_from_the_landmark(small: Cohort) -> None:
    lead_in = 91  # the small cohort is assembled at the lead-in landmark
    expected = {  # patient: (months from day 91, event observed)
        "P1": ((200 - lead_in) / DPM, True),  # tracheostomy on day 200 precedes death on day 300
        "P2": ((500 - lead_in) / DPM, False),  # censored at its latest contact: a biomarker sample on day 500
        "P4": ((400 - lead_in) / DPM, False),  # last_contact_day 400 is later than its last visit (day 100)
    }
    for pid, (months, observed) in expected.items():
        r = row(small, pid)
        assert r["time_to_event_months"] == pytest.approx(months, rel=1e-12, abs=1e-12), pid
        assert bool(r["event_observed"]) is observed, pid
    # Permanent NIV on day 0 (P3) and a last contact on day 0 (P5) fall before the landmark: no outcome at all.
    for pid in ("P3", "P5"):
        r = row(small, pid)
        assert np.isnan(r["time_to_event_months"]), pid
        assert pd.isna(r["event_observed"]), pid


def test_report_counts_every_record(small: Cohort) -> None:
    report = small.report
    assert report is not None
    assert report.source == "native"
    c = report.counts
    assert c["patients_read"] == c["patients_in_cohort"] == 5
    assert c["visits_read"] == 14
    assert c["visits_excluded"] == 1
    assert c["visits_before_window"] == 1
    assert c["visits_used_baseline"] == 10
    assert c["visits_after_landmark"] == 2  # P1 day 92, P4 day 100
    assert c["visits_after_outcome_window"] == 0
    assert c["visits_outcome_window_insufficient"] == 1  # P1 day 92
    assert c["visits_outcome_window_without_alsfrs"] == 1  # P4 day 100 (weight only)
    assert c["visits_used_outcome"] == 0
    assert c["biomarkers_read"] == 11
    assert c["biomarkers_excluded"] == 1
    assert c["biomarkers_before_window"] == 1
    assert c["biomarkers_used"] == 6
    assert c["biomarkers_used_same_day_replicates"] == 2
    assert c["biomarkers_window_not_nearest"] == 1
    assert c["biomarkers_after_window"] == 2
    assert (c["events_read"], c["events_used"], c["events_after_first_endpoint"]) == (3, 2, 1)
    assert (c["patients_with_endpoint"], c["patients_censored"]) == (1, 2)
    assert (c["patients_endpoint_at_or_before_landmark"], c["patients_censored_at_or_before_landmark"]) == (1, 1)
    assert c["patients_with_slope_outcome"] == 0
    assert c["cohort_values_out_of_bounds"] == 0


def test_report_lists_excluded_records_with_reasons(small: Cohort) -> None:
    assert small.report is not None
    assert small.report.excluded == [
        ExcludedRecord("visits", 14, "P4", C.REASON_EMPTY_VISIT),
        ExcludedRecord("biomarkers", 9, "P1", C.REASON_NO_FIELD),
        ExcludedRecord("cohort", 1, "P3", C.REASON_SURVIVAL_AT_LANDMARK),
        ExcludedRecord("cohort", 3, "P5", C.REASON_SURVIVAL_AT_LANDMARK),
    ]
    assert any("pnfh/plasma" in note for note in small.report.notes)
    assert any("2 patients have no survival outcome at the lead-in landmark (day 91): 1 had the endpoint and 1 "
               "their last contact at or before it" in note for note in small.report.notes)


def test_report_is_json_ready(small: Cohort) -> None:
    import json

    assert small.report is not None
    data = json.loads(json.dumps(small.report.to_dict()))
    assert data["exclusion_summary"] == {f"visits: {C.REASON_EMPTY_VISIT}": 1, f"biomarkers: {C.REASON_NO_FIELD}": 1,
                                         f"cohort: {C.REASON_SURVIVAL_AT_LANDMARK}": 2}


def test_a_passed_report_is_extended(small_raw: dict[str, pd.DataFrame]) -> None:
    prior = ImportReport(
        source="proact", counts={"proact_files": 7}, excluded=[ExcludedRecord("labs", 3, "P9", "text lab result")]
    )
    cohort = assemble(small_raw, report=prior)
    assert cohort.report is prior
    assert prior.counts["proact_files"] == 7
    assert prior.counts["visits_read"] == 14
    assert prior.excluded[0] == ExcludedRecord("labs", 3, "P9", "text lab result")
    assert len(prior.excluded) == 5  # + 2 patients without a survival outcome at the landmark


# ---------------------------------------------------------------------------------------------------------------
# Slope outcome and its window edges, through build_cohort
# ---------------------------------------------------------------------------------------------------------------
def test_slope_outcome_window_edges_and_rules() -> None:
    patients = [patient(f"S{i}") for i in range(1, 8)]
    visits = [
        visit("S1", 91, 48),
        visit("S1", 100, 38),
        visit("S1", 190, 35),  # day 91 not in (91, 365]
        visit("S2", 100, 40),
        visit("S2", 189, 35),  # span 89 days
        visit("S3", 91, 40),
        visit("S3", 181, 35),  # one visit in the window
        visit("S4", 200, 40),
        visit("S4", 365, 35),
        visit("S4", 366, 0),  # 365 in, 366 out
        visit("S5", 150, 40),  # a single visit
        visit("S6", 100, fvc=80.0),
        visit("S6", 120, 40),
        visit("S6", 200, fvc=70.0),  # one total only
        visit("S7", 100, 40),
        visit("S7", 150, 38),
        visit("S7", 200, 37),  # three visits, by hand
    ]
    cohort = assemble(raw_tables(patients, visits))
    slopes = cohort.table.set_index("patient_id")["alsfrs_r_slope_3_12"]
    assert slopes["S1"] == pytest.approx(-3 / (90 / DPM), rel=1e-12)
    assert slopes["S4"] == pytest.approx(-5 / (165 / DPM), rel=1e-12)
    assert slopes["S7"] == pytest.approx(-0.03 * DPM, rel=1e-12)
    assert slopes[["S2", "S3", "S5", "S6"]].isna().all()
    assert cohort.report is not None
    c = cohort.report.counts
    assert c["visits_used_outcome"] == 2 + 2 + 3
    assert c["visits_outcome_window_insufficient"] == 2 + 1 + 1 + 1
    assert c["visits_outcome_window_without_alsfrs"] == 2
    assert c["visits_after_outcome_window"] == 1
    assert c["visits_used_baseline"] == 2  # the two day-91 visits
    assert c["patients_with_slope_outcome"] == 3


# ---------------------------------------------------------------------------------------------------------------
# Tie-break, bounds, defences against input that skipped validation
# ---------------------------------------------------------------------------------------------------------------
def test_nearest_to_day0_prefers_the_earlier_day_on_ties() -> None:
    groups = np.array([0, 0, 1, 1, 1, 2])
    days = np.array([3.0, -3.0, 10.0, 4.0, 7.0, 0.0])
    np.testing.assert_array_equal(nearest_to_day0(groups, days, 4), [-3.0, 4.0, 0.0, np.nan])


def test_out_of_bounds_derived_value_is_left_missing_and_reported() -> None:
    # 70 -> 72 kg in one day is 60.9 kg/month: outside the spec's [-50, 50], so it is not a usable value.
    raw = raw_tables([patient("B1")], [visit("B1", 0, weight=70.0), visit("B1", 1, weight=72.0)])
    cohort = assemble(raw)
    r = row(cohort, "B1")
    assert pd.isna(r["weight_slope_baseline"])
    assert r["weight_change_pct"] == pytest.approx(100 * 2 / 70)
    assert cohort.report is not None
    assert cohort.report.excluded == [
        ExcludedRecord("cohort", 1, "B1", "weight_slope_baseline not within [-50, 50] (kg/month): left missing")
    ]
    assert cohort.report.counts["cohort_values_out_of_bounds"] == 1


def test_unvalidated_orphans_duplicates_and_missing_days_are_excluded() -> None:
    raw = raw_tables(
        [patient("D1")],
        [
            visit("D1", 0, 40),
            visit("D1", 0, 38),
            visit("D1", 10, 39),
            visit("X9", 0, 40),
            {**visit("D1", 0, 30), "day": None},
        ],
        [sample("X9", 0, "nfl", "serum", 10.0, "pg/mL"), sample("D1", 0, "nfl", "serum", 10.0, "furlongs")],
        [
            {"patient_id": "X9", "event": "death", "day": 5},
            {"patient_id": "D1", "event": "death", "day": -4},
            {"patient_id": "D1", "event": "hospitalisation", "day": 3},
        ],
    )
    cohort = build_cohort(typed(raw, validate=False), source="native", landmark="lead-in")
    assert cohort.report is not None
    assert cohort.report.excluded == [
        ExcludedRecord("visits", 4, "X9", C.REASON_UNKNOWN_PATIENT),
        ExcludedRecord("visits", 5, "D1", C.REASON_NO_DAY),
        ExcludedRecord("visits", 1, "D1", C.REASON_DUPLICATE_VISIT),
        ExcludedRecord("visits", 2, "D1", C.REASON_DUPLICATE_VISIT),
        ExcludedRecord("biomarkers", 1, "X9", C.REASON_UNKNOWN_PATIENT),
        ExcludedRecord("biomarkers", 2, "D1", C.REASON_UNKNOWN_UNIT),
        ExcludedRecord("events", 1, "X9", C.REASON_UNKNOWN_PATIENT),
        ExcludedRecord("events", 3, "D1", C.REASON_UNKNOWN_EVENT),
        ExcludedRecord("events", 2, "D1", C.REASON_EVENT_BEFORE_DAY0),
    ]
    r = row(cohort, "D1")
    assert r["alsfrs_r_total"] == 39.0  # the ambiguous day-0 pair is not used
    assert not bool(r["event_observed"])


def test_alsfrs_scale_is_checked() -> None:
    raw = raw_tables([patient("L1")], [visit("L1", 0, 44)])
    with pytest.raises(FeatureDataError, match=r"visits row 1, column alsfrs_r_total: must be within \[0, 40\]"):
        assemble(raw, alsfrs_scale=40)
    assert assemble(raw_tables([patient("L1")], [visit("L1", 0, 36)]), alsfrs_scale=40).alsfrs_scale == 40
    with pytest.raises(ValueError, match="alsfrs_scale must be one of"):
        assemble(raw, alsfrs_scale=30)


def test_missing_table_or_column_is_refused() -> None:
    raw = raw_tables([patient("M1")])
    del raw["events"]
    with pytest.raises(FeatureDataError, match="events: required table is missing"):
        build_cohort(raw, source="native")
    raw = raw_tables([patient("M1")])
    raw["visits"] = raw["visits"].drop(columns=["weight_kg"])
    with pytest.raises(FeatureDataError, match="visits, column weight_kg: required column is missing"):
        build_cohort(raw, source="native")
    # Untyped text tables (a CSV read without the contract) are refused, not half-parsed.
    raw = raw_tables([patient("M1")])
    with pytest.raises(FeatureDataError, match="patients, column onset_day: must have a numeric dtype"):
        build_cohort({name: frame.astype(str) for name, frame in raw.items()}, source="native")


def test_truth_table_is_ignored(small_raw: dict[str, pd.DataFrame]) -> None:
    tables = typed(small_raw)
    tables["truth"] = pd.DataFrame({"patient_id": ["P1"], "subtype": [0]})
    with_truth = build_cohort(tables, source="synthetic", landmark="lead-in")
    pd.testing.assert_frame_equal(with_truth.table, assemble(small_raw).table)


def test_row_order_of_records_does_not_matter(small_raw: dict[str, pd.DataFrame], rng: np.random.Generator) -> None:
    reference = assemble(small_raw).table
    shuffled = {
        name: frame if name == "patients" else frame.sample(frac=1.0, random_state=rng)
        for name, frame in small_raw.items()
    }
    pd.testing.assert_frame_equal(assemble(shuffled).table, reference)


# ---------------------------------------------------------------------------------------------------------------
# Leakage guards: seeded random cohorts, many random mutations on one side of day 91
# ---------------------------------------------------------------------------------------------------------------
N_MUTATIONS = 12
PAIRS = [(a, m) for a in S.ANALYTES for m in S.MATRICES]


def random_visits(rng: np.random.Generator, pids: np.ndarray, days: np.ndarray) -> pd.DataFrame:
    """Visits on the given (patient, day) pairs with every recording pattern the contract allows."""
    n = len(pids)
    level = rng.integers(0, 5, (n, 12)).astype(float)
    mode = rng.integers(0, 6, n)  # 0 total+items, 1 items, 2 total, 3 partial items, 4 FVC/weight only, 5 empty
    items = np.where(np.isin(mode, [0, 1, 3])[:, None], level, np.nan)
    items[mode == 3, rng.integers(0, 12)] = np.nan
    total = np.where(np.isin(mode, [0, 2]), level.sum(axis=1), np.nan)
    frame = pd.DataFrame({"patient_id": pids, "day": days, "alsfrs_r_total": total})
    for j, item in enumerate(S.ALSFRS_ITEMS):
        frame[item] = items[:, j]
    frame["fvc_pct_pred"] = np.where((mode != 5) & (rng.random(n) < 0.6), rng.uniform(20, 120, n).round(1), np.nan)
    frame["weight_kg"] = np.where((mode != 5) & (rng.random(n) < 0.6), rng.uniform(40, 120, n).round(1), np.nan)
    return frame[list(S.VISITS.names)]


def random_samples(rng: np.random.Generator, pids: np.ndarray, days: np.ndarray) -> pd.DataFrame:
    pair = rng.integers(0, len(PAIRS), len(pids))
    analyte = [PAIRS[k][0] for k in pair]
    unit = [str(rng.choice(list(S.UNIT_FACTORS[a]))) for a in analyte]
    matrix = [PAIRS[k][1] for k in pair]
    # The contract refuses implausible values (the spec's plausible ranges, after unit conversion): draw in the
    # canonical unit, keep within the range, and write the value in the row's unit.
    ranges = {r.field: (r.lower, r.upper) for r in S.PLAUSIBLE_RANGES}
    bounds = [ranges.get(S.biomarker_field_name(a, m) or "", (1e-6, 1e9)) for a, m in zip(analyte, matrix, strict=True)]
    # (a hair inside the range: converting back and forth must not round a value across an edge)
    canonical = np.clip(rng.lognormal(3, 1, len(pids)), [b[0] * 1.001 for b in bounds], [b[1] * 0.999 for b in bounds])
    return pd.DataFrame(
        {
            "patient_id": pids,
            "day": days,
            "analyte": analyte,
            "matrix": matrix,
            "value": canonical / np.array([S.UNIT_FACTORS[a][u] for a, u in zip(analyte, unit, strict=True)]),
            "unit": unit,
            "assay": "simoa",
        }
    )


def random_events(rng: np.random.Generator, ids: list[str]) -> pd.DataFrame:
    rows = [
        {"patient_id": pid, "event": event, "day": int(rng.integers(0, 900))}
        for pid in ids
        if rng.random() < 0.4
        for event in rng.choice(S.EVENTS, int(rng.integers(1, 3)), replace=False)
    ]
    return pd.DataFrame(rows, columns=list(S.EVENTS_TABLE.names))


def random_raw(rng: np.random.Generator, n: int = 120) -> dict[str, pd.DataFrame]:
    ids = [f"R{i:03d}" for i in range(n)]
    onset = -rng.integers(30, 2000, n)
    diagnosis = onset + rng.integers(0, 2100, n)
    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "sex": rng.choice(S.SEX, n),
            "age_at_onset_years": rng.uniform(20, 90, n).round(1),
            "onset_site": rng.choice(S.ONSET_SITE, n),
            "onset_day": onset,
            "diagnosis_day": np.where(rng.random(n) < 0.1, np.nan, diagnosis),
            "el_escorial": rng.choice(S.EL_ESCORIAL, n),
            "c9orf72": rng.choice(S.C9ORF72, n),
            "ftd": rng.choice(S.FTD, n),
            "riluzole": rng.random(n) < 0.5,
            "height_cm": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(150, 200, n).round(1)),
            # About a third of the patients are lost to follow-up inside the baseline window.
            "last_contact_day": np.where(rng.random(n) < 0.3, rng.integers(0, 92, n), rng.integers(92, 1500, n)),
        }
    )
    vp, vd, bp, bd = [], [], [], []
    for pid in ids:
        days = rng.choice(np.arange(-200, 800), int(rng.integers(0, 14)), replace=False)
        vp += [pid] * len(days)
        vd += list(days)
        k = int(rng.integers(0, 12))
        bp += [pid] * k
        bd += list(rng.integers(-100, 600, k))
    return {
        "patients": patients,
        "visits": random_visits(rng, np.array(vp), np.array(vd)),
        "biomarkers": random_samples(rng, np.array(bp), np.array(bd)),
        "events": random_events(rng, ids),
    }


def mutate_side(raw: dict[str, pd.DataFrame], rng: np.random.Generator, *, late: bool) -> dict[str, pd.DataFrame]:
    """Redraw, drop and add visits and samples on one side of day 91 (late: day > 91; else day <= 91)."""
    out = dict(raw)
    ids = raw["patients"]["patient_id"].to_numpy()
    low, high = (S.BASELINE_WINDOW_END_DAY + 1, 1500) if late else (-400, S.BASELINE_WINDOW_END_DAY + 1)
    for name, draw in (("visits", random_visits), ("biomarkers", random_samples)):
        frame = raw[name]
        side = (frame["day"] > S.BASELINE_WINDOW_END_DAY) == late
        keep = frame[~side]
        mine = frame[side]
        mine = mine[rng.random(len(mine)) < 0.7]  # drop some
        redrawn = draw(rng, mine["patient_id"].to_numpy(), mine["day"].to_numpy())  # new values, same days
        k = int(rng.integers(1, 30))
        added = draw(rng, rng.choice(ids, k), rng.integers(low, high, k))
        merged = pd.concat([keep, redrawn, added], ignore_index=True)
        if name == "visits":  # one visit per patient and day
            merged = merged.drop_duplicates(subset=["patient_id", "day"], keep="first")
        out[name] = merged.reset_index(drop=True)
    return out


def mutate_follow_up_only(raw: dict[str, pd.DataFrame], rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Everything a baseline field must not see: late records, endpoints, last contact, late diagnoses."""
    out = mutate_side(raw, rng, late=True)
    ids = raw["patients"]["patient_id"].tolist()
    out["events"] = random_events(rng, ids)
    patients = raw["patients"].copy()
    patients["last_contact_day"] = rng.integers(0, 1500, len(patients))
    late_dx = patients["diagnosis_day"] > S.BASELINE_WINDOW_END_DAY
    patients.loc[late_dx, "diagnosis_day"] = rng.integers(92, 3000, int(late_dx.sum()))
    out["patients"] = patients
    return out


def mutate_baseline_only(raw: dict[str, pd.DataFrame], rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Everything an outcome must not see: records on or before day 91 and the patients' baseline fields."""
    out = mutate_side(raw, rng, late=False)
    patients = raw["patients"].copy()
    n = len(patients)
    patients["age_at_onset_years"] = rng.uniform(20, 90, n).round(1)
    patients["sex"] = rng.choice(S.SEX, n)
    patients["height_cm"] = rng.uniform(150, 200, n).round(1)
    early_dx = patients["diagnosis_day"] <= S.BASELINE_WINDOW_END_DAY
    patients.loc[early_dx, "diagnosis_day"] = rng.integers(-30, 92, int(early_dx.sum()))
    patients["onset_day"] = np.minimum(patients["diagnosis_day"].fillna(0), 0) - rng.integers(0, 900, n)
    out["patients"] = patients
    return out


BASELINE_COLUMNS = ["patient_id", *S.BASELINE_NAMES]


def quick(raw: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Assemble without the (slow) contract check: the generators below are proven valid by the next test."""
    return build_cohort(typed(raw, validate=False), source="native", landmark="lead-in").table


def test_leakage_generators_produce_valid_tables(rng: np.random.Generator) -> None:
    for _ in range(2):
        raw = random_raw(rng)
        for tables in (raw, mutate_follow_up_only(raw, rng), mutate_baseline_only(raw, rng)):
            validated = validate_tables(tables)
            pd.testing.assert_frame_equal(build_cohort(validated, source="native", landmark="lead-in").table,
                                          quick(tables))


def test_leakage_follow_up_never_changes_a_baseline_field(rng: np.random.Generator) -> None:
    for _ in range(N_MUTATIONS):
        raw = random_raw(rng)
        before = quick(raw)[BASELINE_COLUMNS]
        after = quick(mutate_follow_up_only(raw, rng))[BASELINE_COLUMNS]
        pd.testing.assert_frame_equal(after, before)


def test_leakage_baseline_never_changes_an_outcome(rng: np.random.Generator) -> None:
    """Records on or before day 91 never change the slope outcome or the survival outcome at the lead-in landmark.

    A patient whose follow-up ended on or before the landmark has no survival outcome there at all, so nothing
    recorded inside the window can move an outcome (before landmarks, such a record could move a censoring time).
    """
    for _ in range(N_MUTATIONS):
        raw = random_raw(rng)
        before = quick(raw).set_index("patient_id")
        mutated = mutate_baseline_only(raw, rng)
        after = quick(mutated).set_index("patient_id")
        pd.testing.assert_series_equal(after["alsfrs_r_slope_3_12"], before["alsfrs_r_slope_3_12"])
        pd.testing.assert_series_equal(after["event_observed"], before["event_observed"])
        pd.testing.assert_series_equal(after["time_to_event_months"], before["time_to_event_months"])
        followed = _latest_contact(mutated).reindex(after.index) > S.BASELINE_WINDOW_END_DAY
        assert after["time_to_event_months"][~followed].isna().all()


def _latest_contact(raw: dict[str, pd.DataFrame]) -> pd.Series:
    days = pd.concat(
        [
            raw["patients"][["patient_id"]].assign(day=raw["patients"]["last_contact_day"]),
            *(raw[t][["patient_id", "day"]] for t in ("visits", "biomarkers", "events")),
        ]
    )
    return days.groupby("patient_id")["day"].max().astype(float)


# ---------------------------------------------------------------------------------------------------------------
# The ``alsstrat cohort`` command
# ---------------------------------------------------------------------------------------------------------------
def _write_csv(raw: Mapping[str, pd.DataFrame], folder: Path) -> None:
    folder.mkdir()
    for name, frame in raw.items():
        frame.to_csv(folder / f"{name}.csv", index=False)


def test_cli_cohort_writes_table_and_report(small_raw: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    _write_csv(small_raw, tmp_path / "raw")
    out = tmp_path / "c.parquet"
    result = CliRunner().invoke(
        app, ["cohort", "--source", "native", "--input", str(tmp_path / "raw"), "--out", str(out),
              "--landmark", "lead-in"]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert (tmp_path / "c.report.json").is_file()
    back = read_cohort(out)
    assert back.source == "native"
    assert back.alsfrs_scale == 48
    pd.testing.assert_frame_equal(back.table, assemble(small_raw).table)

    import json

    report = json.loads((tmp_path / "c.report.json").read_text())
    assert report["counts"]["visits_read"] == 14
    assert report["excluded"][0] == {"table": "visits", "row": 14, "patient_id": "P4", "reason": C.REASON_EMPTY_VISIT}


def test_cli_cohort_bad_table_exits_2_and_writes_nothing(small_raw: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    small_raw["visits"].loc[0, "alsfrs_r_total"] = 60
    _write_csv(small_raw, tmp_path / "raw")
    out = tmp_path / "c.parquet"
    result = CliRunner().invoke(
        app, ["cohort", "--source", "native", "--input", str(tmp_path / "raw"), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "alsfrs_r_total" in result.output
    assert not out.exists()
    assert not (tmp_path / "c.report.json").exists()


# ---------------------------------------------------------------------------------------------------------------
# The screening landmark (L = day 0): what a screening visit knows, outcomes counted from day 0
# ---------------------------------------------------------------------------------------------------------------
def test_screening_uses_only_day_0_and_history(small_raw: dict[str, pd.DataFrame]) -> None:
    cohort = assemble(small_raw, landmark="screening")
    assert cohort.landmark == "screening"
    p1 = row(cohort, "P1")
    # P1's visit on day -1 is the nearest one at or before day 0 (days 2..92 are after the screening visit).
    assert p1["alsfrs_r_total"] == 47
    # Its NfL sample on day -1 (99 pg/mL) is the one known at screening; the day-5 sample is not.
    assert p1["nfl_serum_pg_ml"] == pytest.approx(99.0)
    assert p1["lcn2_plasma_ng_ml"] == pytest.approx(150.0)  # drawn on day 0
    assert np.isnan(p1["lcn2_csf_ng_ml"])  # drawn on day 3
    # Series fields need a lead-in: they do not exist at screening, for anyone.
    for name in ("alsfrs_r_slope_baseline", "fvc_slope_baseline", "fvc_change_pct", "weight_slope_baseline",
                 "weight_change_pct"):
        assert cohort.table[name].isna().all(), name
    # A diagnosis after day 0 is not known at screening (P2 on day 91, P4 on day 92).
    assert pd.isna(row(cohort, "P2")["diagnostic_delay_months"])
    assert cohort.report is not None
    assert cohort.report.counts["patients_diagnosis_after_landmark"] == 2


def test_screening_outcomes_count_from_day_0(small_raw: dict[str, pd.DataFrame]) -> None:
    cohort = assemble(small_raw, landmark="screening")
    assert row(cohort, "P1")["time_to_event_months"] == pytest.approx(200 / DPM, rel=1e-12)
    assert row(cohort, "P4")["time_to_event_months"] == pytest.approx(400 / DPM, rel=1e-12)
    # NIV on day 0 and a last contact on day 0: at, not after, the landmark -> no survival outcome.
    for pid in ("P3", "P5"):
        assert np.isnan(row(cohort, pid)["time_to_event_months"]), pid
    # The slope window starts at day 0: P1's visits on days 2, 32, 62 and 92 span 90 days.
    expected = np.polyfit(np.array([2, 32, 62, 92]) / DPM, [40, 39, 38, 20], 1)[0]
    assert row(cohort, "P1")["alsfrs_r_slope_3_12"] == pytest.approx(expected, rel=1e-9)


def test_screening_leakage_nothing_after_day_0_changes_a_baseline_field(rng: np.random.Generator) -> None:
    """Redraw, drop and add every record after day 0, every endpoint and every late diagnosis: the baseline fields
    at the screening landmark do not move."""
    for _ in range(N_MUTATIONS):
        raw = random_raw(rng)
        out = dict(raw)
        ids = raw["patients"]["patient_id"].to_numpy()
        for name, draw in (("visits", random_visits), ("biomarkers", random_samples)):
            frame = raw[name]
            late = frame["day"] > 0
            k = int(rng.integers(1, 30))
            added = draw(rng, rng.choice(ids, k), rng.integers(1, 1500, k))
            merged = pd.concat([frame[~late], draw(rng, frame[late]["patient_id"].to_numpy(),
                                                      frame[late]["day"].to_numpy()), added], ignore_index=True)
            if name == "visits":
                merged = merged.drop_duplicates(subset=["patient_id", "day"], keep="first")
            out[name] = merged.reset_index(drop=True)
        out["events"] = random_events(rng, ids.tolist())
        patients = raw["patients"].copy()
        late_dx = patients["diagnosis_day"] > 0
        patients.loc[late_dx, "diagnosis_day"] = rng.integers(1, 3000, int(late_dx.sum()))
        out["patients"] = patients
        before = build_cohort(typed(raw, validate=False), source="native", landmark="screening").table
        after = build_cohort(typed(out, validate=False), source="native", landmark="screening").table
        pd.testing.assert_frame_equal(after[BASELINE_COLUMNS], before[BASELINE_COLUMNS])


def test_unknown_landmark_is_refused(small_raw: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match="unknown landmark 'week-12': use one of screening, lead-in"):
        assemble(small_raw, landmark="week-12")
