"""An aggregate, non-identifying summary of the training run's held-out (test-split) patients, kept in the bundle.

Trial planning needs the spread of the outcome and how well the prognostic score correlates with it *among the
patients a rule would enrol*, and the calibration of the predicted event probability. These come from held-out
patients (never from training patients, whose fit is optimistic). The bundle keeps only sums over bins of at least
:data:`MIN_BIN_PATIENTS` patients sorted by their prediction, so no single patient can be read back, and the plan
can be computed where only the bundle is available (the HTTP service has no MLflow).

Slope bins hold the sufficient statistics of (predicted, observed) slope in ALSFRS-R points/month: n, sum of
predictions, sum of observations, sums of squares and the sum of cross-products. Survival bins hold, per
follow-up horizon, the mean predicted event probability and the Kaplan-Meier observed event probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_BIN_PATIENTS = 10
"""Fewest held-out patients in one bin: sums over fewer would come close to describing individuals."""
MAX_BINS = 40
"""More bins add resolution to the keep threshold but each holds fewer patients; 40 is plenty for 2,000+."""
HORIZONS_MONTHS = (3.0, 6.0, 9.0, 12.0, 18.0, 24.0, 36.0)
"""Follow-up horizons (months from the landmark) at which survival calibration is summarised."""


@dataclass(frozen=True)
class SlopeBin:
    """Sums over held-out patients whose predicted slopes are adjacent (points/month; squares in (points/month)^2)."""

    n: int
    sum_pred: float
    sum_obs: float
    sum_pred2: float
    sum_obs2: float
    sum_pred_obs: float

    @property
    def mean_pred(self) -> float:
        """Mean predicted slope of the bin (points/month)."""
        return self.sum_pred / self.n


@dataclass(frozen=True)
class OutcomeShareBin:
    """Held-out patients with adjacent predicted slopes, with or without an observed slope outcome.

    A patient who dies or has no visit in months 3-12 has no slope outcome; such patients are mostly fast
    progressors, so the share with an outcome falls with the predicted slope, and a trial loses them from the
    analysis whatever its dropout.
    """

    n: int
    n_with_outcome: int
    mean_pred: float


@dataclass(frozen=True)
class SurvivalBin:
    """Held-out patients with adjacent predicted risk: mean log-time prediction and calibration per horizon.

    ``predicted`` and ``observed`` are event probabilities at :data:`HORIZONS_MONTHS` (observed: Kaplan-Meier, NaN
    where the bin's follow-up does not reach the horizon).
    """

    n: int
    mean_mu: float
    predicted: tuple[float, ...]
    observed: tuple[float, ...]


@dataclass(frozen=True)
class HeldOutSummary:
    """The held-out patients of one training run, summarised for trial planning.

    Attributes
    ----------
    slope_bins : tuple of SlopeBin
        Sorted by predicted slope, fastest decline (most negative) first.
    survival_bins : tuple of SurvivalBin
        Sorted by predicted risk, lowest risk first (empty when the model has no survival part).
    horizons_months : tuple of float
        The horizons of every survival bin's ``predicted`` / ``observed``.
    slope_out_of_fold : int
        How many of the slope bins' patients are training patients predicted out of fold (by the cross-validation
        model that did not see them); the rest are the test split, predicted by the model itself. 0 in bundles
        from before the pooling (test split only).
    outcome_share_bins : tuple of OutcomeShareBin
        Every test-split patient, with or without a slope outcome, sorted by predicted slope (fastest decline
        first): how the share with an outcome depends on the prediction. Empty in bundles from before it.
    """

    slope_bins: tuple[SlopeBin, ...]
    survival_bins: tuple[SurvivalBin, ...]
    horizons_months: tuple[float, ...] = HORIZONS_MONTHS
    slope_out_of_fold: int = 0
    outcome_share_bins: tuple[OutcomeShareBin, ...] = ()

    @property
    def n_slope(self) -> int:
        """Held-out patients with a slope outcome."""
        return sum(b.n for b in self.slope_bins)

    @property
    def n_survival(self) -> int:
        """Held-out patients with a survival outcome."""
        return sum(b.n for b in self.survival_bins)


def _bins(order: np.ndarray, min_size: int) -> list[np.ndarray]:
    """Split ``order`` into consecutive nearly equal groups of at least ``min_size`` (one group when fewer)."""
    k = max(1, min(MAX_BINS, len(order) // min_size))
    return [part for part in np.array_split(order, k) if len(part)]


def _by_prediction(pred: np.ndarray, min_size: int) -> list[np.ndarray]:
    """Bins of positions sorted by ``pred`` ascending (fastest predicted decline first); none below ``min_size``."""
    if len(pred) < min_size:
        return []
    return _bins(np.argsort(pred, kind="stable"), min_size)


def summarise_slopes(pred: np.ndarray, obs: np.ndarray, min_size: int = MIN_BIN_PATIENTS) -> tuple[SlopeBin, ...]:
    """Slope bins from held-out predicted and observed slopes (points/month), fastest predicted decline first.

    Parameters
    ----------
    pred, obs : ndarray
        Predicted and observed ALSFRS-R slope (points/month) of the held-out patients with a slope outcome.
    min_size : int
        Fewest patients per bin.
    """
    pred, obs = np.asarray(pred, dtype=float), np.asarray(obs, dtype=float)
    return tuple(SlopeBin(n=len(i), sum_pred=float(pred[i].sum()), sum_obs=float(obs[i].sum()),
                          sum_pred2=float((pred[i] ** 2).sum()), sum_obs2=float((obs[i] ** 2).sum()),
                          sum_pred_obs=float((pred[i] * obs[i]).sum()))
                 for i in _by_prediction(pred, min_size))


def summarise_outcome_share(pred: np.ndarray, has_outcome: np.ndarray,
                            min_size: int = MIN_BIN_PATIENTS) -> tuple[OutcomeShareBin, ...]:
    """Outcome-share bins over held-out patients with or without a slope outcome, fastest predicted decline first.

    Parameters
    ----------
    pred : ndarray
        Predicted ALSFRS-R slope (points/month) of every held-out patient.
    has_outcome : ndarray of bool
        Whether the patient has an observed slope outcome (months 3-12 after the landmark).
    min_size : int
        Fewest patients per bin.
    """
    pred, has_outcome = np.asarray(pred, dtype=float), np.asarray(has_outcome, dtype=bool)
    return tuple(OutcomeShareBin(n=len(i), n_with_outcome=int(has_outcome[i].sum()), mean_pred=float(pred[i].mean()))
                 for i in _by_prediction(pred, min_size))


def _km_event_probability(time: np.ndarray, event: np.ndarray, horizons: Sequence[float]) -> tuple[float, ...]:
    """1 - Kaplan-Meier survival at each horizon (months); NaN beyond the last follow-up time of the group."""
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(time, event)
    last = float(np.max(time))
    surv = km.survival_function_at_times(list(horizons)).to_numpy(dtype=float)
    return tuple(float(1.0 - s) if h <= last else float("nan") for s, h in zip(surv, horizons, strict=True))


def summarise_survival(mu: np.ndarray, predicted_survival: np.ndarray, time: np.ndarray, event: np.ndarray,
                       min_size: int = MIN_BIN_PATIENTS) -> tuple[SurvivalBin, ...]:
    """Survival bins from held-out predictions and outcomes, lowest predicted risk (largest ``mu``) first.

    Parameters
    ----------
    mu : ndarray
        Predicted log survival time (log months) of the held-out patients with a survival outcome.
    predicted_survival : ndarray, shape (n, len(HORIZONS_MONTHS))
        Their predicted survival probabilities at :data:`HORIZONS_MONTHS`.
    time, event : ndarray
        Months from the landmark to the endpoint or censoring, and whether the endpoint was observed.
    """
    mu = np.asarray(mu, dtype=float)
    if len(mu) < min_size:
        return ()
    order = np.argsort(-mu, kind="stable")
    out = []
    for i in _bins(order, min_size):
        out.append(SurvivalBin(n=len(i), mean_mu=float(mu[i].mean()),
                               predicted=tuple(float(p) for p in (1.0 - predicted_survival[i]).mean(axis=0)),
                               observed=_km_event_probability(time[i], event[i].astype(bool), HORIZONS_MONTHS)))
    return tuple(out)
