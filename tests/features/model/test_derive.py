"""BaselineFeatures: the estimator contract, exact derived values, the fast path and the LCN2 ablation."""

from __future__ import annotations

import math
import pickle
import statistics
import timeit
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from features import spec as S
from features.model import nfl_reference as R
from features.model.derive import (
    CATEGORICAL_INPUTS,
    MIN_MONTHS_FOR_PRE_SLOPE,
    OUTPUT_FEATURES,
    BaselineFeatures,
    build_model_input,
    feature_groups,
    output_names,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "features.md"

# --------------------------------------------------------------------------------------------------------------------
# sklearn's own suite
# --------------------------------------------------------------------------------------------------------------------
_NEEDS_NAMED_COLUMNS = (
    "fits on a generic array; BaselineFeatures needs a DataFrame of the named baseline columns (property tested "
    "on baseline data below)"
)
_GENERIC_FIT_CHECKS = (
    "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object", "check_estimators_dtypes",
    "check_estimators_fit_returns_self", "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample", "check_fit2d_predict1d",
    "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in",
    "check_n_features_in_after_fitting", "check_pipeline_consistency", "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input", "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes",
)


def expected_failed_checks(estimator: BaselineFeatures) -> dict[str, str]:
    """Generic checks that cannot apply to a transformer of named clinical columns, each with its reason."""
    return dict.fromkeys(_GENERIC_FIT_CHECKS, _NEEDS_NAMED_COLUMNS)


@parametrize_with_checks([BaselineFeatures(), BaselineFeatures(alsfrs_scale_max=40, include_lcn2=False)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator: BaselineFeatures, check: Any) -> None:
    check(estimator)


# --------------------------------------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------------------------------------
def full_record(**overrides: Any) -> dict[str, Any]:
    """One complete, plausible screening record (every baseline field given)."""
    rec: dict[str, Any] = {
        "age_at_onset_years": 55.0, "sex": "male", "onset_site": "limb", "months_since_onset": 60.0,
        "diagnostic_delay_months": 10.0, "alsfrs_r_total": 36.0,
        **{f"alsfrs_q{i}": float(v) for i, v in enumerate([4, 3, 4, 3, 2, 3, 3, 2, 1, 4, 4, 3], start=1)},
        "alsfrs_r_slope_baseline": -0.9, "fvc_pct_pred": 84.0, "fvc_slope_baseline": -2.0, "fvc_change_pct": -4.5,
        "bmi": 24.5, "weight_change_pct": -3.0, "weight_slope_baseline": -0.7,
        "nfl_serum_pg_ml": 20.0, "nfl_plasma_pg_ml": 18.0, "nfl_csf_pg_ml": 4000.0, "pnfh_serum_pg_ml": 90.0,
        "pnfh_csf_pg_ml": 2500.0, "lcn2_plasma_ng_ml": 80.0, "lcn2_serum_ng_ml": 95.0, "lcn2_csf_ng_ml": 12.0,
        "c9orf72": "negative", "el_escorial": "probable", "ftd": "no", "riluzole": True,
    }
    rec.update(overrides)
    return rec


def random_records(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """Random plausible records with every kind of missingness: absent keys, None and NaN."""
    records = []
    for _ in range(n):
        rec: dict[str, Any] = {}
        for f in S.BASELINE_FIELDS:
            roll = rng.random()
            if roll < 0.15:
                continue  # absent key = missing
            if roll < 0.22:
                rec[f.name] = None
                continue
            if roll < 0.27 and f.kind != "categorical":
                rec[f.name] = float("nan")
                continue
            if f.kind == "categorical":
                rec[f.name] = str(rng.choice(np.asarray(f.categories)))
            elif f.kind == "boolean":
                rec[f.name] = bool(rng.random() < 0.5)
            elif f.analyte is not None:
                rec[f.name] = float(np.exp(rng.normal(3.0, 1.5)))
            elif f.name.startswith("alsfrs_q"):
                rec[f.name] = int(rng.integers(0, 5))  # ints and floats mixed on purpose
            else:
                lower = 0.0 if f.lower is None else max(f.lower, -50.0)
                upper = 100.0 if f.upper is None else min(f.upper, 100.0)
                rec[f.name] = float(rng.uniform(lower, min(upper, 48.0) if f.name == "alsfrs_r_total" else upper))
        records.append(rec)
    return records


def frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=list(S.BASELINE_NAMES))


def fitted(records: list[dict[str, Any]] | None = None, **params: Any) -> BaselineFeatures:
    return BaselineFeatures(**params).fit(frame(records or [full_record()]))


def column(step: BaselineFeatures, out: np.ndarray, name: str) -> np.ndarray:
    return out[:, list(step.get_feature_names_out()).index(name)]


# --------------------------------------------------------------------------------------------------------------------
# Names and layout
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("include_lcn2", [True, False])
def test_feature_names_match_output_width_and_are_unique(include_lcn2: bool, rng: np.random.Generator) -> None:
    records = random_records(rng, 20)
    step = fitted(records, include_lcn2=include_lcn2)
    names = step.get_feature_names_out()
    out = step.transform(frame(records))
    assert out.shape == (20, len(names))
    assert out.dtype == np.float64
    assert len(set(names)) == len(names)
    assert list(names) == list(output_names(include_lcn2))


def test_include_lcn2_false_removes_exactly_the_lcn2_outputs(rng: np.random.Generator) -> None:
    records = random_records(rng, 50)
    with_lcn2, without = fitted(records), fitted(records, include_lcn2=False)
    names_with, names_without = list(with_lcn2.get_feature_names_out()), list(without.get_feature_names_out())
    removed = [n for n in names_with if n not in names_without]
    assert removed == [n for n in names_with if "lcn2" in n]
    assert set(removed) >= {*S.LCN2_FIELDS, "lcn2_nfl_index_z", "lcn2_blood_ng_ml", "ln_lcn2_blood_ng_ml",
                            "ln_lcn2_csf_ng_ml", *(f"{n}_missing" for n in S.LCN2_FIELDS)}
    assert [n for n in names_with if n not in removed] == names_without  # order of the rest unchanged
    out_with, out_without = with_lcn2.transform(frame(records)), without.transform(frame(records))
    keep = [names_with.index(n) for n in names_without]
    np.testing.assert_array_equal(out_with[:, keep], out_without)


def test_every_output_is_documented_with_a_unit() -> None:
    text = DOCS.read_text(encoding="utf-8")
    undocumented = [o.name for o in OUTPUT_FEATURES if f"`{o.name}`" not in text]
    assert not undocumented
    assert all(o.unit for o in OUTPUT_FEATURES)


def test_feature_groups_split_clinical_from_biomarkers() -> None:
    names = list(output_names(True))
    groups = feature_groups(names)
    assert sorted(groups["clinical"] + groups["biomarker"]) == sorted(names)
    assert groups["biomarker"] == [n for n in names if n in groups["neurofilament"] or n in groups["lcn2"]]
    assert not [n for n in groups["clinical"] if any(k in n for k in ("nfl", "pnfh", "lcn2"))]
    assert {"dfrs_pre_slope_points_per_month", "age_at_sampling_years", "sex_missing", "bmi_missing",
            "alsfrs_bulbar_points"} <= set(groups["clinical"])
    assert {"nfl_blood_age_z", "nfl_csf_pg_ml_missing"} <= set(groups["neurofilament"])
    assert "lcn2_nfl_index_z" in groups["lcn2"]
    with pytest.raises(ValueError, match=r"not BaselineFeatures outputs: \['patient_id'\]"):
        feature_groups(["age_at_onset_years", "patient_id"])


# --------------------------------------------------------------------------------------------------------------------
# Exact derived values on hand-made rows
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scale", "total", "months", "expected"),
    [
        (48, 36.0, 12.0, 1.0),  # (48 - 36) / 12
        (48, 48.0, 30.0, 0.0),
        (40, 30.0, 10.0, 1.0),  # legacy ALSFRS (DREAM-2012): (40 - 30) / 10
        (48, 40.0, 0.25, 8.0),  # below the 1-month floor: (48 - 40) / 1
        (48, 40.0, 0.0, 8.0),
        (48, float("nan"), 12.0, float("nan")),
        (48, 36.0, float("nan"), float("nan")),
    ],
)
def test_dfrs_pre_slope(scale: int, total: float, months: float, expected: float) -> None:
    rec = full_record(alsfrs_r_total=total, months_since_onset=months)
    step = fitted([rec], alsfrs_scale_max=scale)
    got = column(step, step.transform_records([rec]), "dfrs_pre_slope_points_per_month")[0]
    np.testing.assert_equal(got, expected)
    assert MIN_MONTHS_FOR_PRE_SLOPE == 1.0


def test_alsfrs_domain_subscores_need_all_three_items() -> None:
    rec = full_record()  # items 4 3 4 | 3 2 3 | 3 2 1 | 4 4 3
    partial = full_record(alsfrs_q5=None)
    partial.pop("alsfrs_q11")
    step = fitted([rec])
    out = step.transform_records([rec, partial])
    assert column(step, out, "alsfrs_bulbar_points").tolist() == [11.0, 11.0]
    np.testing.assert_equal(column(step, out, "alsfrs_fine_motor_points"), [8.0, np.nan])
    assert column(step, out, "alsfrs_gross_motor_points").tolist() == [6.0, 6.0]
    np.testing.assert_equal(column(step, out, "alsfrs_respiratory_points"), [11.0, np.nan])


def test_age_at_sampling_and_nfl_age_z_exact() -> None:
    # onset at 55, 60 months later -> sampled at 60; healthy median there = exp(mu_50 + 10 * ln 1.031)
    rec = full_record(age_at_onset_years=55.0, months_since_onset=60.0, nfl_serum_pg_ml=20.0)
    step = fitted([rec])
    out = step.transform_records([rec])
    assert column(step, out, "age_at_sampling_years")[0] == 60.0
    mu_60 = R.NFL_LOG_MEDIAN_AT_50 + 10 * math.log(1.031)
    expected = (math.log(20.0) - mu_60) / 0.40
    assert column(step, out, "nfl_blood_age_z")[0] == pytest.approx(expected, rel=1e-12)
    assert column(step, out, "ln_nfl_blood_pg_ml")[0] == pytest.approx(math.log(20.0), rel=1e-15)


@pytest.mark.parametrize("age", [25.0, 47.5, 60.0, 85.0])
def test_nfl_age_z_is_0_at_the_healthy_median_and_1_96_at_the_97_5th_percentile(age: float) -> None:
    months = 24.0
    onset = age - months / 12
    median = float(np.exp(R.nfl_log_median(age)))
    p975 = float(R.nfl_p975_pg_ml(age))
    records = [full_record(age_at_onset_years=onset, months_since_onset=months, nfl_serum_pg_ml=v)
               for v in (median, p975)]
    step = fitted(records)
    z = column(step, step.transform_records(records), "nfl_blood_age_z")
    np.testing.assert_allclose(z, [0.0, R.Z_975], atol=1e-12)


def test_nfl_reference_reproduces_the_published_limits_and_trend() -> None:
    for age, limit in R.BORNHORST_2022_P975_PG_ML:
        assert float(R.nfl_p975_pg_ml(age)) == pytest.approx(limit, rel=0.015)
    ratio = float(R.nfl_p975_pg_ml(61.0) / R.nfl_p975_pg_ml(60.0))
    assert ratio == pytest.approx(1.031, rel=1e-12)  # +3.1 % per year (Bornhorst 2022)


@pytest.mark.parametrize(
    ("serum", "plasma", "expected"),
    [(30.0, 20.0, 30.0), (None, 20.0, 20.0), (30.0, None, 30.0), (None, None, float("nan"))],
)
def test_blood_nfl_is_serum_else_plasma(serum: float | None, plasma: float | None, expected: float) -> None:
    rec = full_record(nfl_serum_pg_ml=serum, nfl_plasma_pg_ml=plasma)
    step = fitted([full_record()])
    out = step.transform_records([rec])
    np.testing.assert_equal(column(step, out, "nfl_blood_pg_ml")[0], expected)
    np.testing.assert_equal(column(step, out, "ln_nfl_blood_pg_ml")[0], np.log(expected))


@pytest.mark.parametrize(
    ("plasma", "serum", "expected"),
    [(80.0, 95.0, 80.0), (None, 95.0, 95.0), (None, None, float("nan"))],
)
def test_blood_lcn2_is_plasma_else_serum(plasma: float | None, serum: float | None, expected: float) -> None:
    rec = full_record(lcn2_plasma_ng_ml=plasma, lcn2_serum_ng_ml=serum)
    step = fitted([full_record()])
    np.testing.assert_equal(column(step, step.transform_records([rec]), "lcn2_blood_ng_ml")[0], expected)


def test_lcn2_nfl_index_uses_robust_training_standardisation() -> None:
    # 11 training patients at age 60 with ln LCN2 = 0..10 and NfL z = 0..10 (median 5, IQR 5 -> scale 5 / 1.349)
    mu_60 = R.nfl_log_median(60.0)
    train = [full_record(age_at_onset_years=58.0, months_since_onset=24.0, lcn2_plasma_ng_ml=math.exp(k),
                         nfl_serum_pg_ml=float(np.exp(mu_60 + R.NFL_LOG_SD * k))) for k in range(11)]
    step = fitted(train)
    scale = 5.0 / 1.3489795003921634
    np.testing.assert_allclose(step.lcn2_nfl_index_params_, [5.0, scale, 5.0, scale], rtol=1e-12)
    out = step.transform_records([train[8], full_record(lcn2_plasma_ng_ml=None, lcn2_serum_ng_ml=None)])
    index = column(step, out, "lcn2_nfl_index_z")
    assert index[0] == pytest.approx(2 * 3.0 / scale, rel=1e-12)
    assert np.isnan(index[1])  # missing unless both components are present


def test_lcn2_nfl_index_is_missing_when_too_few_training_values() -> None:
    step = fitted([full_record()] * 5)
    assert np.isnan(step.lcn2_nfl_index_params_).all()
    assert np.isnan(column(step, step.transform_records([full_record()]), "lcn2_nfl_index_z")).all()


def test_missing_stays_missing_and_is_flagged() -> None:
    required = {f.name: full_record()[f.name] for f in S.BASELINE_FIELDS if f.required_for_scoring}
    step = fitted([full_record()])
    out = step.transform_records([required])
    names = list(step.get_feature_names_out())
    for f in S.BASELINE_FIELDS:
        if f.name in required:
            continue
        if f.kind == "categorical":
            assert out[0, names.index(f"{f.name}_missing")] == 1.0
            assert not out[0, [names.index(f"{f.name}_{c}") for c in CATEGORICAL_INPUTS[f.name]]].any()
        else:
            assert np.isnan(out[0, names.index(f.name)]), f.name  # missing is NaN, never 0
            if f.name == "diagnostic_delay_months":
                # optional for scoring since issue 17 but without an indicator, so pickled models keep their layout
                assert f"{f.name}_missing" not in names
                continue
            assert out[0, names.index(f"{f.name}_missing")] == 1.0, f.name
    for name in ("nfl_blood_age_z", "ln_pnfh_csf_pg_ml", "lcn2_nfl_index_z", "alsfrs_bulbar_points"):
        assert np.isnan(out[0, names.index(name)])
    complete = step.transform_records([full_record()])
    assert not complete[0, [i for i, n in enumerate(names) if n.endswith("_missing")]].any()


def test_categories_and_riluzole_encoding() -> None:
    step = fitted([full_record()])
    out = step.transform_records([full_record(sex="female", riluzole=False), full_record(riluzole=None)])
    names = list(step.get_feature_names_out())
    assert out[:, names.index("sex_female")].tolist() == [1.0, 0.0]
    assert out[:, names.index("sex_male")].tolist() == [0.0, 1.0]
    np.testing.assert_equal(out[:, names.index("riluzole")], [0.0, np.nan])
    assert out[:, names.index("riluzole_missing")].tolist() == [0.0, 1.0]


# --------------------------------------------------------------------------------------------------------------------
# The two paths are one implementation
# --------------------------------------------------------------------------------------------------------------------
def test_records_fast_path_equals_dataframe_path(rng: np.random.Generator) -> None:
    records = random_records(rng, 400)
    records[0] = {}  # nothing at all
    records[1] = full_record(nfl_serum_pg_ml=pd.NA, sex=pd.NA)  # pandas' missing marker takes the slow branch
    step = fitted(records)
    from_frame = step.transform(frame(records))
    from_records = step.transform_records(records)
    np.testing.assert_array_equal(from_frame, from_records)  # NaN positions included
    assert np.isnan(from_records).any()
    assert not np.isnan(from_records).all()
    single = np.vstack([step.transform_records([r]) for r in records[:50]])
    np.testing.assert_array_equal(single, from_records[:50])


def test_fast_path_is_well_under_a_millisecond() -> None:
    rec = full_record()
    step = fitted([rec])
    step.transform_records([rec])
    times = timeit.repeat(lambda: step.transform_records([rec]), number=1, repeat=500)
    assert statistics.median(times) < 1e-3


def test_empty_input_gives_an_empty_matrix() -> None:
    step = fitted([full_record()])
    assert step.transform_records([]).shape == (0, len(step.get_feature_names_out()))


# --------------------------------------------------------------------------------------------------------------------
# Loud errors
# --------------------------------------------------------------------------------------------------------------------
def test_missing_columns_are_named() -> None:
    X = frame([full_record()]).drop(columns=["bmi", "sex"])
    with pytest.raises(ValueError, match=r"^2 features are missing from data: \['sex', 'bmi'\]$"):
        BaselineFeatures().fit(X)
    step = fitted([full_record()])
    with pytest.raises(ValueError, match="2 features are missing from data"):
        step.transform(X)


def test_extra_columns_and_arrays_are_refused() -> None:
    X = frame([full_record()]).assign(patient_id="P1")
    with pytest.raises(ValueError, match=r"not baseline fields: \['patient_id'\].*build_model_input"):
        BaselineFeatures().fit(X)
    with pytest.raises(ValueError, match="needs a pandas DataFrame"):
        BaselineFeatures().fit(np.zeros((3, len(S.BASELINE_NAMES))))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"record 2 has unknown fields: \['nfl_pg_ml'\]"):
        fitted().transform_records([full_record(), {"nfl_pg_ml": 3.0}])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"sex": "Male"}, r"sex: unknown category 'Male' in record 1 \(expected one of female, male, or missing\)"),
        ({"onset_site": "spinal"}, r"onset_site: unknown category 'spinal'"),
        ({"c9orf72": 1}, r"c9orf72: unknown category 1"),
        ({"nfl_serum_pg_ml": 0.0}, r"nfl_serum_pg_ml must be > 0 .*got 0.0 in record 1"),
        ({"lcn2_csf_ng_ml": -1.0}, r"lcn2_csf_ng_ml must be > 0"),
        ({"bmi": float("inf")}, r"bmi must be finite, got inf"),
        ({"months_since_onset": -2.0}, r"months_since_onset must be >= 0 months, got -2.0"),
        ({"riluzole": 0.5}, r"riluzole must be true/false \(1/0\) or missing, got 0.5"),
        ({"riluzole": 2}, r"riluzole must be true/false"),
        ({"alsfrs_r_total": "41"}, r"alsfrs_r_total must be a number or missing, got '41' in record 1"),
        ({"alsfrs_r_total": 47.0}, r"alsfrs_r_total must be <= alsfrs_scale_max=40"),
    ],
)
def test_bad_values_are_named_on_both_paths(override: dict[str, Any], message: str) -> None:
    step = fitted([full_record(alsfrs_r_total=30.0)], alsfrs_scale_max=40)
    bad = full_record(**{"alsfrs_r_total": 30.0, **override})
    with pytest.raises(ValueError, match=message):
        step.transform_records([bad])
    with pytest.raises(ValueError, match=message):
        step.transform(frame([bad]))
    with pytest.raises(ValueError, match=message):
        BaselineFeatures(alsfrs_scale_max=40).fit(frame([bad]))


@pytest.mark.parametrize("params", [{"alsfrs_scale_max": 0}, {"alsfrs_scale_max": "48"}, {"include_lcn2": "yes"}])
def test_invalid_parameters_fail_at_fit(params: dict[str, Any]) -> None:
    step = BaselineFeatures(**params)  # __init__ only stores
    assert step.get_params()[next(iter(params))] == next(iter(params.values()))
    with pytest.raises(ValueError, match=next(iter(params))):
        step.fit(frame([full_record()]))


def test_unfitted_transform_raises() -> None:
    with pytest.raises(NotFittedError):
        BaselineFeatures().transform_records([full_record()])
    with pytest.raises(NotFittedError):
        BaselineFeatures().transform(frame([full_record()]))


# --------------------------------------------------------------------------------------------------------------------
# The estimator contract on real baseline data (what the generic checks above cannot exercise)
# --------------------------------------------------------------------------------------------------------------------
def test_estimator_contract_on_baseline_data(rng: np.random.Generator) -> None:
    records = random_records(rng, 120)
    X = frame(records)
    step = BaselineFeatures(alsfrs_scale_max=48, include_lcn2=True)
    assert vars(step) == {"alsfrs_scale_max": 48, "include_lcn2": True}  # __init__ stores params only
    assert step.fit(X) is step
    learned = {k for k in vars(step) if k not in step.get_params()}
    assert learned == {"feature_names_in_", "n_features_in_", "lcn2_nfl_index_params_"}
    assert step.get_params() == {"alsfrs_scale_max": 48, "include_lcn2": True}
    assert list(step.feature_names_in_) == list(S.BASELINE_NAMES)
    assert step.n_features_in_ == len(S.BASELINE_NAMES)
    out = step.transform(X)
    np.testing.assert_array_equal(step.fit(X).transform(X), out)  # fit is idempotent
    np.testing.assert_array_equal(step.fit_transform(X), out)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(step)).transform(X), out)
    np.testing.assert_array_equal(clone(step).fit(X).transform(X), out)
    order = rng.permutation(len(X))
    np.testing.assert_array_equal(step.transform(X.iloc[order]), out[order])  # rows are independent
    np.testing.assert_array_equal(step.transform(X.iloc[:7]), out[:7])
    assert X.equals(frame(records))  # input left untouched


def test_set_output_pandas_names_the_columns() -> None:
    step = fitted([full_record()]).set_output(transform="pandas")
    out = step.transform(frame([full_record()]))
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(output_names(True))


def test_build_model_input_returns_baseline_columns_in_spec_order() -> None:
    table = frame([full_record()])[list(reversed(S.BASELINE_NAMES))].assign(patient_id="P1", split="train")
    X = build_model_input(table)
    assert list(X.columns) == list(S.BASELINE_NAMES)
    with pytest.raises(ValueError, match=r"1 features are missing from data: \['riluzole'\]"):
        build_model_input(table.drop(columns=["riluzole"]))


def test_cohort_dtypes_are_accepted() -> None:
    """A cohort table's nullable dtypes (string, boolean) give the same matrix as plain records."""
    from features.cohort.table import cohort_dtype

    records = [full_record(), full_record(riluzole=None, sex=None, bmi=None)]
    table = frame(records)
    for f in S.BASELINE_FIELDS:
        table[f.name] = table[f.name].astype(cohort_dtype(f))
    step = fitted(records)
    np.testing.assert_array_equal(step.transform(table), step.transform_records(records))


def test_a_failed_fit_leaves_the_estimator_unfitted() -> None:
    step = BaselineFeatures()
    with pytest.raises(ValueError, match="unknown category"):
        step.fit(frame([full_record(sex="x")]))
    with pytest.raises(NotFittedError):
        step.transform_records([full_record()])
