"""Missingness augmentation: blanked copies teach the progression models what an unsent field means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import spec as S
from features.model.derive import BaselineFeatures
from training.config import BoosterParams, SlopeConfig, SparsityConfig, simulated_config
from training.data.load import load_training_data
from training.data.splits import cv_folds
from training.fit.sparsity import (
    MASKING_UNITS,
    copies_follow_folds,
    fit_slope_on_sparse_copies,
    optional_fields_without_unit,
    with_blanked_copies,
)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    cfg = simulated_config(5, n_patients=600)
    return load_training_data(cfg.data).cohort.table.reset_index(drop=True)


def test_every_optional_field_is_in_exactly_one_unit_and_no_required_field_is() -> None:
    assert optional_fields_without_unit() == []
    listed = [c for fields in MASKING_UNITS.values() for c in fields]
    assert len(listed) == len(set(listed)), "a field is in two masking units"
    assert set(listed) <= set(S.BASELINE_NAMES)
    assert not set(listed) & set(S.REQUIRED_FOR_SCORING)


def test_copies_only_blank_whole_units_and_keep_the_recorded_rows(cohort: pd.DataFrame) -> None:
    x = cohort[list(S.BASELINE_NAMES)]
    out = with_blanked_copies(x, copies=3, blank_probability=0.5, seed=7)
    assert len(out.rows) == 4 * len(x)
    assert list(out.rows.dtypes) == list(x.dtypes)
    np.testing.assert_array_equal(out.origin, np.tile(np.arange(len(x)), 4))
    pd.testing.assert_frame_equal(out.rows.iloc[: len(x)], x.reset_index(drop=True))
    copies = out.rows.iloc[len(x):].reset_index(drop=True)
    source = x.iloc[out.origin[len(x):]].reset_index(drop=True)
    # A copy never invents a value: every cell is the source's value or blank, and required fields are untouched.
    for name in S.BASELINE_NAMES:
        kept = copies[name].notna()
        assert (copies.loc[kept, name].astype(object) == source.loc[kept, name].astype(object)).all(), name
        if name in S.REQUIRED_FOR_SCORING:
            assert kept.all(), name
    # Whole units: within a copy, the twelve ALSFRS-R items are blank together or as recorded.
    items = list(MASKING_UNITS["ALSFRS-R items"])
    blank_items = copies[items].isna().sum(axis=1)
    recorded_items = source[items].isna().sum(axis=1)
    assert ((blank_items == 12) | (blank_items == recorded_items)).all()
    # The blanking rate is the configured one (a unit recorded in the source is blanked ~half the time).
    recorded = source["fvc_pct_pred"].notna()
    assert copies.loc[recorded, "fvc_pct_pred"].isna().mean() == pytest.approx(0.5, abs=0.05)


def test_no_copy_of_a_patient_is_scored_by_a_model_that_saw_the_patient() -> None:
    origin = np.tile(np.arange(10), 3)
    folds = [(np.arange(5, 10), np.arange(5)), (np.arange(5), np.arange(5, 10))]
    for tr, va in copies_follow_folds(origin, folds):
        assert not set(origin[tr]) & set(origin[va])
        assert len(tr) + len(va) == len(origin)


def test_a_candidate_who_sends_only_the_required_fields_gets_an_unbiased_slope(cohort: pd.DataFrame) -> None:
    """Planted behaviour: trained on patients as recorded (who nearly always have their optional fields), the
    booster scores required-fields-only rows by default branches; trained with blanked copies it scores them as
    patients with only those fields were observed to decline. Judged on the same held-out patients."""
    has_y = cohort["alsfrs_r_slope_3_12"].notna().to_numpy()
    rows = cohort.loc[has_y].reset_index(drop=True)
    train, test = rows.iloc[:400].reset_index(drop=True), rows.iloc[400:].reset_index(drop=True)
    x_train = train[list(S.BASELINE_NAMES)]
    deriver = BaselineFeatures().fit(x_train)
    y = train["alsfrs_r_slope_3_12"].to_numpy(dtype=float)
    folds = cv_folds(train, n_folds=3, seed=1)
    params = BoosterParams(n_estimators=120, max_depth=2, learning_rate=0.08)
    cfg = SlopeConfig(conformal=False)
    minimal = test[list(S.BASELINE_NAMES)].copy()
    for name in S.BASELINE_NAMES:
        if name not in S.REQUIRED_FOR_SCORING:
            minimal[name] = np.nan if minimal[name].dtype.kind == "f" else pd.NA
    observed = test["alsfrs_r_slope_3_12"].to_numpy(dtype=float)

    def bias(copies: int) -> float:
        slope = fit_slope_on_sparse_copies(deriver, x_train, y, cfg, params, folds,
                                           SparsityConfig(blanked_copies=copies), seed=3).component
        import xgboost as xgb

        point = slope.predict(xgb.DMatrix(deriver.transform(minimal), missing=np.nan, nthread=1))[1]
        return abs(float(np.mean(point - observed)))

    without, with_copies = bias(0), bias(2)
    # Measured at this seed: 0.21 points/month without copies, 0.03 with them.
    assert with_copies < 0.5 * without, (with_copies, without)


def test_out_of_fold_slopes_are_one_per_recorded_patient_and_from_models_that_did_not_see_them(
        cohort: pd.DataFrame) -> None:
    import xgboost as xgb

    has_y = cohort["alsfrs_r_slope_3_12"].notna()
    train = cohort.loc[has_y].reset_index(drop=True).iloc[:400]
    x = train[list(S.BASELINE_NAMES)]
    deriver = BaselineFeatures().fit(x)
    y = train["alsfrs_r_slope_3_12"].to_numpy(dtype=float)
    folds = cv_folds(train, n_folds=3, seed=1)
    params = BoosterParams(n_estimators=120, max_depth=3, learning_rate=0.1)
    fitted = fit_slope_on_sparse_copies(deriver, x, y, SlopeConfig(conformal=True), params, folds,
                                        SparsityConfig(blanked_copies=2), seed=3)
    oof = fitted.out_of_fold_point
    assert oof is not None
    assert oof.shape == (len(x),)  # the recorded patients only, not their blanked copies
    in_sample = fitted.component.predict(xgb.DMatrix(deriver.transform(x), missing=np.nan, nthread=1))[1]
    # A booster fits the rows it was trained on; rows scored out of fold carry the larger, honest error.
    assert np.sqrt(np.mean((oof - y) ** 2)) > 1.05 * np.sqrt(np.mean((in_sample - y) ** 2))
    without = fit_slope_on_sparse_copies(deriver, x, y, SlopeConfig(conformal=False), params, folds,
                                         SparsityConfig(blanked_copies=2), seed=3)
    assert without.out_of_fold_point is None
