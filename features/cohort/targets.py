"""Outcome builders: the ALSFRS-R slope outcome and the composite survival outcome, plus the sksurv ``y``.

The functions here are small, pure and vectorised over patients: every per-patient quantity is computed with
grouped reductions (``np.bincount``, ``ufunc.at``) over a flat array of records and an integer patient code per
record, so assembling 10,000 patients costs the same handful of array passes as assembling ten.

Definitions (binding, see ``docs/cohort.md`` and the architecture's "Time and units"):

- months = days / 30.4375 (:data:`features.spec.DAYS_PER_MONTH`);
- slope outcome ``alsfrs_r_slope_3_12``: ordinary least-squares slope of the ALSFRS-R total (points) against
  time (months) over the visits with day in (91, 365], at least 2 visits spanning at least 90 days, else missing;
- survival outcome: months from day 0 to the first of death, tracheostomy or permanent ventilation
  (``event_observed`` True), else to the last contact day (``event_observed`` False).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from features import spec as S
from features.errors import FeatureDataError, Violation

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SlopeOutcome",
    "SurvivalOutcome",
    "grouped_ols_slope_per_month",
    "ols_slope_per_month",
    "slope_outcome",
    "survival_array",
    "survival_outcome",
]


class SlopeOutcome(NamedTuple):
    """The slope outcome of every patient and the records that produced it.

    Attributes
    ----------
    slope : ndarray of float, shape (n_patients,)
        ALSFRS-R slope in points/month (negative = decline); NaN when the window rule is not met.
    rows_in_window : ndarray of bool, shape (n_records,)
        Records with a total whose day lies in the outcome window (91, 365].
    rows_used : ndarray of bool, shape (n_records,)
        Records in the window whose patient got a slope (the records the slope was fitted on).
    """

    slope: NDArray[np.float64]
    rows_in_window: NDArray[np.bool_]
    rows_used: NDArray[np.bool_]


class SurvivalOutcome(NamedTuple):
    """The composite survival outcome of every patient.

    Attributes
    ----------
    time_months : ndarray of float, shape (n_patients,)
        Months from day 0 to the first endpoint, or to the last contact when censored; NaN only for a patient
        with neither an endpoint nor any contact day.
    event_observed : ndarray of bool, shape (n_patients,)
        True when an endpoint was observed, False when censored.
    """

    time_months: NDArray[np.float64]
    event_observed: NDArray[np.bool_]


def _as_groups(groups: ArrayLike, n_groups: int) -> NDArray[np.intp]:
    codes = np.asarray(groups)
    if codes.ndim != 1:
        raise ValueError(f"groups must be one-dimensional, got shape {codes.shape}")
    if codes.size and (not np.issubdtype(codes.dtype, np.integer) or codes.min() < 0 or codes.max() >= n_groups):
        raise ValueError(f"groups must be integer codes in [0, {n_groups}); got values outside that range")
    return codes.astype(np.intp, copy=False)


def _as_float(values: ArrayLike, n: int, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype="float64")
    if array.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) like groups, got {array.shape}")
    return array


def grouped_ols_slope_per_month(
    groups: ArrayLike,
    days: ArrayLike,
    values: ArrayLike,
    n_groups: int,
    *,
    min_points: int = 2,
    min_span_days: float = 0.0,
) -> NDArray[np.float64]:
    """OLS slope of ``values`` against time in months, per group, in one vectorised pass.

    Parameters
    ----------
    groups : array-like of int, shape (n_records,)
        Group (patient) code of each record, in ``[0, n_groups)``.
    days : array-like of float, shape (n_records,)
        Day of each record relative to the index day 0; converted to months (days / 30.4375).
    values : array-like of float, shape (n_records,)
        The measurement (e.g. ALSFRS-R total in points, FVC in % predicted, weight in kg). Records with a
        missing value or day are ignored.
    n_groups : int
        Number of groups; the result has one entry per group.
    min_points : int, default 2
        Fewest records a group needs for a slope.
    min_span_days : float, default 0
        Smallest ``max(day) - min(day)`` a group needs for a slope, days. Independently of it, at least two
        distinct days are always needed (otherwise the slope is undefined).

    Returns
    -------
    ndarray of float, shape (n_groups,)
        Slope in value units per month; NaN for a group that fails the rules.

    Examples
    --------
    >>> grouped_ols_slope_per_month([0, 0, 1], [0, 30.4375, 0], [40, 38, 45], 2)
    array([-2., nan])
    """
    codes = _as_groups(groups, n_groups)
    n = codes.shape[0]
    day = _as_float(days, n, "days")
    y = _as_float(values, n, "values")
    keep = np.isfinite(day) & np.isfinite(y)
    codes, day, y = codes[keep], day[keep], y[keep]
    x = day / S.DAYS_PER_MONTH

    count = np.bincount(codes, minlength=n_groups).astype("float64")
    nan = np.full(n_groups, np.nan)
    has = count > 0
    # Centre on the group means first (two-pass): sums of squares of raw days would lose precision.
    mean_x = np.divide(np.bincount(codes, weights=x, minlength=n_groups), count, out=nan.copy(), where=has)
    mean_y = np.divide(np.bincount(codes, weights=y, minlength=n_groups), count, out=nan.copy(), where=has)
    dx = x - mean_x[codes]
    dy = y - mean_y[codes]
    sxx = np.bincount(codes, weights=dx * dx, minlength=n_groups)
    sxy = np.bincount(codes, weights=dx * dy, minlength=n_groups)

    first = np.full(n_groups, np.inf)
    last = np.full(n_groups, -np.inf)
    np.minimum.at(first, codes, day)
    np.maximum.at(last, codes, day)
    span = np.where(has, last - first, 0.0)

    ok = (count >= min_points) & (span > 0) & (span >= min_span_days) & (sxx > 0)
    return np.divide(sxy, sxx, out=nan.copy(), where=ok)


def ols_slope_per_month(days: ArrayLike, values: ArrayLike) -> float:
    """OLS slope of one patient's measurements against time in months.

    Parameters
    ----------
    days : array-like of float
        Days relative to the index day 0.
    values : array-like of float
        Measurements on those days (same length); pairs with a missing day or value are ignored.

    Returns
    -------
    float
        Slope in value units per month (months = days / 30.4375); NaN with fewer than two distinct days.

    Examples
    --------
    >>> ols_slope_per_month([0, 30.4375, 60.875], [48, 47, 46])
    -1.0
    """
    day = np.asarray(days, dtype="float64").ravel()
    return float(grouped_ols_slope_per_month(np.zeros(day.shape[0], dtype=np.intp), day, values, 1)[0])


def slope_outcome(
    groups: ArrayLike,
    days: ArrayLike,
    totals: ArrayLike,
    n_groups: int,
    *,
    after_day: int = S.BASELINE_WINDOW_END_DAY,
    through_day: int = S.SLOPE_WINDOW_END_DAY,
    min_visits: int = S.SLOPE_MIN_VISITS,
    min_span_days: int = S.SLOPE_MIN_SPAN_DAYS,
) -> SlopeOutcome:
    """The ALSFRS-R slope outcome ``alsfrs_r_slope_3_12`` of every patient.

    Parameters
    ----------
    groups : array-like of int, shape (n_visits,)
        Patient code of each visit, in ``[0, n_groups)``.
    days : array-like of float, shape (n_visits,)
        Visit day relative to the index day 0.
    totals : array-like of float, shape (n_visits,)
        ALSFRS-R total (points); NaN where the visit has none (such visits are not part of the outcome).
    n_groups : int
        Number of patients.
    after_day, through_day : int, default 91, 365
        The outcome window (``after_day``, ``through_day``]: day 91 itself belongs to the baseline window and
        is excluded, day 365 is included.
    min_visits : int, default 2
        Fewest visits with a total inside the window.
    min_span_days : int, default 90
        Smallest span, in days, between the first and the last of those visits.

    Returns
    -------
    SlopeOutcome
        Slope in points/month per patient (NaN when the rule is not met: never imputed) and the visit masks.

    Examples
    --------
    >>> out = slope_outcome([0, 0, 0], [91, 121.75, 213.0625], [40, 39, 36], 1)
    >>> out.slope  # day 91 is not in the window; 121.75 -> 213.0625 is 3 months, 91.3 days
    array([-1.])
    """
    codes = _as_groups(groups, n_groups)
    n = codes.shape[0]
    day = _as_float(days, n, "days")
    total = _as_float(totals, n, "totals")
    in_window = (day > after_day) & (day <= through_day) & np.isfinite(total)
    slope = grouped_ols_slope_per_month(
        codes[in_window], day[in_window], total[in_window], n_groups, min_points=min_visits, min_span_days=min_span_days
    )
    used = in_window & np.isfinite(slope)[codes]
    return SlopeOutcome(slope=slope, rows_in_window=in_window, rows_used=used)


def survival_outcome(
    n_groups: int,
    event_groups: ArrayLike,
    event_days: ArrayLike,
    contact_groups: ArrayLike,
    contact_days: ArrayLike,
) -> SurvivalOutcome:
    """The composite survival outcome (death, tracheostomy or permanent ventilation) of every patient.

    Parameters
    ----------
    n_groups : int
        Number of patients.
    event_groups, event_days : array-like, shape (n_events,)
        Patient code and day of every endpoint record (any of death, tracheostomy, permanent NIV).
    contact_groups, contact_days : array-like, shape (n_contacts,)
        Patient code and day of every record that shows the patient was in contact (the patients table's
        last-contact day and the days of every visit, biomarker sample and endpoint).

    Returns
    -------
    SurvivalOutcome
        For a patient with an endpoint: the earliest endpoint day / 30.4375 months and ``event_observed``
        True. Otherwise censored at the latest contact day / 30.4375 months, ``event_observed`` False
        (a patient whose latest contact is day 0 is censored at 0 months: honest data, see ``docs/cohort.md``).

    Examples
    --------
    >>> out = survival_outcome(2, [0, 0], [300, 200], [0, 1, 1], [100, 60.875, 0])
    >>> out.time_months, out.event_observed
    (array([6.57084189, 2.        ]), array([ True, False]))
    """
    ev_codes = _as_groups(event_groups, n_groups)
    ev_days = _as_float(event_days, ev_codes.shape[0], "event_days")
    ct_codes = _as_groups(contact_groups, n_groups)
    ct_days = _as_float(contact_days, ct_codes.shape[0], "contact_days")

    first_event = np.full(n_groups, np.inf)
    ok = np.isfinite(ev_days)
    np.minimum.at(first_event, ev_codes[ok], ev_days[ok])
    last_contact = np.full(n_groups, -np.inf)
    ok = np.isfinite(ct_days)
    np.maximum.at(last_contact, ct_codes[ok], ct_days[ok])

    observed = np.isfinite(first_event)
    time_days = np.where(observed, first_event, last_contact)
    time_days[~np.isfinite(time_days)] = np.nan
    return SurvivalOutcome(time_months=time_days / S.DAYS_PER_MONTH, event_observed=observed)


def survival_array(cohort_table: pd.DataFrame, *, allow_time_zero: bool = True) -> np.ndarray:
    """The survival outcome as a scikit-survival structured array ``y`` (fields ``event``, ``time``).

    Parameters
    ----------
    cohort_table : DataFrame
        A cohort table with ``event_observed`` (bool) and ``time_to_event_months`` (months from day 0).
    allow_time_zero : bool, default True
        Accept a time of 0 months (a patient censored or with an endpoint at day 0). Pass False for models
        that need strictly positive times (e.g. accelerated failure time on log time).

    Returns
    -------
    ndarray
        Structured array with ``event`` (bool, True = endpoint observed) and ``time`` (float, months), one
        entry per row in row order.

    Raises
    ------
    FeatureDataError
        Listing every row (1-based) and patient whose time is missing, infinite or negative (or zero when
        ``allow_time_zero`` is False), or whose event indicator is missing; also when a column is absent.
    """
    violations: list[Violation] = []
    for column in ("event_observed", "time_to_event_months"):
        if column not in cohort_table.columns:
            violations.append(Violation("cohort", None, column, "required column is missing"))
    if violations:
        raise FeatureDataError(violations, context="survival outcome")

    ids = cohort_table["patient_id"] if "patient_id" in cohort_table.columns else None
    time = pd.to_numeric(cohort_table["time_to_event_months"], errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    event = cohort_table["event_observed"].astype("boolean")
    rules = [
        (~np.isfinite(time), "time_to_event_months", "required value is missing (or not finite)"),
        (
            np.isfinite(time) & ((time < 0) if allow_time_zero else (time <= 0)),
            "time_to_event_months",
            "must be >= 0 months" if allow_time_zero else "must be > 0 months",
        ),
        (event.isna().to_numpy(dtype=bool), "event_observed", "required value is missing"),
    ]
    for mask, column, rule in rules:
        for idx in np.flatnonzero(mask):
            who = None if ids is None else ids.iloc[idx]
            value = None if column == "event_observed" else float(time[idx])
            violations.append(
                Violation("cohort", int(idx) + 1, column, f"{rule} (patient {who})" if who is not None else rule, value)
            )
    if violations:
        raise FeatureDataError(violations, context="survival outcome")

    from sksurv.util import Surv  # deferred: importing sksurv patches sklearn's Pipeline (import side effect)

    return Surv.from_arrays(event=event.to_numpy(dtype=bool), time=time)
