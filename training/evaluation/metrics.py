"""Evaluation of the progression models: pure functions from arrays to plain dicts of floats.

This module owns every number the training job reports about a fitted model: slope accuracy and interval
calibration, survival discrimination (Harrell and Uno C-index, time-dependent AUC) and overall accuracy
(integrated Brier score), survival calibration by risk group, Kaplan–Meier medians and subgroup metrics with
MLflow-safe names. Each metric is defined once, here; the bootstrap engine (:mod:`training.evaluation.bootstrap`),
the outcome extraction (:mod:`training.evaluation.outcomes`) and the scoring of a fitted model on a cohort table
(:mod:`training.evaluation.scoring`) build on these definitions and never restate them.
It knows nothing about MLflow, models or files: arrays in, floats / small frames out.

Units: the ALSFRS-R slope is in points/month (negative = decline); survival times are months from day 0
(days / 30.4375); ``risk`` is "higher = worse" (earlier event); survival probabilities are in [0, 1].

Subgroup metric names
---------------------
:func:`subgroup_metrics` returns keys ``"<metric>.<factor>.<label>"``, e.g. ``test_slope_rmse.sex.male`` or
``test_survival_cindex.age_band.ge65``, plus a size key ``"<metric>_n.<factor>.<label>"`` (e.g.
``test_slope_rmse_n.sex.male``) for every subgroup, including those skipped for being smaller than ``min_size``.
Labels are made MLflow-safe by :func:`metric_label` (``<50`` → ``lt50``, ``>=65`` → ``ge65``; any other character
outside ``[A-Za-z0-9_-]`` → ``_``), because MLflow metric names allow only alphanumerics and ``_ - . / space``
(``<``, ``>`` and ``=`` are rejected).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sksurv.metrics import (
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

MISSING_LABEL = "missing"
"""Subgroup label for a missing grouping value (never dropped: missingness may itself be informative)."""

AGE_BANDS = ("<50", "50-64", ">=65")
"""Age-at-onset bands in years: [0, 50), [50, 65), [65, inf)."""

TAU_QUANTILE = 0.9
"""Quantile of the training follow-up times used as the evaluation horizon tau (see :func:`evaluation_horizon`)."""

IBS_GRID_POINTS = 50
"""At most this many equally spaced times (months) on the integrated-Brier-score grid."""

IBS_GRID_PERCENTILES = (5.0, 80.0)
"""Percentiles of the test follow-up times bounding the integrated-Brier-score grid (before capping at tau)."""

TIED_RISK = 1e-8
"""Risk scores closer than this count as tied (sksurv's ``tied_tol``)."""

CINDEX_BLOCK = 512
"""Events handled at once by :func:`cindex` (memory stays O(block * n))."""

_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]+$")

IndexMetric = Callable[[np.ndarray], float]


# ----------------------------------------------------------------------------------------------------------------
# Input checks (fail loudly, naming the argument)
# ----------------------------------------------------------------------------------------------------------------
def _as_float(values: Any, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """1-D float array; ValueError naming ``name`` for NaN, infinity, wrong shape or emptiness."""
    if isinstance(values, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    nan = np.isnan(arr)
    if nan.any() and not allow_nan:
        first = int(np.flatnonzero(nan)[0])
        raise ValueError(f"{name} contains {int(nan.sum())} NaN value(s) (first at position {first}); "
                         "drop or impute those rows before evaluation")
    if np.isinf(arr).any():
        first = int(np.flatnonzero(np.isinf(arr))[0])
        raise ValueError(f"{name} contains infinite values (first at position {first})")
    return arr


def _as_event(values: Any, name: str) -> np.ndarray:
    """1-D boolean event indicator from bool or 0/1 input; ValueError naming ``name`` otherwise."""
    if isinstance(values, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        if pd.isna(values).any():
            raise ValueError(f"{name} contains missing values; every patient needs an event indicator")
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    try:
        num = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be boolean or 0/1, got dtype {arr.dtype}") from exc
    if np.isnan(num).any():
        raise ValueError(f"{name} contains missing values; every patient needs an event indicator")
    if not np.isin(num, (0.0, 1.0)).all():
        bad = float(num[~np.isin(num, (0.0, 1.0))][0])
        raise ValueError(f"{name} must be boolean or 0/1, got {bad:g}")
    return num.astype(bool)


def _same_length(**arrays: np.ndarray) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"arguments must have the same length, got {lengths}")
    return next(iter(lengths.values()))


def _survival_arrays(time: Any, event: Any, time_name: str, event_name: str) -> tuple[np.ndarray, np.ndarray]:
    t = _as_float(time, time_name)
    e = _as_event(event, event_name)
    _same_length(**{time_name: t, event_name: e})
    if (t < 0).any():
        raise ValueError(f"{time_name} must be >= 0 months, got {t.min():g}")
    return t, e


def wilson_interval(covered: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (e.g. an interval coverage: patients inside / patients).

    Parameters
    ----------
    covered : int
        Successes (count).
    n : int
        Trials (count); 0 gives NaN bounds.
    confidence : float, default 0.95
        Two-sided level in (0, 1).

    Returns
    -------
    (low, high) : tuple of float
        Bounds of the proportion (share in [0, 1]), from ``scipy.stats.binomtest(...).proportion_ci``.

    Examples
    --------
    >>> lo, hi = wilson_interval(80, 100)
    >>> round(lo, 3), round(hi, 3)
    (0.711, 0.867)
    """
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= covered <= n:
        raise ValueError(f"covered must be within [0, n={n}], got {covered}")
    from scipy.stats import binomtest

    ci = binomtest(int(covered), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


# ----------------------------------------------------------------------------------------------------------------
# Slope (ALSFRS-R points/month)
# ----------------------------------------------------------------------------------------------------------------
def linear_calibration(predicted: Any, observed: Any, *, weights: Any = None) -> tuple[float, float]:
    """Calibration slope and intercept: (weighted) least squares of observed on predicted.

    ``observed = intercept + slope * predicted``; a perfectly calibrated model has slope 1 and intercept 0.
    A slope below 1 means the predictions are too extreme (over-fitting), above 1 too timid.

    Parameters
    ----------
    predicted, observed : array-like of shape (n,)
        Predicted and observed values in the same unit (e.g. points/month, or survival probability).
    weights : array-like of shape (n,), optional
        Non-negative weights (e.g. group sizes); equal weights when omitted.

    Returns
    -------
    tuple of float
        ``(slope, intercept)``: slope unit-free, intercept in the unit of ``observed``. Both NaN when fewer than
        two points carry weight or ``predicted`` is constant (the slope is then undefined).

    Raises
    ------
    ValueError
        If an input contains NaN/infinity, the lengths differ, or a weight is negative.

    Examples
    --------
    >>> linear_calibration([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
    (2.0, 1.0)
    """
    x = _as_float(predicted, "predicted")
    y = _as_float(observed, "observed")
    w = np.ones_like(x) if weights is None else _as_float(weights, "weights")
    _same_length(predicted=x, observed=y, weights=w)
    if (w < 0).any():
        raise ValueError("weights must be >= 0")
    if (w > 0).sum() < 2:
        return math.nan, math.nan
    xm = np.average(x, weights=w)
    ym = np.average(y, weights=w)
    sxx = float(np.sum(w * (x - xm) ** 2))
    if sxx <= 1e-12 * max(1.0, float(np.sum(w * x**2))):
        return math.nan, math.nan
    slope = float(np.sum(w * (x - xm) * (y - ym)) / sxx)
    return slope, float(ym - slope * xm)


def _errors(predicted: Any, observed: Any) -> np.ndarray:
    x, y = np.asarray(predicted, dtype=float), np.asarray(observed, dtype=float)
    _same_length(predicted=x, observed=y)
    return x - y


def rmse(predicted: Any, observed: Any) -> float:
    """Root mean squared error.

    Parameters
    ----------
    predicted, observed : array-like of shape (n,)
        Predictions and observations in the same unit (e.g. ALSFRS-R points/month).

    Returns
    -------
    float
        RMSE in the unit of the inputs; NaN for empty inputs (e.g. a subgroup without outcomes).

    Examples
    --------
    >>> rmse([0.0, 1.0], [0.0, 3.0])
    1.4142135623730951
    """
    err = _errors(predicted, observed)
    return float(np.sqrt(np.mean(err**2))) if err.size else math.nan


def mae(predicted: Any, observed: Any) -> float:
    """Mean absolute error: every error counts linearly, so it is less driven by a few outliers than :func:`rmse`.

    Parameters
    ----------
    predicted, observed : array-like of shape (n,)
        As for :func:`rmse`.

    Returns
    -------
    float
        MAE in the unit of the inputs (points/month for the slope); NaN for empty inputs.
    """
    err = _errors(predicted, observed)
    return float(np.mean(np.abs(err))) if err.size else math.nan


def pearson(predicted: Any, observed: Any) -> float:
    """Pearson correlation of predictions with observations.

    Computed by hand: scipy/numpy warn on constant input, and a constant has no defined correlation.

    Parameters
    ----------
    predicted, observed : array-like of shape (n,)
        Predictions and observations (any unit; r is unit-free).

    Returns
    -------
    float
        r in [-1, 1]; NaN when either input is constant (tested exactly: the mean of a constant can differ from it
        by round-off, which would otherwise give a meaningless r) or has fewer than two values.
    """
    x, y = np.asarray(predicted, dtype=float), np.asarray(observed, dtype=float)
    _same_length(predicted=x, observed=y)
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(np.sum(dx**2)) * float(np.sum(dy**2)))
    return float(np.sum(dx * dy) / denom) if denom > 0 else math.nan


def interval_coverage(observed: Any, lower: Any, upper: Any) -> tuple[float, float]:
    """Share of observations inside ``[lower, upper]`` (bounds inclusive) and the mean interval width.

    Parameters
    ----------
    observed, lower, upper : array-like of shape (n,)
        Observations and interval bounds in the same unit (e.g. points/month). Crossed bounds (``lower > upper``)
        are sorted first.

    Returns
    -------
    tuple of float
        ``(coverage share in [0, 1], mean width in the unit of the inputs)``.
    """
    y = np.asarray(observed, dtype=float)
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    _same_length(observed=y, lower=lo, upper=hi)
    a, b = np.minimum(lo, hi), np.maximum(lo, hi)
    return float(np.mean((y >= a) & (y <= b))), float(np.mean(b - a))


def slope_metrics(y_true: Any, p50: Any, p10: Any, p90: Any) -> dict[str, float]:
    """Accuracy, correlation, 80 % interval coverage/width and calibration of the ALSFRS-R slope prediction.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed ALSFRS-R slope over days (91, 365] (points/month; negative = decline). Patients without a slope
        outcome must be removed beforehand (they are excluded from the slope model, never imputed).
    p50, p10, p90 : array-like of shape (n,)
        Predicted median, 10th and 90th percentile of the slope (points/month).

    Returns
    -------
    dict
        - ``n``: number of patients;
        - ``rmse``, ``mae``: root mean squared / mean absolute error of ``p50`` (points/month);
        - ``pearson_r``: Pearson correlation of ``p50`` with ``y_true`` (NaN if either is constant);
        - ``interval_coverage_80``: share of ``y_true`` within ``[p10, p90]`` (bounds inclusive; nominal 0.80);
        - ``interval_width_80``: mean ``p90 - p10`` (points/month);
        - ``interval_crossing_share``: share of patients with ``p10 > p90`` (quantile crossing). Crossed intervals
          are evaluated as ``[min(p10, p90), max(p10, p90)]`` for coverage and width, and a warning is logged;
        - ``calibration_slope``, ``calibration_intercept``: OLS of ``y_true`` on ``p50`` (ideal 1 and 0 points/month).

    Raises
    ------
    ValueError
        If any argument contains NaN or infinity (naming it) or the lengths differ.

    Examples
    --------
    >>> m = slope_metrics([-1.0, -0.5, 0.0], [-1.0, -0.5, 0.0], [-1.5, -1.0, -0.5], [-0.5, 0.0, 0.5])
    >>> m["rmse"], m["interval_coverage_80"], m["interval_width_80"]
    (0.0, 1.0, 1.0)
    """
    y = _as_float(y_true, "y_true")
    med = _as_float(p50, "p50")
    lo = _as_float(p10, "p10")
    hi = _as_float(p90, "p90")
    n = _same_length(y_true=y, p50=med, p10=lo, p90=hi)
    crossed = lo > hi
    if crossed.any():
        logger.warning("%d of %d slope intervals have p10 > p90 (quantile crossing); evaluated with sorted bounds",
                       int(crossed.sum()), n)
    coverage, width = interval_coverage(y, lo, hi)
    cal_slope, cal_intercept = linear_calibration(med, y)
    return {
        "n": float(n),
        "rmse": rmse(med, y),
        "mae": mae(med, y),
        "pearson_r": pearson(med, y),
        "interval_coverage_80": coverage,
        "interval_width_80": width,
        "interval_crossing_share": float(np.mean(crossed)),
        "calibration_slope": cal_slope,
        "calibration_intercept": cal_intercept,
    }


# ----------------------------------------------------------------------------------------------------------------
# Survival (months; risk higher = worse)
# ----------------------------------------------------------------------------------------------------------------
def cindex(time: Any, event: Any, risk: Any) -> float:
    """Harrell's concordance index, with the pair rules of ``sksurv.metrics.concordance_index_censored``.

    A pair (i, j) is comparable when i had the endpoint and j was followed longer, or for as long but censored; it
    is concordant when i's risk is higher, and a tie in risk (within :data:`TIED_RISK`) counts one half.

    Parameters
    ----------
    time : array-like of shape (n,)
        Time to event or censoring (months).
    event : array-like of shape (n,)
        True (or 1) if the endpoint was observed, False (0) if censored.
    risk : array-like of shape (n,)
        Predicted risk; higher = earlier expected event.

    Returns
    -------
    float
        Share of comparable pairs ordered correctly (ties in risk count 1/2); 0.5 = random, 1 = perfect.
        NaN when undefined (fewer than two patients, no events, or no comparable pairs), so that bootstrap
        resamples without comparable pairs can be skipped.

    Raises
    ------
    ValueError
        If an input contains NaN, times are negative, or the lengths differ.

    Examples
    --------
    >>> cindex([1.0, 2.0, 3.0], [True, True, False], [3.0, 2.0, 1.0])
    1.0
    """
    t, e = _survival_arrays(time, event, "time", "event")
    r = _as_float(risk, "risk")
    _same_length(time=t, risk=r)
    if len(t) < 2 or not e.any():
        return math.nan
    # sksurv's concordance_index_censored gives the same value but validates its input on every call, which
    # dominated the cost of bootstraps of hundreds of resamples; the pair rules below are exactly sksurv's
    # (a test checks the two agree on tied times, tied risks and duplicated patients).
    numerator = 0.0
    pairs = 0
    cases = np.flatnonzero(e)
    for start in range(0, cases.size, CINDEX_BLOCK):
        i = cases[start:start + CINDEX_BLOCK]
        ti, ri = t[i][:, None], r[i][:, None]
        comparable = (t[None, :] > ti) | ((t[None, :] == ti) & ~e[None, :])
        tied = np.abs(r[None, :] - ri) <= TIED_RISK
        concordant = (r[None, :] < ri) & ~tied
        numerator += float((comparable & concordant).sum()) + 0.5 * float((comparable & tied).sum())
        pairs += int(comparable.sum())
    return numerator / pairs if pairs else math.nan


def evaluation_horizon(train_time: Any) -> float:
    """Evaluation horizon tau (months): the 90th percentile of the training follow-up times.

    Inverse-probability-of-censoring weights come from the Kaplan–Meier estimate of the *training* censoring
    distribution; it is unstable (and eventually zero) near the end of follow-up, so the Uno C-index is truncated
    at tau and the Brier grid and AUC times are kept below it. When the percentile equals the largest time
    (heavy ties at the end), the largest distinct time below the maximum is used instead.

    Parameters
    ----------
    train_time : array-like of shape (n_train,)
        Training follow-up times (event or censoring), months.

    Returns
    -------
    float
        tau in months; NaN when all training times are equal.
    """
    t = _as_float(train_time, "train_time")
    tau = float(np.quantile(t, TAU_QUANTILE))
    t_max = float(t.max())
    if tau >= t_max:
        below = t[t < t_max]
        tau = float(below.max()) if below.size else math.nan
    return tau


def brier_time_grid(test_time: Any, tau: float) -> np.ndarray:
    """Time grid (months) for the integrated Brier score.

    Up to :data:`IBS_GRID_POINTS` equally spaced times from the 5th to the 80th percentile of the test follow-up
    times, capped at ``tau``, keeping only times ``t`` with ``min(test_time) <= t < min(max(test_time), tau)``.
    The grid is therefore strictly inside the test follow-up and below the training horizon, where both the
    test risk sets and the censoring weights are well populated. It depends only on the data, so two runs on the
    same split share the same grid.

    Parameters
    ----------
    test_time : array-like of shape (n_test,)
        Test follow-up times (months).
    tau : float
        Evaluation horizon from :func:`evaluation_horizon` (months).

    Returns
    -------
    ndarray
        Increasing times in months (possibly fewer than 2 when follow-up is too short; the IBS is then NaN).
    """
    t = _as_float(test_time, "test_time")
    if not math.isfinite(tau):
        return np.empty(0)
    lo, hi = (float(v) for v in np.percentile(t, IBS_GRID_PERCENTILES))
    hi = min(hi, tau)
    if hi <= lo:
        return np.empty(0)
    grid = np.linspace(lo, hi, IBS_GRID_POINTS)
    upper = min(float(t.max()), tau)
    return grid[(grid >= t.min()) & (grid < upper)]


def _auc_key(t: float) -> str:
    return f"auc_{t:g}m"


def _survival_matrix(survival_at: Callable[[np.ndarray], np.ndarray], times: np.ndarray, n_test: int) -> np.ndarray:
    surv = np.asarray(survival_at(times), dtype=float)
    if surv.shape != (n_test, len(times)):
        raise ValueError(f"survival_at(times) must return shape (n_test, len(times)) = {(n_test, len(times))}, "
                         f"got {surv.shape}")
    if not np.isfinite(surv).all():
        raise ValueError("survival_at(times) returned NaN or infinite survival probabilities")
    if surv.min() < -1e-9 or surv.max() > 1 + 1e-9:
        raise ValueError(f"survival_at(times) must return probabilities in [0, 1], got values in "
                         f"[{surv.min():.4g}, {surv.max():.4g}]")
    return np.clip(surv, 0.0, 1.0)


def survival_metrics(train_time: Any, train_event: Any, test_time: Any, test_event: Any, risk: Any,
                     survival_at: Callable[[np.ndarray], np.ndarray], *,
                     auc_times: Sequence[float] = (12.0, 24.0)) -> dict[str, float]:
    """Discrimination and overall accuracy of a survival model on a held-out test set.

    Parameters
    ----------
    train_time, train_event : array-like of shape (n_train,)
        Training follow-up (months) and event indicator; used only to estimate the censoring distribution for the
        inverse-probability-of-censoring weights (IPCW) and the horizon tau.
    test_time, test_event : array-like of shape (n_test,)
        Test follow-up (months) and event indicator (composite endpoint: death, tracheostomy or permanent NIV).
    risk : array-like of shape (n_test,)
        Predicted risk for the test patients; higher = worse.
    survival_at : callable
        ``survival_at(times)`` with ``times`` a 1-D array in months returns an ``(n_test, len(times))`` matrix of
        predicted survival probabilities for the test patients (same row order).
    auc_times : sequence of float, default (12.0, 24.0)
        Months at which the cumulative/dynamic AUC is reported.

    Returns
    -------
    dict
        - ``cindex``: Harrell's C (:func:`cindex`) of ``risk``;
        - ``cindex_uno``: Uno's IPCW C-index (``concordance_index_ipcw``) truncated at tau;
        - ``cindex_uno_tau_months``: tau, the 90th percentile of the training follow-up (:func:`evaluation_horizon`);
        - ``ibs``: integrated Brier score of ``survival_at`` over :func:`brier_time_grid` (0 = perfect; 0.25 is
          the score of predicting 0.5 for everyone);
        - ``ibs_time_min_months``, ``ibs_time_max_months``: the ends of that grid;
        - ``auc_12m``, ``auc_24m`` (one ``auc_<t>m`` per entry of ``auc_times``): cumulative/dynamic AUC at t months
          with ``1 - survival_at(t)`` as the marker (the same ranking as ``risk`` for proportional-hazards and AFT
          models).

        A metric that is undefined for these data is NaN and a warning is logged: no events or comparable pairs
        (C-indices); fewer than two grid times (IBS); an AUC time outside ``[min(test_time), min(max(test_time),
        tau))`` or without both a case (event by t) and a control (event-free beyond t).

    Raises
    ------
    ValueError
        If an input contains NaN, times are negative, lengths differ, or ``survival_at`` returns a matrix of the
        wrong shape or values outside [0, 1].

    Notes
    -----
    For the IBS and the AUC, test follow-up beyond tau is administratively censored at tau. This changes nothing
    at evaluation times below tau, but keeps every test time inside the range where the training censoring
    distribution is estimable (sksurv otherwise raises for test times beyond the training follow-up).
    """
    tr_t, tr_e = _survival_arrays(train_time, train_event, "train_time", "train_event")
    te_t, te_e = _survival_arrays(test_time, test_event, "test_time", "test_event")
    r = _as_float(risk, "risk")
    n_test = _same_length(test_time=te_t, risk=r)
    survival_train = Surv.from_arrays(event=tr_e, time=tr_t)
    survival_test = Surv.from_arrays(event=te_e, time=te_t)
    tau = evaluation_horizon(tr_t)
    out: dict[str, float] = {"cindex": cindex(te_t, te_e, r), "cindex_uno_tau_months": tau}
    if math.isnan(out["cindex"]):
        logger.warning("Harrell C-index undefined: the test set has no events or no comparable pairs")

    out["cindex_uno"] = math.nan
    if math.isfinite(tau):
        try:
            out["cindex_uno"] = float(concordance_index_ipcw(survival_train, survival_test, r, tau=tau)[0])
        except ValueError as exc:
            logger.warning("Uno C-index undefined (tau=%.2f months): %s", tau, exc)
    else:
        logger.warning("Uno C-index undefined: all training follow-up times are equal")

    # Administrative censoring at tau (see Notes): keeps IPCW inside the estimable range of the training data.
    beyond = te_t > tau if math.isfinite(tau) else np.zeros(n_test, dtype=bool)
    adm_t = np.where(beyond, tau, te_t)
    adm_e = te_e & ~beyond
    survival_adm = Surv.from_arrays(event=adm_e, time=adm_t)

    grid = brier_time_grid(te_t, tau)
    out["ibs"] = math.nan
    out["ibs_time_min_months"] = float(grid[0]) if grid.size else math.nan
    out["ibs_time_max_months"] = float(grid[-1]) if grid.size else math.nan
    if grid.size >= 2:
        surv = _survival_matrix(survival_at, grid, n_test)
        out["ibs"] = float(integrated_brier_score(survival_train, survival_adm, surv, grid))
    else:
        logger.warning("integrated Brier score undefined: test follow-up too short below tau=%.2f months", tau)

    for t in auc_times:
        key = _auc_key(float(t))
        out[key] = math.nan
        upper = min(float(adm_t.max()), tau) if math.isfinite(tau) else -math.inf
        if not (adm_t.min() <= t < upper):
            logger.warning("%s undefined: %g months is outside the valid range [%.2f, %.2f) months "
                           "(test follow-up capped at tau)", key, t, adm_t.min(), upper)
            continue
        n_cases = int(((adm_t <= t) & adm_e).sum())
        n_controls = int((adm_t > t).sum())
        if n_cases == 0 or n_controls == 0:
            logger.warning("%s undefined: %d cases and %d controls at %g months", key, n_cases, n_controls, t)
            continue
        marker = 1.0 - _survival_matrix(survival_at, np.array([float(t)]), n_test)[:, 0]
        out[key] = float(cumulative_dynamic_auc(survival_train, survival_adm, marker, float(t))[0][0])
    return out


def km_at(time: Any, event: Any, t: float, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Kaplan–Meier survival at ``t`` months with a pointwise log-log confidence interval.

    Parameters
    ----------
    time, event : array-like of shape (n,)
        Follow-up (months) and event indicator.
    t : float
        Time (months).
    confidence : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    tuple of float
        ``(survival, ci_low, ci_high)``; ``(1, 1, 1)`` before the first event; all NaN when ``t`` lies beyond the
        last follow-up time while the curve is still above 0 (the survival there is not estimable).
    """
    tt, ee = _survival_arrays(time, event, "time", "event")
    t_uniq, prob, ci = kaplan_meier_estimator(ee, tt, conf_level=confidence, conf_type="log-log")
    if t > t_uniq[-1] and prob[-1] > 0:
        return math.nan, math.nan, math.nan
    i = int(np.searchsorted(t_uniq, t, side="right")) - 1
    if i < 0:
        return 1.0, 1.0, 1.0
    return float(prob[i]), float(ci[0, i]), float(ci[1, i])


def kaplan_meier_median(time: Any, event: Any) -> float:
    """Kaplan–Meier median survival (months).

    The smallest observed time at which the Kaplan–Meier curve is at or below 0.5 (the lifelines convention;
    R's ``survfit`` instead takes the midpoint of a segment lying exactly at 0.5).

    Parameters
    ----------
    time, event : array-like of shape (n,)
        Follow-up (months) and event indicator.

    Returns
    -------
    float
        Median in months; ``math.inf`` when the curve never drops to 0.5 ("not reached": the median is beyond the
        follow-up, which is information, not a missing value). Writers that need JSON should map inf to
        ``None``/"not reached".

    Raises
    ------
    ValueError
        For a NaN or negative time, or ``time`` and ``event`` of different lengths (as :func:`cindex`).

    Examples
    --------
    >>> kaplan_meier_median([1.0, 2.0, 3.0, 4.0], [True, True, True, True])
    2.0
    >>> kaplan_meier_median([1.0, 2.0, 3.0], [True, False, False])
    inf
    """
    t, e = _survival_arrays(time, event, "time", "event")
    t_uniq, prob = kaplan_meier_estimator(e, t)
    below = np.flatnonzero(prob <= 0.5)
    return float(t_uniq[below[0]]) if below.size else math.inf


def survival_calibration(pred_surv_at_t: Any, time: Any, event: Any, t: float, n_groups: int = 5) -> pd.DataFrame:
    """Predicted versus Kaplan–Meier observed survival at ``t`` months, by predicted-risk quantile group.

    Patients are sorted by predicted survival at ``t`` (descending, i.e. by increasing risk; ties keep input
    order) and split into ``n_groups`` groups of (nearly) equal size, so group 1 is the lowest-risk group.
    Equal-size splitting avoids empty quantile bins when predictions are tied.

    Parameters
    ----------
    pred_surv_at_t : array-like of shape (n,)
        Predicted survival probability at ``t`` for each patient.
    time, event : array-like of shape (n,)
        Observed follow-up (months) and event indicator.
    t : float
        Calibration time (months), e.g. 12.
    n_groups : int, default 5
        Number of risk groups (at most n).

    Returns
    -------
    DataFrame
        One row per group with columns ``group`` (1 = lowest risk), ``n``, ``n_events`` (events by ``t``),
        ``pred_surv`` (mean predicted survival at ``t``), ``obs_surv`` (Kaplan–Meier survival at ``t``),
        ``obs_lower``, ``obs_upper`` (95 % log-log interval). ``obs_*`` are NaN when a group's follow-up ends before
        ``t`` with the curve still above 0.

    Raises
    ------
    ValueError
        If an input contains NaN, a predicted probability is outside [0, 1], or ``n_groups`` is not in [1, n].
    """
    p = _as_float(pred_surv_at_t, "pred_surv_at_t")
    tt, ee = _survival_arrays(time, event, "time", "event")
    n = _same_length(pred_surv_at_t=p, time=tt)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("pred_surv_at_t must be probabilities in [0, 1]")
    if not 1 <= n_groups <= n:
        raise ValueError(f"n_groups must be within [1, {n}], got {n_groups}")
    order = np.argsort(-p, kind="stable")
    rows = []
    for g, idx in enumerate(np.array_split(order, n_groups), start=1):
        s, lo, hi = km_at(tt[idx], ee[idx], t)
        rows.append({"group": g, "n": len(idx), "n_events": int((ee[idx] & (tt[idx] <= t)).sum()),
                     "pred_surv": float(p[idx].mean()), "obs_surv": s, "obs_lower": lo, "obs_upper": hi})
    return pd.DataFrame(rows)


def calibration_slope_intercept(table: pd.DataFrame) -> tuple[float, float]:
    """Calibration slope and intercept of a :func:`survival_calibration` table.

    Least squares of the Kaplan–Meier observed survival on the mean predicted survival across risk groups,
    weighted by group size; groups whose observed survival is not estimable (NaN) are left out.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`survival_calibration` (columns ``pred_surv``, ``obs_surv``, ``n``).

    Returns
    -------
    tuple of float
        ``(slope, intercept)``, ideally ``(1, 0)`` (intercept in survival probability); NaN when fewer than two
        groups are usable or the mean predictions are all equal.

    Raises
    ------
    ValueError
        If a required column is absent.
    """
    absent = [c for c in ("pred_surv", "obs_surv", "n") if c not in table.columns]
    if absent:
        raise ValueError(f"{len(absent)} columns are missing from the calibration table: {absent}")
    usable = table.dropna(subset=["obs_surv"])
    if len(usable) < 2:
        return math.nan, math.nan
    return linear_calibration(usable["pred_surv"], usable["obs_surv"], weights=usable["n"])


def survival_calibration_summary(table: pd.DataFrame) -> dict[str, float]:
    """Summarise a :func:`survival_calibration` table for logging or the model card.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`survival_calibration`.

    Returns
    -------
    dict
        ``calibration_slope``, ``calibration_intercept`` (:func:`calibration_slope_intercept`); ``mean_abs_diff``:
        size-weighted mean |observed − predicted| survival over usable groups (NaN if none); ``n_groups_used``:
        groups with an estimable observed survival.
    """
    slope, intercept = calibration_slope_intercept(table)
    usable = table.dropna(subset=["obs_surv"])
    mad = (float(np.average(np.abs(usable["obs_surv"] - usable["pred_surv"]), weights=usable["n"]))
           if len(usable) and usable["n"].sum() > 0 else math.nan)
    return {"calibration_slope": slope, "calibration_intercept": intercept, "mean_abs_diff": mad,
            "n_groups_used": float(len(usable))}


# ----------------------------------------------------------------------------------------------------------------
# Subgroups
# ----------------------------------------------------------------------------------------------------------------
def age_band(age_years: Any) -> np.ndarray:
    """Age-at-onset band labels.

    Parameters
    ----------
    age_years : array-like of shape (n,)
        Age at symptom onset (years); NaN/None = missing.

    Returns
    -------
    ndarray of object
        ``"<50"`` for age < 50, ``"50-64"`` for 50 <= age < 65, ``">=65"`` for age >= 65, ``"missing"`` for NaN.

    Examples
    --------
    >>> age_band([49.9, 50.0, 64.99, 65.0, float("nan")]).tolist()
    ['<50', '50-64', '50-64', '>=65', 'missing']
    """
    a = _as_float(age_years, "age_years", allow_nan=True)
    out = np.full(a.shape, MISSING_LABEL, dtype=object)
    ok = ~np.isnan(a)
    out[ok & (a < 50)] = AGE_BANDS[0]
    out[ok & (a >= 50) & (a < 65)] = AGE_BANDS[1]
    out[ok & (a >= 65)] = AGE_BANDS[2]
    return out


def _labels(values: pd.Series) -> pd.Series:
    as_obj = values.astype(object)
    return as_obj.where(values.notna(), MISSING_LABEL).map(str)


def subgroups(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Subgroup label series for fairness reporting: sex, onset site and age band.

    Parameters
    ----------
    frame : DataFrame
        Cohort rows with columns ``sex``, ``onset_site`` and ``age_at_onset_years`` (years).

    Returns
    -------
    dict of str to Series
        ``{"sex": ..., "onset_site": ..., "age_band": ...}``, each a string Series with ``frame``'s index; a missing
        value becomes the label ``"missing"`` (a subgroup of its own, never dropped).

    Raises
    ------
    ValueError
        Naming any of the three columns that is absent.
    """
    needed = ["sex", "onset_site", "age_at_onset_years"]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise ValueError(f"{len(absent)} column(s) needed for subgroups are missing from the cohort frame: {absent}")
    return {
        "sex": _labels(frame["sex"]).rename("sex"),
        "onset_site": _labels(frame["onset_site"]).rename("onset_site"),
        "age_band": pd.Series(age_band(frame["age_at_onset_years"]), index=frame.index, name="age_band").map(str),
    }


def metric_label(label: object) -> str:
    """MLflow-safe form of a subgroup label.

    ``<=``/``>=``/``<``/``>`` become ``le``/``ge``/``lt``/``gt``; any other character outside ``[A-Za-z0-9_-]``
    (including ``.``, ``/``, ``=`` and spaces) becomes ``_``, so the label can never add a path segment or a
    separator to the metric name.

    Examples
    --------
    >>> [metric_label(x) for x in ("<50", "50-64", ">=65", "male", "limb and bulbar")]
    ['lt50', '50-64', 'ge65', 'male', 'limb_and_bulbar']
    """
    text = str(label)
    for old, new in (("<=", "le"), (">=", "ge"), ("<", "lt"), (">", "gt")):
        text = text.replace(old, new)
    text = re.sub(r"[^A-Za-z0-9_\-]", "_", text)
    return text or "_"


def _check_name(name: str, what: str) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"{what} {name!r} must match [A-Za-z0-9_-]+ (it becomes part of an MLflow metric name "
                         "whose parts are separated by '.')")


def subgroup_metrics(groups: Mapping[str, pd.Series], metric_fns: Mapping[str, IndexMetric], *,
                     min_size: int = 20) -> tuple[dict[str, float], list[str]]:
    """Metrics per subgroup, keyed with MLflow-safe names.

    Parameters
    ----------
    groups : mapping of str to Series
        Factor name (e.g. ``"sex"``) to a label per patient. Every series must have the same length n, and its
        *positions* (not its index) line up with the arrays the metric functions close over. Missing labels
        become ``"missing"``.
    metric_fns : mapping of str to callable
        Metric name (e.g. ``"test_slope_rmse"``) to ``fn(idx) -> float``, where ``idx`` is an integer array of
        positions in ``0..n-1`` selecting the subgroup.
    min_size : int, default 20
        Subgroups with fewer patients are skipped: their metrics are not computed (too few patients for a
        meaningful estimate) and the subgroup is listed in the second return value.

    Returns
    -------
    metrics : dict
        For every subgroup and metric, ``"<metric>_n.<factor>.<label>"`` → number of patients in the subgroup, and,
        for subgroups of at least ``min_size`` patients only, ``"<metric>.<factor>.<label>"`` → value (NaN if the
        metric itself is undefined there, e.g. a C-index without events). Labels pass through
        :func:`metric_label`, e.g. ``test_slope_rmse.sex.male``, ``test_slope_rmse_n.age_band.ge65``,
        ``test_survival_cindex.onset_site.missing``. The size key carries the metric name so that two calls on
        different patient sets (slope outcome vs survival follow-up) never overwrite each other's sizes, and a
        skipped subgroup stays visible in the run through its size.
    skipped : list of str
        ``"<factor>.<label>"`` (safe label) of each skipped subgroup, in visiting order (labels sorted, ``missing``
        last).

    Raises
    ------
    ValueError
        If a factor or metric name contains characters outside ``[A-Za-z0-9_-]``, the series lengths differ, or
        two labels of one factor map to the same safe label.

    Examples
    --------
    >>> import pandas as pd
    >>> y = np.arange(5.0)
    >>> metrics, skipped = subgroup_metrics({"sex": pd.Series(["female", "male", "male", "male", None])},
    ...                                     {"mean_y": lambda idx: float(y[idx].mean())}, min_size=2)
    >>> metrics
    {'mean_y_n.sex.female': 1.0, 'mean_y_n.sex.male': 3.0, 'mean_y.sex.male': 2.0, 'mean_y_n.sex.missing': 1.0}
    >>> skipped
    ['sex.female', 'sex.missing']
    """
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")
    for name in metric_fns:
        _check_name(name, "metric name")
    lengths = {factor: len(labels) for factor, labels in groups.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"group series must have the same length, got {lengths}")
    out: dict[str, float] = {}
    skipped: list[str] = []
    for factor, labels in groups.items():
        _check_name(factor, "factor name")
        values = _labels(pd.Series(labels.to_numpy(dtype=object))).to_numpy(dtype=object)
        uniq = sorted(set(values), key=lambda v: (v == MISSING_LABEL, v))
        safe = [metric_label(v) for v in uniq]
        if len(set(safe)) != len(safe):
            pairs = dict(zip(uniq, safe, strict=True))
            raise ValueError(f"labels of {factor!r} collide after making them MLflow-safe: {pairs}")
        for label, safe_label in zip(uniq, safe, strict=True):
            idx = np.flatnonzero(values == label)
            suffix = f"{factor}.{safe_label}"
            too_small = idx.size < min_size
            if too_small:
                skipped.append(suffix)
                logger.info("subgroup %s=%s skipped: %d patients < min_size=%d", factor, label, idx.size, min_size)
            for name, fn in metric_fns.items():
                out[f"{name}_n.{suffix}"] = float(idx.size)
                if not too_small:
                    out[f"{name}.{suffix}"] = float(fn(idx))
    return out, skipped
