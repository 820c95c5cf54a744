"""DREAM-2012 importer on the real data (skipped when the shared data folder is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import spec as S
from features.cohort.table import Cohort, cohort_dtype
from features.errors import FeatureDataError
from features.model.derive import BaselineFeatures, build_model_input
from features.sources.dream2012 import DREAM_DAYS_PER_MONTH, DREAM_FILE, ITEM_COLUMNS, load_dream2012

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def raw(dream_dir: Path) -> pd.DataFrame:
    return pd.read_csv(dream_dir / DREAM_FILE)


@pytest.fixture(scope="module")
def cohort(dream_dir: Path) -> Cohort:
    return load_dream2012(dream_dir)


def test_shape_columns_and_metadata(cohort: Cohort) -> None:
    table = cohort.table
    assert len(table) == 1822
    assert list(table.columns) == [f.name for f in S.COHORT_FIELDS] + ["split"]
    for f in S.COHORT_FIELDS:
        assert table[f.name].dtype == pd.Series([], dtype=cohort_dtype(f)).dtype, f.name
    assert cohort.source == "dream2012"
    assert cohort.alsfrs_scale == 40
    assert table["patient_id"].tolist() == [f"dream-{i}" for i in range(1, 1823)]
    assert cohort.report is not None
    assert cohort.report.counts == {"patients": 1822, "train": 1197, "test": 625}


def test_official_split(cohort: Cohort, raw: pd.DataFrame) -> None:
    split = cohort.table["split"]
    assert split.value_counts().to_dict() == {"train": 1197, "test": 625}
    assert ((split == "test").to_numpy() == raw["testset"].to_numpy(dtype=bool)).all()


def test_outcome_is_dfrs_exactly_and_matches_the_gold_standard(cohort: Cohort, raw: pd.DataFrame,
                                                               dream_dir: Path) -> None:
    outcome = cohort.table["alsfrs_r_slope_3_12"].to_numpy()
    np.testing.assert_array_equal(outcome, raw["dFRS"].to_numpy())
    gold = pd.read_csv(dream_dir / "goldstandard_625.csv", header=None, names=["subject", "dfrs"])
    test = outcome[(cohort.table["split"] == "test").to_numpy()]
    assert len(test) == len(gold) == 625
    # the gold standard is keyed by DREAM subject ids the table does not carry, in another order: compare as
    # multisets (the two files were written with different float formatting, hence the 1e-12 tolerance)
    assert not np.allclose(test, gold["dfrs"].to_numpy())
    np.testing.assert_allclose(np.sort(test), np.sort(gold["dfrs"].to_numpy()), rtol=0, atol=1e-12)


def test_months_since_onset_is_exactly_onset_delta_in_months(cohort: Cohort, raw: pd.DataFrame) -> None:
    expected = -raw["Onset.Delta"].to_numpy(dtype=float) / 30.4375
    np.testing.assert_array_equal(cohort.table["months_since_onset"].to_numpy(), expected)
    age_at_onset = raw["Age"].to_numpy(dtype=float) - expected / 12
    np.testing.assert_array_equal(cohort.table["age_at_onset_years"].to_numpy(), age_at_onset)


def test_no_value_outside_the_spec_bounds(cohort: Cohort) -> None:
    table = cohort.table
    for f in S.COHORT_FIELDS:
        values = table[f.name].dropna()
        if f.categories is not None:
            assert set(values) <= set(f.categories), f.name
        elif f.kind in ("numeric", "integer") and len(values):
            if f.lower is not None:
                assert values.min() >= f.lower, f.name
            if f.upper is not None:
                assert values.max() <= f.upper, f.name
    assert table["alsfrs_r_total"].max() <= 40  # legacy scale


def test_first_visit_alsfrs_is_consistent(cohort: Cohort, raw: pd.DataFrame) -> None:
    table = cohort.table
    total = table["alsfrs_r_total"]
    present = total.notna().to_numpy()
    assert int((~present).sum()) == 1  # the one patient without ALSFRS data
    assert (total[present] <= raw.loc[present, "max.alsfrs.score"]).all()
    assert (total[present] >= raw.loc[present, "min.alsfrs.score"]).all()
    items = table[list(ITEM_COLUMNS)][present]
    assert (items.to_numpy() % 1 == 0).all()
    respiratory = total[present] - items.sum(axis=1)  # the legacy respiratory item, 0-4
    assert respiratory.between(0, 4).all()
    assert table[["alsfrs_q10", "alsfrs_q11", "alsfrs_q12"]].isna().all().all()
    one_visit = (raw["num.alsfrs.score.visits"] == 1).to_numpy()
    np.testing.assert_array_equal(total[one_visit], raw.loc[one_visit, "last.alsfrs.score"])


def test_baseline_slope_is_converted_to_spec_months(cohort: Cohort, raw: pd.DataFrame) -> None:
    # with exactly two visits the first score is sum - last, so the slope can be recomputed independently
    two = ((raw["num.alsfrs.score.visits"] == 2) & (raw["lessthan2.alsfrs.score"] == 0)).to_numpy()
    first = raw["sum.alsfrs.score"] - raw["last.alsfrs.score"]
    days = raw["last.alsfrs.score.date"] - raw["first.alsfrs.score.date"]
    expected = ((raw["last.alsfrs.score"] - first) / days * 30.4375)[two]
    np.testing.assert_allclose(cohort.table.loc[two, "alsfrs_r_slope_baseline"], expected, rtol=1e-12, atol=1e-12)
    assert DREAM_DAYS_PER_MONTH == pytest.approx(30.436667, abs=1e-6)
    imputed = (raw["lessthan2.alsfrs.score"] == 1).to_numpy()
    assert cohort.table.loc[imputed, "alsfrs_r_slope_baseline"].isna().all()


def test_imputed_values_are_missing_not_medians(cohort: Cohort, raw: pd.DataFrame) -> None:
    table = cohort.table
    one_weight = (raw["lessthan2.weight"] == 1).to_numpy()
    assert table.loc[one_weight, ["weight_slope_baseline", "weight_change_pct"]].isna().all().all()
    assert table.loc[~one_weight, ["weight_slope_baseline", "weight_change_pct"]].notna().all().all()
    no_height = (raw["no.height.data"] == 1).to_numpy()
    assert table.loc[no_height, "bmi"].isna().all()
    assert table.loc[~no_height, "bmi"].between(10, 70).all()
    assert table[["fvc_pct_pred", "fvc_slope_baseline", "diagnostic_delay_months"]].isna().all().all()
    no_fvc_change = ((raw["no.fvc.liters.data"] == 1) | (raw["lessthan2.fvc.liters"] == 1)).to_numpy()
    assert int(no_fvc_change.sum()) == 173
    assert table.loc[no_fvc_change, "fvc_change_pct"].isna().all()
    assert table.loc[~no_fvc_change, "fvc_change_pct"].notna().all()
    assert table[[f.name for f in S.BIOMARKER_FIELDS]].isna().all().all()


def test_fvc_change_is_the_relative_change_of_the_window(cohort: Cohort, raw: pd.DataFrame) -> None:
    # with exactly two FVC visits the first value is sum - last, so the change can be recomputed independently
    two = ((raw["num.fvc.liters.visits"] == 2) & (raw["lessthan2.fvc.liters"] == 0)).to_numpy()
    assert two.sum() == 13
    first = raw["sum.fvc.liters"] - raw["last.fvc.liters"]
    expected = (100 * (raw["last.fvc.liters"] - first) / first)[two]
    np.testing.assert_allclose(cohort.table.loc[two, "fvc_change_pct"], expected, rtol=1e-9, atol=1e-9)


def test_categories(cohort: Cohort, raw: pd.DataFrame) -> None:
    table = cohort.table
    assert table["sex"].value_counts(dropna=False).to_dict() == {np.nan: 864, "male": 616, "female": 342}
    assert table["onset_site"].value_counts().to_dict() == {"limb": 1429, "bulbar": 393}  # 383 + 10 both
    both = (raw["Site.of.Onset.Onset..Limb.and.Bulbar"] == 1).to_numpy()
    assert (table.loc[both, "onset_site"] == "bulbar").all()


def test_the_model_input_derives_on_the_legacy_scale(cohort: Cohort) -> None:
    X = build_model_input(cohort.table)
    step = BaselineFeatures(alsfrs_scale_max=cohort.alsfrs_scale, include_lcn2=False).fit(X)
    out = step.transform(X)
    names = list(step.get_feature_names_out())
    dfrs = out[:, names.index("dfrs_pre_slope_points_per_month")]
    expected = (40 - X["alsfrs_r_total"].to_numpy()) / np.maximum(X["months_since_onset"].to_numpy(), 1.0)
    np.testing.assert_array_equal(dfrs, expected)
    assert np.isnan(out[:, names.index("alsfrs_respiratory_points")]).all()
    with pytest.raises(ValueError, match="alsfrs_r_total must be <= alsfrs_scale_max=30"):
        BaselineFeatures(alsfrs_scale_max=30).fit(X)


def test_file_path_and_missing_path(dream_dir: Path, tmp_path: Path, cohort: Cohort) -> None:
    from_file = load_dream2012(dream_dir / DREAM_FILE)
    assert from_file.content_hash == cohort.content_hash
    with pytest.raises(FeatureDataError, match="DREAM-2012 feature table not found"):
        load_dream2012(tmp_path)


def test_broken_tables_report_every_violation(raw: pd.DataFrame, tmp_path: Path) -> None:
    broken = raw.head(5).copy()
    broken.loc[1, "no.height.data"] = 2
    broken.loc[3, "Sex.Female"] = 1
    broken.loc[3, "Sex.Male"] = 1
    path = tmp_path / DREAM_FILE
    broken.to_csv(path, index=False)
    with pytest.raises(FeatureDataError) as err:
        load_dream2012(path)
    rules = {(v.row, v.column, v.rule) for v in err.value.violations}
    assert rules == {(2, "no.height.data", "must be 0 or 1"),
                     (4, "Sex.Female/Sex.Male", "more than one category set")}
    raw.head(3).drop(columns=["Age", "dFRS"]).to_csv(path, index=False)
    with pytest.raises(FeatureDataError, match=r"2 violations found") as err:
        load_dream2012(path)
    assert {v.column for v in err.value.violations} == {"Age", "dFRS"}
