"""Raw-table contract: every violation reported at once, with exact messages; nothing partial returned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from features import spec as S
from features.contracts import validate_tables
from features.errors import FeatureDataError
from features.sources.native import load_native, write_tables
from training.cli.app import app


def good_tables() -> dict[str, pd.DataFrame]:
    """Two valid patients in every raw table, written as text the way a CSV export holds them."""
    patients = pd.DataFrame(
        {
            "patient_id": ["P1", "P2"],
            "sex": ["male", "female"],
            "age_at_onset_years": ["61.5", "48"],
            "onset_site": ["limb", "bulbar"],
            "onset_day": ["-400", "-250"],
            "diagnosis_day": ["-90", "-30"],
            "el_escorial": ["definite", "probable"],
            "c9orf72": ["negative", "unknown"],
            "ftd": ["no", "no"],
            "riluzole": ["true", "false"],
            "height_cm": ["178", "165"],
            "last_contact_day": ["400", "380"],
        }
    )
    visits = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2"],
            "day": ["0", "120", "0"],
            "alsfrs_r_total": ["40", "37", "44"],
            **{q: ["", "", ""] for q in S.ALSFRS_ITEMS},
            "fvc_pct_pred": ["88", "80", ""],
            "weight_kg": ["80.5", "79", "60"],
        }
    )
    biomarkers = pd.DataFrame(
        {
            "patient_id": ["P1", "P2"],
            "day": ["0", "5"],
            "analyte": ["nfl", "lcn2"],
            "matrix": ["serum", "plasma"],
            "value": ["85.2", "120"],
            "unit": ["pg/mL", "µg/L"],
            "assay": ["simoa", "elisa"],
        }
    )
    events = pd.DataFrame({"patient_id": ["P1"], "event": ["death"], "day": ["400"]})
    return {"patients": patients, "visits": visits, "biomarkers": biomarkers, "events": events}


def test_good_tables_are_typed_in_spec_order() -> None:
    typed = validate_tables(good_tables())
    for name, frame in typed.items():
        assert tuple(frame.columns) == S.RAW_TABLES[name].names
    assert typed["patients"]["age_at_onset_years"].tolist() == [61.5, 48.0]
    assert typed["patients"]["riluzole"].tolist() == [True, False]
    assert typed["visits"]["day"].dtype == "Int64"


def _mutate(table: str, row: int, column: str, value: str) -> dict[str, pd.DataFrame]:
    tables = good_tables()
    tables[table].loc[row, column] = value
    return tables


BAD_CELLS = [
    (
        "patients",
        0,
        "age_at_onset_years",
        "abc",
        "patients row 1, column age_at_onset_years: must be a number, got 'abc'",
    ),
    (
        "patients",
        1,
        "age_at_onset_years",
        "150",
        "patients row 2, column age_at_onset_years: must be within [10, 100] (years), got 150.0",
    ),
    ("patients", 0, "sex", "M", "patients row 1, column sex: must be one of female, male, got 'M'"),
    ("patients", 0, "onset_site", "", "patients row 1, column onset_site: required value is missing"),
    ("patients", 1, "riluzole", "maybe", "patients row 2, column riluzole: must be true or false, got 'maybe'"),
    ("patients", 0, "onset_day", "12", "patients row 1, column onset_day: must be within [-36525, 0] (days), got 12"),
    (
        "patients",
        0,
        "diagnosis_day",
        "-500",
        "patients row 1, column diagnosis_day: must be >= onset_day (-400), got -500",
    ),
    ("visits", 1, "day", "12.5", "visits row 2, column day: must be a whole number, got '12.5'"),
    (
        "visits",
        0,
        "alsfrs_r_total",
        "49",
        "visits row 1, column alsfrs_r_total: must be within [0, 48] (points), got 49",
    ),
    ("visits", 2, "fvc_pct_pred", "inf", "visits row 3, column fvc_pct_pred: must be finite, got 'inf'"),
    ("visits", 2, "patient_id", "P9", "visits row 3, column patient_id: patient_id not found in patients, got 'P9'"),
    (
        "visits",
        1,
        "day",
        "0",
        "visits row 2, column patient_id, day: duplicate key (patient_id, day) of row 1, got ('P1', 0)",
    ),
    (
        "biomarkers",
        0,
        "unit",
        "mg/dL",
        "biomarkers row 1, column unit: unknown unit for nfl (accepted: pg/ml, ng/l, ng/ml), got 'mg/dL'",
    ),
    (
        "biomarkers",
        1,
        "analyte",
        "gfap",
        "biomarkers row 2, column analyte: must be one of nfl, pnfh, lcn2, got 'gfap'",
    ),
    ("biomarkers", 1, "value", "0", "biomarkers row 2, column value: must be within [1e-06, 1000000000], got 0.0"),
    (
        "events",
        0,
        "event",
        "ventilation",
        "events row 1, column event: must be one of death, tracheostomy, permanent_niv, got 'ventilation'",
    ),
    ("events", 0, "day", "-3", "events row 1, column day: an endpoint must not precede day 0, got -3"),
]


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "message"), BAD_CELLS, ids=[f"{c[0]}.{c[2]}={c[3]!r}" for c in BAD_CELLS]
)
def test_bad_cell_is_reported_exactly(table: str, row: int, column: str, value: str, message: str) -> None:
    with pytest.raises(FeatureDataError) as info:
        validate_tables(_mutate(table, row, column, value))
    assert [str(v) for v in info.value.violations] == [message]


def test_item_sum_must_match_total() -> None:
    tables = good_tables()
    for q in S.ALSFRS_ITEMS:
        tables["visits"].loc[0, q] = "3"  # 12 items x 3 = 36, but the total says 40
    with pytest.raises(FeatureDataError) as info:
        validate_tables(tables)
    assert [str(v) for v in info.value.violations] == [
        "visits row 1, column alsfrs_r_total: must equal the sum of alsfrs_q1..alsfrs_q12 (36), got 40"
    ]


def test_every_violation_is_reported_at_once() -> None:
    tables = good_tables()
    tables["patients"].loc[0, "sex"] = "x"
    tables["visits"].loc[1, "alsfrs_r_total"] = "-1"
    tables["events"] = tables["events"].drop(columns=["day"])
    tables["biomarkers"]["batch"] = "b1"
    with pytest.raises(FeatureDataError) as info:
        validate_tables(tables, context="site-7 export")
    lines = str(info.value).splitlines()
    assert lines[0] == "Site-7 export: 4 violations found, nothing was loaded"
    assert sorted(lines[1:]) == sorted(
        [
            "  - patients row 1, column sex: must be one of female, male, got 'x'",
            "  - visits row 2, column alsfrs_r_total: must be within [0, 48] (points), got -1",
            "  - biomarkers, column batch: unknown column "
            "(expected: patient_id, day, analyte, matrix, value, unit, assay)",
            "  - events, column day: required column is missing",
        ]
    )


def test_missing_table_is_named() -> None:
    tables = good_tables()
    del tables["events"]
    with pytest.raises(FeatureDataError, match="events: required table is missing"):
        validate_tables(tables)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_through_files(tmp_path: Path, fmt: str) -> None:
    typed = validate_tables(good_tables())
    write_tables(typed, tmp_path, fmt=fmt)  # type: ignore[arg-type]
    again = load_native(tmp_path)
    for name in S.RAW_TABLES:
        pd.testing.assert_frame_equal(again[name], typed[name])


def test_cli_validate_refuses_bad_tables_with_exit_2(tmp_path: Path) -> None:
    tables = _mutate("visits", 0, "alsfrs_r_total", "52")
    tables["patients"].loc[1, "height_cm"] = "tall"
    for name, frame in tables.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    result = CliRunner().invoke(app, ["validate", "--input", str(tmp_path)])
    assert result.exit_code == 2
    assert "2 violations found, nothing was loaded" in result.output
    assert "visits row 1, column alsfrs_r_total: must be within [0, 48] (points), got 52" in result.output
    assert "patients row 2, column height_cm: must be a number, got 'tall'" in result.output


def test_cli_validate_accepts_good_tables(tmp_path: Path) -> None:
    write_tables(validate_tables(good_tables()), tmp_path, fmt="csv")
    result = CliRunner().invoke(app, ["validate", "--input", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output


def test_missing_file_is_named(tmp_path: Path) -> None:
    write_tables({k: v for k, v in validate_tables(good_tables()).items() if k != "visits"}, tmp_path, fmt="csv")
    with pytest.raises(FeatureDataError, match=r"visits: required file is missing \(visits.csv or visits.parquet\)"):
        load_native(tmp_path)


# ------------------------------------------------------------------------------------------- plausibility
IMPLAUSIBLE_CELLS = [
    ("biomarkers", 0, "value", "0.0852", "biomarkers row 1, column value: nfl in serum: 0.0852 pg/mL is 0.0852 "
     "pg/mL, implausible (plausible: 0.5-10000 pg/mL): looks like ng/mL (the row says pg/mL), got 0.0852"),
    ("biomarkers", 1, "unit", "pg/mL", "biomarkers row 2, column value: lcn2 in plasma: 120 pg/mL is 0.12 ng/mL, "
     "implausible (plausible: 2-5000 ng/mL): looks like ng/mL (the row says pg/mL), got 120.0"),
    ("biomarkers", 0, "unit", "ng/mL", "biomarkers row 1, column value: nfl in serum: 85.2 ng/mL is 85200 pg/mL, "
     "implausible (plausible: 0.5-10000 pg/mL): looks like pg/mL (the row says ng/mL), got 85.2"),
    ("visits", 0, "fvc_pct_pred", "3.1", "visits row 1, column fvc_pct_pred: 3.1 % predicted is implausible "
     "(plausible: 5-200 % predicted): looks like litres; this field is FVC in % of the predicted value, got 3.1"),
]


@pytest.mark.parametrize(("table", "row", "column", "value", "message"), IMPLAUSIBLE_CELLS,
                         ids=[f"{c[0]}.{c[2]}={c[3]!r}" for c in IMPLAUSIBLE_CELLS])
def test_the_specs_plausibility_rules_apply_to_the_raw_tables(table: str, row: int, column: str, value: str,
                                                              message: str) -> None:
    with pytest.raises(FeatureDataError) as info:
        validate_tables(_mutate(table, row, column, value))
    assert [str(v) for v in info.value.violations] == [message]


def test_the_alsfrs_item_columns_are_optional() -> None:
    tables = good_tables()
    tables["visits"] = tables["visits"].drop(columns=list(S.ALSFRS_ITEMS))
    typed = validate_tables(tables)
    assert list(typed["visits"].columns) == list(S.VISITS.names)
    assert typed["visits"][list(S.ALSFRS_ITEMS)].isna().all().all()


@pytest.mark.parametrize(("context", "title"), [("my/bad", "my/bad"), ("data/visits.csv", "data/visits.csv"),
                                                ("visits.csv", "visits.csv"), ("site-7 export", "Site-7 export")])
def test_a_path_in_the_report_keeps_its_case(context: str, title: str) -> None:
    error = FeatureDataError([], context=context)
    assert error.report().startswith(f"{title}: 0 violations found")


def test_cli_validate_names_the_folder_as_given(tmp_path: Path) -> None:
    folder = tmp_path / "my" / "bad"
    folder.mkdir(parents=True)
    for name, frame in _mutate("visits", 0, "alsfrs_r_total", "52").items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    result = CliRunner().invoke(app, ["validate", "--input", str(folder)])
    assert result.exit_code == 2
    assert f"{folder}: 1 violation found, nothing was loaded" in result.output


@pytest.mark.parametrize(("fmt", "damage", "reason"), [
    ("csv", lambda p: p.write_bytes(b""), "cannot read visits.csv: No columns to parse from file"),
    ("parquet", lambda p: p.write_bytes(p.read_bytes()[:64]), "cannot read visits.parquet: "),
], ids=["empty csv", "truncated parquet"])
def test_an_unreadable_table_file_is_bad_input_not_an_internal_error(tmp_path: Path, fmt: str, damage: Any,
                                                                     reason: str) -> None:
    write_tables(validate_tables(good_tables()), tmp_path / "raw", fmt=fmt)  # type: ignore[arg-type]
    damage(tmp_path / "raw" / f"visits.{fmt}")
    out = tmp_path / "cohort.parquet"
    for args in (["cohort", "--source", "native", "--input", str(tmp_path / "raw"), "--out", str(out)],
                 ["validate", "--input", str(tmp_path / "raw")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert f"visits: {reason}" in result.output
        assert "internal error" not in result.output
    assert not out.exists()


# --------------------------------------------------------------------------- the cohort table and its report
def test_the_cohort_and_its_report_appear_together_or_not_at_all(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    write_tables(validate_tables(good_tables()), tmp_path / "raw", fmt="csv")
    out = tmp_path / "cohort.parquet"

    def disk_full(self: Path, *args: Any, **kwargs: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)  # the report fails after the table was written
    result = CliRunner().invoke(app, ["cohort", "--source", "native", "--input", str(tmp_path / "raw"),
                                      "--out", str(out)])
    assert result.exit_code != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"], "neither file, and no temporary file left"
    monkeypatch.undo()
    result = CliRunner().invoke(app, ["cohort", "--source", "native", "--input", str(tmp_path / "raw"),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert (tmp_path / "cohort.report.json").is_file()
