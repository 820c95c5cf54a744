"""``alsstrat score``: every input row gives exactly one output row, with the HTTP service's per-row rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features import spec as S
from tests.servers import GOOD, ServedModel
from training.cli.app import app

pytestmark = [pytest.mark.slow, pytest.mark.mlflow]

HEADER = ["candidate_id", "age_at_onset_years", "sex", "onset_site", "months_since_onset",
          "diagnostic_delay_months", "alsfrs_r_total", "nfl_serum_pg_ml", "riluzole"]
# (candidate_id, cells after it, expected error field or None). Cells are CSV text, exactly as written.
CSV_ROWS: list[tuple[str, list[str], str | None]] = [
    ("good", ["58", "female", "bulbar", "14", "11", "39", "65.5", "true"], None),
    ("no-biomarkers", ["58", "female", "bulbar", "14", "11", "39", "", ""], None),
    ("exponent-and-spaces", [" 61 ", "male", "limb", "3.5e1", "10", "+40", "1E2", "False"], None),
    ("text-number", ["58", "female", "bulbar", "14", "11", "thirty", "", ""], "alsfrs_r_total"),
    ("nan-text", ["58", "female", "bulbar", "14", "11", "39", "NaN", ""], "nfl_serum_pg_ml"),
    ("inf-text", ["58", "female", "bulbar", "14", "11", "39", "inf", ""], "nfl_serum_pg_ml"),
    ("decimal-comma", ["58", "female", "bulbar", "14", "11", "39", "65,5", ""], "nfl_serum_pg_ml"),
    ("empty-required", ["", "female", "bulbar", "14", "11", "39", "", ""], "age_at_onset_years"),
    ("out-of-range", ["58", "female", "bulbar", "14", "11", "49", "", ""], "alsfrs_r_total"),
    ("unknown-category", ["58", "F", "bulbar", "14", "11", "39", "", ""], "sex"),
    ("bool-as-number", ["58", "female", "bulbar", "14", "11", "39", "", "1"], "riluzole"),
]


def _score(*args: str) -> Any:
    return CliRunner().invoke(app, ["score", *args])


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_csv_rows_are_all_written_in_order_with_row_errors(store: ServedModel, tmp_path: Path) -> None:
    src = tmp_path / "candidates.csv"
    lines = [",".join(HEADER)] + [",".join([cid, *(f'"{c}"' if "," in c else c for c in cells)])
                                  for cid, cells, _ in CSV_ROWS]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out" / "scores.csv"
    result = _score("--input", str(src), "--out", str(out), "--model-uri", "models:/als-stratifier@champion")
    assert result.exit_code == 0, result.output
    expected_errors = sum(1 for *_, err in CSV_ROWS if err)
    assert f"{len(CSV_ROWS) - expected_errors} predicted, {expected_errors} rejected" in result.output
    assert f"version {store.version}" in result.output

    scores = _read(out)
    assert len(scores) == len(CSV_ROWS)
    assert scores["input_row"].tolist() == [str(i) for i in range(1, len(CSV_ROWS) + 1)]
    assert scores["candidate_id"].tolist() == [cid for cid, _, _ in CSV_ROWS]
    assert scores["error_field"].tolist() == [err or "" for *_, err in CSV_ROWS]
    predicted = scores[scores["error_field"] == ""]
    rejected = scores[scores["error_field"] != ""]
    assert (rejected["error_message"] != "").all()
    assert (rejected[["slope_point", "subtype_label", "risk_group", "model_version"]] == "").all().all()
    assert (predicted["model_version"] == store.version).all()
    assert predicted["subtype_label"].str.fullmatch(r"\d+").all(), "integers, not 1.0"
    probabilities = predicted.filter(like="subtype_probability_").astype(float).to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    by_id = scores.set_index("candidate_id")
    assert by_id.loc["text-number", "error_message"] == "must be a number, got 'thirty'"
    assert by_id.loc["empty-required", "error_message"] == "required field is missing"
    assert json.loads(str(by_id.loc["good", "explanation"]))[0].keys() == {"feature", "contribution"}


def test_file_scores_equal_the_service_path(store: ServedModel, tmp_path: Path) -> None:
    from features.model.pyfunc import load_stratifier

    src = tmp_path / "one.csv"
    src.write_text(",".join(GOOD) + "\n" + ",".join(str(v).lower() for v in GOOD.values()) + "\n")
    out = tmp_path / "one_scores.csv"
    assert _score("--input", str(src), "--out", str(out)).exit_code == 0
    row = pd.read_csv(out).iloc[0]
    served = load_stratifier("models:/als-stratifier@champion").model.predict_records([GOOD])[0]
    # The CSV keeps full precision; the served answer is rounded to its stated precision (3 decimals here).
    assert round(row["slope_point"], 3) == pytest.approx(served["slope"]["point"], abs=1e-9)
    assert round(row["slope_p90"], 3) == pytest.approx(served["slope"]["p90"], abs=1e-9)
    assert round(row["survival_probability_24m"], 3) == pytest.approx(
        served["survival"]["probability_at_months"]["24"], abs=1e-9)
    assert row["subtype_label"] == served["subtype"]["label"]
    assert row["risk_group"] == served["survival"]["risk_group"]


def test_parquet_keeps_types_and_reads_nan_as_not_measured(store: ServedModel, tmp_path: Path) -> None:
    frame = pd.DataFrame([
        {**GOOD, "candidate_id": 101},
        {**GOOD, "candidate_id": 102, "nfl_serum_pg_ml": np.nan, "riluzole": None},
        {**GOOD, "candidate_id": 103, "fvc_pct_pred": np.inf},
        {**GOOD, "candidate_id": 104, "alsfrs_r_total": np.nan},
    ])
    src = tmp_path / "candidates.parquet"
    frame.to_parquet(src)
    out = tmp_path / "scores.csv"
    result = _score("--input", str(src), "--out", str(out))
    assert result.exit_code == 0, result.output
    scores = _read(out)
    assert scores["candidate_id"].tolist() == ["101", "102", "103", "104"]
    assert scores["error_field"].tolist() == ["", "", "fvc_pct_pred", "alsfrs_r_total"]
    assert scores.loc[3, "error_message"] == "required field is missing"


def test_unknown_or_missing_columns_reject_every_row_and_say_why(store: ServedModel, tmp_path: Path) -> None:
    src = tmp_path / "cohort_like.csv"
    required = [c for c in S.REQUIRED_FOR_SCORING if c != "alsfrs_r_total"]
    # hospital_code is neither a candidate field nor a cohort-table column (patient_id would now be the id)
    src.write_text(",".join(["hospital_code", *required]) + "\n"
                   + ",".join(["p1", *(str(GOOD[c]) for c in required)]) + "\n")
    out = tmp_path / "scores.csv"
    result = _score("--input", str(src), "--out", str(out))
    # Every row rejected: exit 2 (issue 16; this was 0), the output is still written for the error columns.
    assert result.exit_code == 2, result.output
    assert "every one of the 1 rows was rejected; nothing was scored" in result.output
    assert "required column(s) missing from the file" in result.output
    assert "alsfrs_r_total" in result.output
    assert "not candidate fields" in result.output
    assert "hospital_code" in result.output
    scores = _read(out)
    assert len(scores) == 1
    assert scores.loc[0, "error_field"] in {"alsfrs_r_total", "hospital_code"}


def test_header_only_file_writes_an_empty_scores_file(store: ServedModel, tmp_path: Path) -> None:
    src = tmp_path / "empty.csv"
    src.write_text(",".join(HEADER) + "\n")
    out = tmp_path / "scores.csv"
    result = _score("--input", str(src), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "scored 0 rows" in result.output
    assert list(_read(out).columns[:4]) == ["input_row", "candidate_id", "error_field", "error_message"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("candidates.txt", b"age_at_onset_years\n55\n", "unknown input format '.txt'"),
    ("candidates.xlsx", b"PK\x03\x04", "unknown input format '.xlsx'"),
    ("broken.parquet", b"not a parquet file", "cannot read"),
    ("latin1.csv", "age_at_onset_years,sex\n55,f\xe9male\n".encode("latin-1"), "cannot read"),
    ("blank.csv", b"", "is empty"),
    ("missing.csv", None, "no such file"),
])
def test_unreadable_input_exits_2(store: ServedModel, tmp_path: Path, name: str, content: bytes | None,
                                  message: str) -> None:
    src = tmp_path / name
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "scores.csv"
    result = _score("--input", str(src), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists(), "no partial output"


def test_out_must_be_csv_and_an_unknown_model_exits_2(store: ServedModel, tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text(",".join(GOOD) + "\n" + ",".join(str(v).lower() for v in GOOD.values()) + "\n")
    bad_out = _score("--input", str(src), "--out", str(tmp_path / "scores.json"))
    assert bad_out.exit_code == 2
    assert "--out must end in .csv" in bad_out.output
    bad_model = _score("--input", str(src), "--out", str(tmp_path / "s.csv"), "--model-uri",
                       "models:/als-stratifier@no-such-alias")
    assert bad_model.exit_code == 2, bad_model.output
    assert "cannot load model" in bad_model.output


def test_a_model_trained_with_another_feature_spec_exits_2(store: ServedModel, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import features.spec

    src = tmp_path / "c.csv"
    src.write_text(",".join(GOOD) + "\n" + ",".join(str(v).lower() for v in GOOD.values()) + "\n")
    monkeypatch.setattr(features.spec, "spec_hash", lambda: "0123456789abcdef")
    result = _score("--input", str(src), "--out", str(tmp_path / "s.csv"))
    assert result.exit_code == 2, result.output
    assert "was trained with feature spec" in result.output


def test_some_rows_rejected_still_exits_0(store: ServedModel, tmp_path: Path) -> None:
    src = tmp_path / "mixed.csv"
    cells = [["a", *(str(GOOD[c]) for c in S.REQUIRED_FOR_SCORING)],
             ["b", *(str(GOOD[c]) if c != "sex" else "F" for c in S.REQUIRED_FOR_SCORING)]]
    src.write_text("\n".join(",".join(r) for r in [["candidate_id", *S.REQUIRED_FOR_SCORING], *cells]) + "\n")
    result = _score("--input", str(src), "--out", str(tmp_path / "scores.csv"))
    assert result.exit_code == 0, result.output
    assert "1 predicted, 1 rejected" in result.output
