"""The cross-fitted LCN2 test on planted truth: a strong planted LCN2 signal is found, the same values shuffled
across patients (no signal, same distribution) are not.

A small simulated ``null-lcn2`` cohort (LCN2 independent of everything) gets a blood LCN2 value planted as a noisy
function of each patient's own observed outcomes: ln LCN2 = 4 + 0.6 z(slope) - 0.6 z(ln time) + N(0, 0.3). The
control shuffles those values across the patients. Same cohort, same folds, same tuning: only the signal differs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import spec as S
from training.config import simulated_config
from training.data.load import load_training_data
from training.fit.lcn2_test import lcn2_crossfit_test, rounds_grid

# Small and quick (about 10 s each on a quiet machine): 2 x 5 folds, a two-value rounds grid.
FAST = {"lcn2_test": {"repeats": 2, "folds": 5, "seed": 3}, "tuning": {"max_trees": 100, "n_trials": 0},
        "slope": {"params": {"n_estimators": 100, "max_depth": 2, "learning_rate": 0.1}},
        "survival": {"params": {"n_estimators": 100, "max_depth": 2, "learning_rate": 0.1}}}


def _z(v: np.ndarray) -> np.ndarray:
    return (v - np.nanmean(v)) / np.nanstd(v)


@pytest.fixture(scope="module")
def cohorts() -> tuple[pd.DataFrame, pd.DataFrame, float]:
    cfg = simulated_config(77, n_patients=500, scenario="null-lcn2")
    data = load_training_data(cfg.data)
    table = data.cohort.table.reset_index(drop=True)
    rng = np.random.default_rng(77)
    slope = np.nan_to_num(_z(table["alsfrs_r_slope_3_12"].to_numpy(float)))
    ln_time = _z(np.log(np.maximum(table["time_to_event_months"].to_numpy(float), 0.1)))
    planted = np.exp(4.0 + 0.6 * slope - 0.6 * np.nan_to_num(ln_time) + rng.normal(0, 0.3, len(table)))
    strong = table.assign(**dict.fromkeys(S.LCN2_FIELDS, np.nan)).assign(lcn2_plasma_ng_ml=planted)
    shuffled = strong.assign(lcn2_plasma_ng_ml=rng.permutation(planted))
    return strong, shuffled, float(data.cohort.alsfrs_scale)


def _config() -> object:
    return simulated_config(77, n_patients=500, scenario="null-lcn2", **FAST)


def test_a_strong_planted_lcn2_signal_is_found(cohorts: tuple[pd.DataFrame, pd.DataFrame, float]) -> None:
    strong, _, scale = cohorts
    result = lcn2_crossfit_test(strong, alsfrs_scale=scale, cfg=_config())
    m = result.metrics()
    assert result.adds_value
    assert m["lcn2_adds_value"] == 1.0
    assert result.cindex is not None
    assert result.cindex.lower_bound_above_zero
    assert result.slope.lower_bound_above_zero
    assert m["lcn2_test_folds"] == 10 == len(result.folds)
    assert m["lcn2_added_cindex_ci_low"] <= m["lcn2_added_cindex"] <= m["lcn2_added_cindex_ci_high"]
    assert 0 <= m["lcn2_added_cindex_p"] < 0.05
    assert 0 <= m["lcn2_added_slope_rmse_p"] < 0.05
    # the rounds were tuned inside each fold, on the pre-registered grid
    assert set(result.folds["slope_rounds_with"]) <= set(rounds_grid(100)) == {50, 100}


def test_the_same_values_shuffled_are_not_called_added_value(
        cohorts: tuple[pd.DataFrame, pd.DataFrame, float]) -> None:
    _, shuffled, scale = cohorts
    result = lcn2_crossfit_test(shuffled, alsfrs_scale=scale, cfg=_config())
    assert not result.adds_value
    assert result.metrics()["lcn2_adds_value"] == 0.0
    assert result.cindex is not None
    assert result.cindex.ci_low <= 0
    assert result.slope.ci_low <= 0


def test_without_survival_only_the_slope_is_tested(cohorts: tuple[pd.DataFrame, pd.DataFrame, float]) -> None:
    strong, _, scale = cohorts
    cfg = simulated_config(77, n_patients=500, **{**FAST, "lcn2_test": {"repeats": 1, "folds": 3, "seed": 3}})
    result = lcn2_crossfit_test(strong, alsfrs_scale=scale, cfg=cfg, survival=False)
    assert result.cindex is None
    assert "lcn2_added_cindex" not in result.metrics()
    assert result.metrics()["lcn2_test_folds"] == 3.0
