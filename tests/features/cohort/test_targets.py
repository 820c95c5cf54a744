"""Outcome builders: OLS slopes in points/month, the (91, 365] slope outcome, the survival outcome and ``y``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import spec as S
from features.cohort.targets import (
    grouped_ols_slope_per_month,
    ols_slope_per_month,
    slope_outcome,
    survival_array,
    survival_outcome,
)
from features.errors import FeatureDataError

DPM = S.DAYS_PER_MONTH


# ---------------------------------------------------------------------------------------------------------------
# OLS slope
# ---------------------------------------------------------------------------------------------------------------
def test_months_are_days_over_30_4375() -> None:
    # One point per 30.4375 days is exactly one point per month.
    assert ols_slope_per_month([0, 30.4375], [48, 47]) == pytest.approx(-1.0, abs=1e-12)
    # One point per 30 days is 30.4375 / 30 points per month.
    assert ols_slope_per_month([0, 30, 60], [40, 39, 38]) == pytest.approx(-DPM / 30, rel=1e-12)


def test_ols_slope_three_points_by_hand() -> None:
    # x = 100, 150, 200 (mean 150), y = 40, 38, 37: Sxy = -150, Sxx = 5000 -> -0.03 points/day.
    assert ols_slope_per_month([100, 150, 200], [40, 38, 37]) == pytest.approx(-0.03 * DPM, rel=1e-12)


@pytest.mark.parametrize(
    ("days", "values"),
    [([], []), ([10], [40]), ([10, 10], [40, 38]), ([0, 30], [40, np.nan]), ([0, np.nan], [40, 38])],
    ids=["none", "one", "same-day", "missing-value", "missing-day"],
)
def test_ols_slope_needs_two_distinct_days(days: list[float], values: list[float]) -> None:
    assert np.isnan(ols_slope_per_month(days, values))


def test_ols_slope_ignores_missing_pairs() -> None:
    assert ols_slope_per_month([0, 15, 30.4375], [48, np.nan, 47]) == pytest.approx(-1.0, abs=1e-12)


def test_grouped_slope_matches_polyfit_per_group(rng: np.random.Generator) -> None:
    n_groups = 50
    groups = rng.integers(0, n_groups, 2000)
    days = rng.integers(-100, 2000, groups.size).astype(float)
    values = rng.normal(30, 8, groups.size)
    slopes = grouped_ols_slope_per_month(groups, days, values, n_groups)
    for g in range(n_groups):
        rows = groups == g
        expected = np.polyfit(days[rows] / DPM, values[rows], 1)[0]
        assert slopes[g] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_grouped_slope_rules_and_empty_groups() -> None:
    slopes = grouped_ols_slope_per_month(
        [0, 0, 2, 2, 2], [0, 89, 0, 45, 90], [40, 30, 40, 35, 30], 4, min_points=3, min_span_days=90
    )
    assert np.isnan(slopes[0])  # two points, fewer than 3
    assert slopes[2] == pytest.approx(-10 / (90 / DPM))
    assert np.isnan(slopes[1])
    assert np.isnan(slopes[3])


def test_grouped_slope_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"integer codes in \[0, 2\)"):
        grouped_ols_slope_per_month([0, 2], [0, 1], [1, 2], 2)
    with pytest.raises(ValueError, match=r"days must have shape \(2,\)"):
        grouped_ols_slope_per_month([0, 1], [0], [1, 2], 2)


# ---------------------------------------------------------------------------------------------------------------
# Slope outcome: window (91, 365], >= 2 visits spanning >= 90 days
# ---------------------------------------------------------------------------------------------------------------
def test_slope_outcome_window_edges() -> None:
    out = slope_outcome(
        [0, 0, 0, 1, 1, 1],
        [91, 100, 190, 200, 365, 366],
        [48, 38, 35, 40, 35, 0],
        2,
    )
    # Day 91 belongs to the baseline window: it is not part of the outcome (it would change the slope).
    assert out.slope[0] == pytest.approx(-3 / (90 / DPM), rel=1e-12)
    # Day 365 is inside, day 366 outside.
    assert out.slope[1] == pytest.approx(-5 / (165 / DPM), rel=1e-12)
    assert out.rows_in_window.tolist() == [False, True, True, True, True, False]
    assert out.rows_used.tolist() == [False, True, True, True, True, False]


@pytest.mark.parametrize(
    ("days", "expected_ok"),
    [
        ([100, 190], True),  # span exactly 90 days
        ([100, 189], False),  # span 89 days
        ([91, 181], False),  # day 91 is not in the window: one visit left
        ([150], False),  # one visit
        ([100, 120, 150], False),  # three visits, span 50 days
    ],
)
def test_slope_outcome_count_and_span_rules(days: list[int], expected_ok: bool) -> None:
    totals = [40 - i for i in range(len(days))]
    out = slope_outcome([0] * len(days), days, totals, 1)
    assert np.isfinite(out.slope[0]) == expected_ok
    assert out.rows_used.any() == expected_ok


def test_slope_outcome_ignores_visits_without_total() -> None:
    out = slope_outcome([0, 0, 0], [100, 150, 200], [40, np.nan, 37], 1)
    assert out.slope[0] == pytest.approx(-3 / (100 / DPM))
    assert out.rows_in_window.tolist() == [True, False, True]


def test_slope_outcome_never_imputes() -> None:
    out = slope_outcome([], [], [], 3)
    assert out.slope.shape == (3,)
    assert np.isnan(out.slope).all()


# ---------------------------------------------------------------------------------------------------------------
# Survival outcome
# ---------------------------------------------------------------------------------------------------------------
def test_survival_first_endpoint_wins_and_censoring_at_latest_contact() -> None:
    out = survival_outcome(
        4,
        event_groups=[0, 0, 2],
        event_days=[300, 200, 0],  # patient 0: death at 300 listed before tracheostomy at 200
        contact_groups=[0, 1, 1, 1, 2, 3],
        contact_days=[100, 100, 500, 400, 10, 0],
    )
    np.testing.assert_allclose(out.time_months, [200 / DPM, 500 / DPM, 0.0, 0.0], rtol=1e-12)
    assert out.event_observed.tolist() == [True, False, True, False]


def test_survival_without_any_contact_is_missing() -> None:
    out = survival_outcome(2, [], [], [0], [50])
    assert out.time_months[0] == pytest.approx(50 / DPM)
    assert np.isnan(out.time_months[1])
    assert not out.event_observed[1]


# ---------------------------------------------------------------------------------------------------------------
# survival_array (scikit-survival y)
# ---------------------------------------------------------------------------------------------------------------
def _outcomes(time: list[float], event: list[bool | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(len(time))],
            "time_to_event_months": pd.Series(time, dtype="float64"),
            "event_observed": pd.Series(event, dtype="boolean"),
        }
    )


def test_survival_array_is_a_structured_sksurv_y() -> None:
    y = survival_array(_outcomes([6.5, 0.0, 12.0], [True, False, False]))
    assert y.dtype.names == ("event", "time")
    assert y["event"].dtype == np.bool_
    assert y["time"].dtype == np.float64
    assert y["event"].tolist() == [True, False, False]
    assert y["time"].tolist() == [6.5, 0.0, 12.0]

    from sksurv.util import check_y_survival

    event, time = check_y_survival(y)
    assert event.sum() == 1
    assert time.max() == 12.0


def test_survival_array_names_every_bad_row() -> None:
    with pytest.raises(FeatureDataError) as info:
        survival_array(_outcomes([np.nan, -1.0, 3.0], [True, False, None]))
    text = str(info.value)
    assert "3 violations" in text
    assert "cohort row 1, column time_to_event_months: required value is missing (or not finite) (patient P0)" in text
    assert "cohort row 2, column time_to_event_months: must be >= 0 months (patient P1), got -1.0" in text
    assert "cohort row 3, column event_observed: required value is missing (patient P2)" in text


def test_survival_array_zero_time_is_opt_out() -> None:
    frame = _outcomes([0.0, 2.0], [False, True])
    assert survival_array(frame)["time"][0] == 0.0
    with pytest.raises(FeatureDataError, match=r"row 1, column time_to_event_months: must be > 0 months"):
        survival_array(frame, allow_time_zero=False)


def test_survival_array_missing_column() -> None:
    with pytest.raises(FeatureDataError, match="column event_observed: required column is missing"):
        survival_array(pd.DataFrame({"time_to_event_months": [1.0]}))
