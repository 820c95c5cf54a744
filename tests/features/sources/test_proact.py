"""The PRO-ACT importer on hand-made exports: one test per quirk, with the exact values expected.

The fixtures (``tests/fixtures/proact_*``) hold the same eight subjects under three naming schemes: the 2016
archive names, ``PROACT_*`` names in mixed capitalisation (with differently spelled column headers and a
byte-order mark), and the newest ``F_PROACT_*`` names plus the Neurofilament form. Their README lists which
subject carries which quirk.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features import spec as S
from features.cohort.table import ExcludedRecord, ImportReport
from features.contracts import validate_tables
from features.errors import FeatureDataError
from features.sources.proact.load import load_proact
from features.sources.proact.visits import LEGACY_ONLY
from training.cli.app import app

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EXPORT_2016 = FIXTURES / "proact_2016"
EXPORT_V2 = FIXTURES / "proact_v2"
EXPORT_F = FIXTURES / "proact_f"

Imported = tuple[dict[str, pd.DataFrame], ImportReport]


@pytest.fixture(scope="module")
def imported() -> Imported:
    return load_proact(EXPORT_2016)


@pytest.fixture(scope="module")
def tables(imported: Imported) -> dict[str, pd.DataFrame]:
    return imported[0]


@pytest.fixture(scope="module")
def report(imported: Imported) -> ImportReport:
    return imported[1]


def _patient(tables: dict[str, pd.DataFrame], pid: str) -> pd.Series:
    rows = tables["patients"][tables["patients"]["patient_id"] == pid]
    assert len(rows) == 1, f"patient {pid} not imported"
    return rows.iloc[0]


def _visit(tables: dict[str, pd.DataFrame], pid: str, day: int) -> pd.Series:
    visits = tables["visits"]
    rows = visits[(visits["patient_id"] == pid) & (visits["day"] == day)]
    assert len(rows) == 1, f"expected one visit of {pid} on day {day}, got {len(rows)}"
    return rows.iloc[0]


def _items(row: pd.Series) -> list[int]:
    return [int(row[name]) for name in S.ALSFRS_ITEMS]


def _excluded(report: ImportReport, table: str) -> dict[int | None, ExcludedRecord]:
    return {rec.row: rec for rec in report.excluded if rec.table == table}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _drop_column(path: Path, column: str) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.drop(columns=[column]).to_csv(path, index=False)


# ---------------------------------------------------------------------------------------------------------------
# File and column names
# ---------------------------------------------------------------------------------------------------------------
def test_both_naming_schemes_give_the_same_raw_tables(imported: Imported) -> None:
    tables_2016, report_2016 = imported
    tables_v2, report_v2 = load_proact(EXPORT_V2)
    for name in S.RAW_TABLES:
        pd.testing.assert_frame_equal(tables_v2[name], tables_2016[name])
    assert report_v2.counts == report_2016.counts
    # Same records excluded for the same rows; only the file names differ.
    assert [(r.row, r.patient_id) for r in report_v2.excluded] == [(r.row, r.patient_id) for r in report_2016.excluded]


def test_v2_fixture_really_uses_other_file_and_column_spellings() -> None:
    names = {p.name for p in EXPORT_V2.iterdir()}
    assert {"Proact_Alsfrs.csv", "PROACT_ALSHISTORY.CSV", "proact_demographics.csv"} <= names
    assert (EXPORT_V2 / "Proact_Alsfrs.csv").read_text().startswith("SUBJECT_ID,alsfrs_delta,")
    assert "Subject_Liters__Trial_2_" in (EXPORT_V2 / "PROACT_FVC.csv").read_text().splitlines()[0]
    assert (EXPORT_V2 / "proact_demographics.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_file_names_are_matched_case_insensitively(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    for path in EXPORT_2016.iterdir():
        shutil.copy(path, folder / path.name.upper())  # ALSFRS.CSV, ALSHISTORY.CSV, EL_ESCORIAL.CSV ...
    again, _ = load_proact(folder)
    for name in S.RAW_TABLES:
        pd.testing.assert_frame_equal(again[name], tables[name])


def test_newest_f_prefix_release_adds_the_neurofilament_form(tables: dict[str, pd.DataFrame]) -> None:
    tables_f, report_f = load_proact(EXPORT_F)
    for name in ("patients", "visits", "events"):
        pd.testing.assert_frame_equal(tables_f[name], tables[name])
    bio = tables_f["biomarkers"]
    from_nf = bio[bio["assay"].notna() | (bio["unit"] == "ng/L")]
    assert from_nf[["patient_id", "day", "analyte", "matrix", "value", "unit", "assay"]].to_dict("records") == [
        {
            "patient_id": "1001",
            "day": 30,
            "analyte": "nfl",
            "matrix": "csf",
            "value": 850.0,
            "unit": "pg/mL",
            "assay": "Simoa",
        },
        {
            "patient_id": "1001",
            "day": 30,
            "analyte": "nfl",
            "matrix": "serum",
            "value": 52.3,
            "unit": "pg/mL",
            "assay": "Simoa",
        },
        {
            "patient_id": "1004",
            "day": 400,
            "analyte": "nfl",
            "matrix": "serum",
            "value": 61.0,
            "unit": "ng/L",
            "assay": np.nan,
        },
    ]
    assert len(bio) == len(tables["biomarkers"]) + 3
    nf = _excluded(report_f, "F_PROACT_Neurofilament.csv")
    assert nf[3].reason == "censored Result '<LLOQ' (outside the assay's quantification range); not imputed"
    assert nf[5].reason == "matrix 'urine' is not in the spec (serum, plasma, csf)"


def test_files_of_other_forms_are_counted_not_used(report: ImportReport) -> None:
    assert report.counts["rows_not_used_treatment"] == 2
    assert report.counts["rows_not_used_svc"] == 1
    assert "Treatment.csv: 2 rows, not part of the spec (not used)" in report.notes


# ---------------------------------------------------------------------------------------------------------------
# Missing files and columns
# ---------------------------------------------------------------------------------------------------------------
def test_missing_required_file_and_columns_are_all_named(tmp_path: Path) -> None:
    folder = _copy(EXPORT_2016, tmp_path / "export")
    (folder / "demographics.csv").unlink()
    _drop_column(folder / "alsfrs.csv", "ALSFRS_Delta")
    _drop_column(folder / "AlsHistory.csv", "Onset_Delta")
    with pytest.raises(FeatureDataError) as err:
        load_proact(folder)
    assert str(err.value) == (
        f"PRO-ACT export {folder}: 3 violations found, nothing was loaded\n"
        "  - demographics: required file is missing (expected demographics.csv, PROACT_DEMOGRAPHICS.csv or "
        "F_PROACT_DEMOGRAPHICS.csv, any capitalisation)\n"
        "  - AlsHistory.csv, column Onset_Delta: required column is missing\n"
        "  - alsfrs.csv, column ALSFRS_Delta: required column is missing"
    )


def test_missing_column_is_named_as_in_the_data_dictionary(tmp_path: Path) -> None:
    folder = _copy(EXPORT_V2, tmp_path / "export")
    _drop_column(folder / "PROACT_LABS.csv", "test_result")
    _drop_column(folder / "PROACT_VitalSigns.csv", "Weight_Units")
    with pytest.raises(FeatureDataError) as err:
        load_proact(folder)
    assert str(err.value) == (
        f"PRO-ACT export {folder}: 2 violations found, nothing was loaded\n"
        "  - PROACT_LABS.csv, column Test_Result: required column is missing\n"
        "  - PROACT_VitalSigns.csv, column Weight_Units: required column is missing (the file has Weight)"
    )


def test_two_files_for_one_form_are_refused(tmp_path: Path) -> None:
    folder = _copy(EXPORT_2016, tmp_path / "export")
    shutil.copy(folder / "alsfrs.csv", folder / "PROACT_ALSFRS.csv")
    with pytest.raises(
        FeatureDataError,
        match=r"ALSFRS: more than one file holds this form; keep one, "
        r"got \['PROACT_ALSFRS.csv', 'alsfrs.csv'\]",
    ):
        load_proact(folder)


def test_unreadable_csv_is_refused_naming_the_file(tmp_path: Path) -> None:
    folder = _copy(EXPORT_2016, tmp_path / "export")
    with (folder / "Labs.csv").open("a") as fh:
        fh.write("1001,0,Creatinine,0.9,mg/dL,one field too many\n")
    with pytest.raises(
        FeatureDataError, match=r"Labs.csv: not a readable CSV file \(CSV parse error: Expected 5 columns"
    ):
        load_proact(folder)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FeatureDataError, match="input folder does not exist"):
        load_proact(tmp_path / "nowhere")


def test_without_death_file_there_are_no_events(tmp_path: Path) -> None:
    folder = _copy(EXPORT_2016, tmp_path / "export")
    (folder / "DeathData.csv").unlink()
    tables, report = load_proact(folder)
    assert tables["events"].empty
    assert list(tables["events"].columns) == list(S.EVENTS_TABLE.names)
    assert "no DeathData file: no events (every patient is censored at the last contact day)" in report.notes


# ---------------------------------------------------------------------------------------------------------------
# ALSFRS
# ---------------------------------------------------------------------------------------------------------------
def test_q5a_and_q5b_are_coalesced(tables: dict[str, pd.DataFrame], report: ImportReport) -> None:
    assert _visit(tables, "1001", 0)["alsfrs_q5"] == 3  # Q5a only
    assert _visit(tables, "1002", 0)["alsfrs_q5"] == 2  # Q5b only (gastrostomy)
    assert _visit(tables, "1002", 180)["alsfrs_q5"] == 2  # both given and equal
    rec = _excluded(report, "alsfrs.csv")[7]  # 1002 day 90: Q5a 3, Q5b 2
    assert (rec.patient_id, rec.reason) == (
        "1002",
        "Q5a_Cutting_without_Gastrostomy and Q5b_Cutting_with_Gastrostomy both given and different",
    )
    assert not ((tables["visits"]["patient_id"] == "1002") & (tables["visits"]["day"] == 90)).any()


def test_alsfrs_r_rows_give_twelve_items_and_the_total(tables: dict[str, pd.DataFrame]) -> None:
    v = _visit(tables, "1001", 0)
    assert _items(v) == [4, 4, 4, 3, 3, 3, 4, 3, 3, 4, 4, 4]  # R_1..R_3 are items 10-12
    assert v["alsfrs_r_total"] == 43
    # No ALSFRS_R_Total given: the total is the sum of the twelve complete items.
    v = _visit(tables, "1001", 182)
    assert _items(v) == [4, 4, 3, 3, 2, 3, 3, 2, 2, 4, 3, 4]
    assert v["alsfrs_r_total"] == 37
    # A total without items is kept as it is.
    v = _visit(tables, "1005", 120)
    assert v["alsfrs_r_total"] == 38
    assert v[list(S.ALSFRS_ITEMS)].isna().all()


def test_legacy_alsfrs_rows_are_excluded_not_converted(tables: dict[str, pd.DataFrame], report: ImportReport) -> None:
    recs = _excluded(report, "alsfrs.csv")
    assert (recs[9].patient_id, recs[9].reason) == ("1003", LEGACY_ONLY)
    assert (recs[10].patient_id, recs[10].reason) == ("1003", LEGACY_ONLY)
    assert LEGACY_ONLY == "legacy ALSFRS only (0-40); not converted"
    assert "1003" not in set(tables["visits"]["patient_id"])
    assert report.counts["alsfrs_rows_legacy_only"] == 2
    assert report.counts["patients_without_alsfrs_r_legacy_only"] == 1
    assert (
        "2 ALSFRS rows had only the legacy ALSFRS (0-40) and were not converted; 1 imported patients lost all "
        "their ALSFRS data to this rule"
    ) in report.notes


def test_total_disagreeing_with_its_items_is_excluded(tables: dict[str, pd.DataFrame], report: ImportReport) -> None:
    rec = _excluded(report, "alsfrs.csv")[12]  # 1004 day 0: items sum to 48, total says 47
    assert (rec.patient_id, rec.reason) == ("1004", "ALSFRS_R_Total disagrees with the sum of its 12 items")
    assert pd.isna(_visit(tables, "1004", 0)["alsfrs_r_total"])  # the visit keeps its FVC and weight only


def test_duplicate_rows_identical_merged_conflicting_excluded(
    tables: dict[str, pd.DataFrame], report: ImportReport
) -> None:
    assert _visit(tables, "1001", 273)["alsfrs_r_total"] == 32  # two identical rows, one visit
    assert report.counts["alsfrs_duplicate_rows_merged"] == 1
    recs = _excluded(report, "alsfrs.csv")
    for row in (13, 14):  # 1004 day 30: totals 48 and 47
        assert (recs[row].patient_id, recs[row].reason) == (
            "1004",
            "conflicting ALSFRS rows for the same patient and day; all left out",
        )
    assert not ((tables["visits"]["patient_id"] == "1004") & (tables["visits"]["day"] == 30)).any()


def test_missing_delta_is_excluded(report: ImportReport) -> None:
    rec = _excluded(report, "alsfrs.csv")[11]
    assert (rec.patient_id, rec.reason) == ("1004", "missing ALSFRS_Delta")


def test_sentinel_deltas_are_excluded(tables: dict[str, pd.DataFrame], report: ImportReport) -> None:
    fvc = _excluded(report, "Fvc.csv")[5]
    assert (fvc.patient_id, fvc.reason) == (
        "1004",
        "implausible Forced_Vital_Capacity_Delta '73299' (beyond +/-36525 days; a sentinel value, not a day)",
    )
    lab = _excluded(report, "Labs.csv")[16]
    assert (lab.patient_id, lab.reason) == (
        "1005",
        "implausible Laboratory_Delta '1096331' (beyond +/-36525 days; a sentinel value, not a day)",
    )
    # ... and a sentinel is never taken as the last contact.
    assert _patient(tables, "1005")["last_contact_day"] == 120


# ---------------------------------------------------------------------------------------------------------------
# FVC, weight, height
# ---------------------------------------------------------------------------------------------------------------
def test_fvc_best_trial_in_percent_predicted(tables: dict[str, pd.DataFrame]) -> None:
    assert _visit(tables, "1001", 0)["fvc_pct_pred"] == 90.0  # max of pct_of_Normal 85, 90, 88
    assert _visit(tables, "1005", 14)["fvc_pct_pred"] == 65.0  # no units column value: percent columns


def test_percent_predicted_fvc_stored_in_the_litre_columns(
    tables: dict[str, pd.DataFrame], report: ImportReport
) -> None:
    # Units "Percent Predicted": Subject_Liters_Trial_1..3 hold 70, 75, 72 (% predicted), not litres.
    assert _visit(tables, "1002", 0)["fvc_pct_pred"] == 75.0
    assert report.counts["fvc_rows_percent_in_litre_columns"] == 1


def test_litres_become_percent_only_with_the_trials_predicted_normal(
    tables: dict[str, pd.DataFrame], report: ImportReport
) -> None:
    assert _visit(tables, "1001", 91)["fvc_pct_pred"] == pytest.approx(82.5)  # 100 x 3.3 L / 4.0 L
    rec = _excluded(report, "Fvc.csv")[4]
    assert (rec.patient_id, rec.reason) == (
        "1003",
        "FVC in litres without % predicted or Subject_Normal; not converted (needs a reference equation)",
    )


def test_weights_in_pounds_become_kg(tables: dict[str, pd.DataFrame], report: ImportReport) -> None:
    assert _visit(tables, "1001", 0)["weight_kg"] == 80.0
    assert _visit(tables, "1002", 0)["weight_kg"] == pytest.approx(150 * 0.45359237)  # "Pounds"
    assert _visit(tables, "1004", 0)["weight_kg"] == pytest.approx(170 * 0.45359237)  # "lbs"
    assert _visit(tables, "1005", 100)["weight_kg"] == 61.0  # a visit with only a weight
    rec = _excluded(report, "VitalSigns.csv")[6]
    assert (rec.patient_id, rec.reason) == ("1004", "unknown Weight_Units 'stone'; Weight left out")


def test_heights_in_inches_become_cm_first_valid_height_used(
    tables: dict[str, pd.DataFrame], report: ImportReport
) -> None:
    heights = tables["patients"].set_index("patient_id")["height_cm"]
    assert heights["1001"] == 180.0
    assert heights["1002"] == pytest.approx(65 * 2.54)
    assert heights["1004"] == pytest.approx(70 * 2.54)
    assert heights["1005"] == 160.0  # day 14; the 162 cm of day 100 is not used
    assert np.isnan(heights["1003"])
    assert report.counts["heights_not_used_later_measurements"] == 1


def test_visits_merge_alsfrs_fvc_and_weight_on_the_same_day(tables: dict[str, pd.DataFrame]) -> None:
    v = _visit(tables, "1005", 14)
    assert (v["alsfrs_r_total"], v["fvc_pct_pred"], v["weight_kg"]) == (41, 65.0, 62.0)
    assert tables["visits"][["patient_id", "day"]].to_records(index=False).tolist() == [
        ("1001", 0),
        ("1001", 91),
        ("1001", 182),
        ("1001", 273),
        ("1002", 0),
        ("1002", 180),
        ("1004", 0),
        ("1004", 60),
        ("1005", 14),
        ("1005", 100),
        ("1005", 120),
        ("1008", -7),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Labs
# ---------------------------------------------------------------------------------------------------------------
def test_lab_biomarkers_mapped_with_matrix_and_unit(tables: dict[str, pd.DataFrame]) -> None:
    bio = tables["biomarkers"][["patient_id", "day", "analyte", "matrix", "value", "unit"]]
    assert bio.to_records(index=False).tolist() == [
        ("1001", 0, "nfl", "serum", 45.2, "pg/mL"),
        ("1001", 91, "nfl", "serum", 48.0, "pg/mL"),  # " 48.0 " with spaces parses
        ("1002", 0, "lcn2", "plasma", 85.0, "ng/mL"),  # "Plasma NGAL"
        ("1004", 0, "pnfh", "csf", 900.0, "pg/mL"),
        ("1005", 14, "lcn2", "csf", 12.5, "ng/mL"),  # "Lipocalin-2 (CSF)"
    ]


def test_text_lab_results_are_excluded_with_the_value(report: ImportReport) -> None:
    recs = _excluded(report, "Labs.csv")
    assert recs[5].reason == "censored Test_Result '<10' (outside the assay's quantification range); not imputed"
    assert recs[15].reason == "censored Test_Result '>5000' (outside the assay's quantification range); not imputed"
    assert recs[8].reason == "non-numeric Test_Result 'hemolysed'"
    assert recs[9].reason == "unknown Test_Unit 'mg/dL' for nfl (accepted: pg/ml, ng/l, ng/ml)"
    assert recs[10].reason == "specimen matrix (serum, plasma, CSF) not stated for Test_Name 'Neurofilament light'"
    assert recs[7].reason == "matrix 'urine' is not in the spec (serum, plasma, csf)"


def test_other_lab_tests_are_counted_not_listed(report: ImportReport) -> None:
    assert report.counts["labs_rows_not_used"] == 4
    assert report.counts["labs_tests_not_used"] == 3
    assert (
        "4 lab rows (3 distinct tests) are not part of the spec and not used: Creatinine (2), Uric Acid (1), "
        "Hemoglobin (1)"
    ) in report.notes
    assert not any("Creatinine" in rec.reason for rec in report.excluded)


# ---------------------------------------------------------------------------------------------------------------
# Patients
# ---------------------------------------------------------------------------------------------------------------
def test_patient_fields(tables: dict[str, pd.DataFrame]) -> None:
    p = tables["patients"].set_index("patient_id")
    assert list(p.index) == ["1001", "1002", "1003", "1004", "1005", "1008"]
    # Age at day 0 + Onset_Delta / 365.25; 1003 has only Date_of_Birth (-21915 days -> 60 years).
    assert p["age_at_onset_years"].to_dict() == pytest.approx(
        {
            "1001": 60 - 730 / 365.25,
            "1002": 52.5 - 500 / 365.25,
            "1003": 60 - 365 / 365.25,
            "1004": 45 - 1000 / 365.25,
            "1005": 70 - 600 / 365.25,
            "1008": 58 - 200 / 365.25,
        }
    )
    assert p["onset_day"].tolist() == [-730, -500, -365, -1000, -600, -200]
    assert p["diagnosis_day"].tolist()[:5] == [-400, -200, -100, -900, -300]


def test_onset_limb_and_bulbar_is_bulbar_spine_and_other_are_other(
    tables: dict[str, pd.DataFrame], report: ImportReport
) -> None:
    sites = tables["patients"].set_index("patient_id")["onset_site"].to_dict()
    assert sites == {
        "1001": "limb",
        "1002": "bulbar",
        "1003": "bulbar",  # "Onset: Limb and Bulbar"
        "1004": "other",  # "Onset: Spine"
        "1005": "bulbar",  # one-hot Site_of_Onset___Bulbar, on another row than Onset_Delta
        "1008": "other",
    }
    assert (
        "1 patients with onset 'Limb and Bulbar' were mapped to onset_site bulbar (bulbar involvement drives prognosis)"
    ) in report.notes


def test_sex_mapped_case_insensitively_missing_stays_missing(tables: dict[str, pd.DataFrame]) -> None:
    sex = tables["patients"].set_index("patient_id")["sex"]
    assert sex.drop("1003").to_dict() == {
        "1001": "male",
        "1002": "female",
        "1004": "male",
        "1005": "female",
        "1008": "female",
    }
    assert pd.isna(sex["1003"])


def test_yes_no_riluzole_flags(tables: dict[str, pd.DataFrame], report: ImportReport) -> None:
    ril = tables["patients"].set_index("patient_id")["riluzole"]
    assert str(ril.dtype) == "boolean"
    assert ril[["1001", "1002", "1003", "1005"]].tolist() == [True, False, True, True]  # Yes, No, yes, YES
    assert pd.isna(ril["1004"])
    assert pd.isna(ril["1008"])
    rec = _excluded(report, "Riluzole.csv")[None]  # 1004 answered Yes and No
    assert (rec.patient_id, rec.reason) == ("1004", "conflicting Subject_used_Riluzole across rows (no, yes); left out")


def test_el_escorial_categories(tables: dict[str, pd.DataFrame], report: ImportReport) -> None:
    ee = tables["patients"].set_index("patient_id")["el_escorial"]
    assert ee[["1001", "1002", "1003", "1004"]].tolist() == ["definite", "probable", "probable_lab", "possible"]
    assert pd.isna(ee["1005"])
    assert _excluded(report, "El_Escorial.csv")[5].reason == "unrecognised el_escorial 'Suspected'"


def test_death_yes_with_days_is_an_event_without_days_excluded(
    tables: dict[str, pd.DataFrame], report: ImportReport
) -> None:
    assert tables["events"].to_records(index=False).tolist() == [("1002", "death", 400)]
    rec = _excluded(report, "DeathData.csv")[3]
    assert (rec.patient_id, rec.reason) == ("1003", "Subject_Died Yes without Death_Days")
    assert report.counts["death_rows_alive"] == 4


def test_last_contact_day_is_the_latest_assessment(tables: dict[str, pd.DataFrame], report: ImportReport) -> None:
    last = tables["patients"].set_index("patient_id")["last_contact_day"].to_dict()
    # 1003: its legacy ALSFRS rows were excluded, but the patient was seen on day 90; 1004: the SVC on day 400;
    # 1008: only a screening visit on day -7 -> trial day 0.
    assert last == {"1001": 273, "1002": 180, "1003": 90, "1004": 400, "1005": 120, "1008": 0}
    assert (
        "1 patients have no assessment on or after trial day 0: last_contact_day set to 0 (the enrolment contact)"
    ) in report.notes


def test_diagnosis_before_onset_leaves_only_the_diagnosis_out(
    tables: dict[str, pd.DataFrame], report: ImportReport
) -> None:
    assert pd.isna(_patient(tables, "1008")["diagnosis_day"])
    rec = _excluded(report, "AlsHistory.csv")[None]
    assert (rec.patient_id, rec.reason) == (
        "1008",
        "Diagnosis_Delta (-250) before Onset_Delta (-200); diagnosis day left out",
    )


def test_patient_without_onset_is_excluded_with_all_its_rows(report: ImportReport) -> None:
    rec = _excluded(report, "patients")[None]
    assert (rec.patient_id, rec.reason) == ("1006", "no usable Onset_Delta (ALS history)")
    recs = _excluded(report, "alsfrs.csv")
    assert (recs[18].patient_id, recs[18].reason) == ("1006", "patient not imported (see the 'patients' exclusions)")
    assert (recs[20].patient_id, recs[20].reason) == ("1009", "subject_id not found in demographics or ALS history")


# ---------------------------------------------------------------------------------------------------------------
# Accounting and types
# ---------------------------------------------------------------------------------------------------------------
def test_every_record_is_used_counted_or_excluded(report: ImportReport) -> None:
    c = report.counts
    n_excluded = dict(pd.Series([r.table for r in report.excluded]).value_counts().items())
    assert c["rows_read_alsfrs"] == c["alsfrs_rows_used"] + c["alsfrs_duplicate_rows_merged"] + n_excluded["alsfrs.csv"]
    assert c["rows_read_fvc"] == c["fvc_rows_used"] + n_excluded["Fvc.csv"]
    assert c["rows_read_labs"] == c["labs_rows_not_used"] + c["labs_biomarker_rows"] + n_excluded["Labs.csv"]
    assert c["rows_read_deathdata"] == c["death_rows_alive"] + c["death_events"] + n_excluded["DeathData.csv"]
    assert c["excluded_records"] == len(report.excluded) == 24


def test_tables_are_typed_and_validated(tables: dict[str, pd.DataFrame]) -> None:
    again = validate_tables(tables)
    for name in S.RAW_TABLES:
        assert list(tables[name].columns) == list(S.RAW_TABLES[name].names)
        pd.testing.assert_frame_equal(again[name], tables[name])
    assert str(tables["visits"]["day"].dtype) == "Int64"


def test_benchmark_export_is_seeded_and_importable(tmp_path: Path) -> None:
    from bench.make_proact import make_proact_export

    written = make_proact_export(tmp_path / "a", n_patients=40, seed=3)
    make_proact_export(tmp_path / "b", n_patients=40, seed=3)
    for name in written:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    tables, report = load_proact(tmp_path / "a")
    assert 0 < len(tables["patients"]) <= 40
    assert len(tables["visits"]) > 40
    assert report.counts["rows_read_labs"] == written["PROACT_LABS.csv"]


# ---------------------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------------------
def test_cli_missing_column_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    pytest.importorskip("features.cohort.assemble")  # the command assembles the cohort after the import
    folder = _copy(EXPORT_2016, tmp_path / "export")
    _drop_column(folder / "alsfrs.csv", "ALSFRS_Delta")
    out = tmp_path / "cohort.parquet"
    result = CliRunner().invoke(app, ["cohort", "--source", "proact", "--input", str(folder), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "alsfrs.csv, column ALSFRS_Delta: required column is missing" in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [folder]


def test_cli_imports_a_proact_export(tmp_path: Path) -> None:
    pytest.importorskip("features.cohort.assemble")
    out = tmp_path / "cohort.parquet"
    result = CliRunner().invoke(app, ["cohort", "--source", "proact", "--input", str(EXPORT_2016), "--out", str(out)])
    assert result.exit_code == 0, result.output
    cohort = pd.read_parquet(out)
    assert cohort["patient_id"].tolist() == ["1001", "1002", "1003", "1004", "1005", "1008"]
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["source"] == "proact"
    assert {"table": "alsfrs.csv", "row": 9, "patient_id": "1003", "reason": LEGACY_ONLY} in report["excluded"]
