"""Healthy-reference model of blood neurofilament light (NfL) by age, for the age-adjusted NfL z-score.

Blood NfL rises with age in healthy people, so a raw concentration means different things at 40 and at 75.
The model here is log-normal with a log-linear age trend:

    ln NfL ~ Normal(mu(age), sigma^2),   mu(age) = mu_50 + b * (age - 50),   b = ln(1.031) per year

* **Age trend** -- +3.1 % per year of age (Bornhorst et al., Clin Chim Acta 2022, doi:10.1016/j.cca.2022.08.017;
  Simoa NF-light Advantage, EDTA plasma, 1,100 cognitively unimpaired people aged 20-95 years).
* **Level** -- fitted by least squares (slope fixed at b) to the same paper's one-sided 97.5th-percentile limits by
  decade (20s <= 8.4, 30s <= 11.4, 40s <= 15.4, 50s <= 20.8, 60s <= 28.0, 70s <= 37.9, 80+ <= 51.2 pg/mL), each
  placed at the decade's mid-age (25, 35, ..., 85 years; the 80+ limit sits one decade-step of 1.031^10 above the
  70s limit, which places it at 85). The fitted 97.5th-percentile line reproduces every published limit within
  1.4 %, so the 3.1 %/year trend and the limits agree.
* **Spread** -- the limits identify only mu + 1.96 sigma, not sigma itself. We ASSUME sigma = 0.40 (natural-log
  units): the within-age-band SD of ln plasma NfL recomputed from published 95 % confidence intervals of geometric
  means in healthy volunteers (Simoa SR-X, AAN 2023 abstract 004356: 15-19 y, n = 13 -> 0.47; 50-60 y, n = 16
  -> 0.36). The choice of sigma rescales the z-score but never moves its anchor: a value exactly at the published
  97.5th-percentile line always has z = 1.96, whatever sigma is. Tree models are unaffected by sigma altogether
  (z is a monotone function of NfL at a given age).

Implied median at age 50: exp(mu_50) ~= 8.1 pg/mL. Simren et al. (Brain Commun 2022, PMC9297091; 95th
percentiles 18-50 y 10, 51-60 y 15, 61-70 y 20, > 70 y 35 pg/mL) report lower limits for the same assay family, so
the reference is cohort- and assay-specific: a z-score against it is a relative measure, not a calibrated
percentile for another laboratory.

The reference is for **plasma**; serum values are scored on it unchanged (one blood measure, see
:mod:`features.model.derive`). There is no CSF reference here: CSF NfL has no age-adjusted z-score in this project.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

NFL_PCT_PER_YEAR = 3.1
"""Increase of healthy plasma NfL per year of age, % (Bornhorst 2022)."""

NFL_LOG_SLOPE_PER_YEAR = math.log1p(NFL_PCT_PER_YEAR / 100.0)
"""The same trend on the natural-log scale: ln(1.031) ~= 0.0305 per year."""

BORNHORST_2022_P975_PG_ML: tuple[tuple[float, float], ...] = (
    (25.0, 8.4), (35.0, 11.4), (45.0, 15.4), (55.0, 20.8), (65.0, 28.0), (75.0, 37.9), (85.0, 51.2),
)
"""(decade mid-age in years, published 97.5th-percentile limit in pg/mL), Bornhorst 2022."""

REFERENCE_AGE_YEARS = 50.0
"""Age at which the level is expressed (centring keeps the intercept interpretable)."""

Z_975 = NormalDist().inv_cdf(0.975)
"""Standard-normal 97.5th percentile, 1.95996..."""

NFL_LOG_SD = 0.40
"""ASSUMED SD of ln plasma NfL in healthy people at a given age (natural-log units); see the module docstring."""


def _fit_log_p975_at_reference_age() -> float:
    """Least-squares level of the ln 97.5th-percentile line with the slope fixed at :data:`NFL_LOG_SLOPE_PER_YEAR`.

    With a fixed slope the least-squares intercept is the mean of ln(limit) - b * (age - 50) over the decades.
    """
    residuals = [math.log(limit) - NFL_LOG_SLOPE_PER_YEAR * (age - REFERENCE_AGE_YEARS)
                 for age, limit in BORNHORST_2022_P975_PG_ML]
    return sum(residuals) / len(residuals)


NFL_LOG_P975_AT_50 = _fit_log_p975_at_reference_age()
"""ln of the fitted 97.5th-percentile limit at age 50 (ln pg/mL); exp() ~= 17.8 pg/mL."""

NFL_LOG_MEDIAN_AT_50 = NFL_LOG_P975_AT_50 - Z_975 * NFL_LOG_SD
"""ln of the healthy median at age 50 (ln pg/mL); exp() ~= 8.1 pg/mL."""


def nfl_log_median(age_years: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Healthy median of ln blood NfL at ``age_years``.

    Parameters
    ----------
    age_years : array-like of float
        Age at sampling, years. NaN gives NaN.

    Returns
    -------
    ndarray of float64
        mu(age) in ln(pg/mL).
    """
    age = np.asarray(age_years, dtype=np.float64)
    return NFL_LOG_MEDIAN_AT_50 + NFL_LOG_SLOPE_PER_YEAR * (age - REFERENCE_AGE_YEARS)


def nfl_p975_pg_ml(age_years: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Fitted healthy 97.5th-percentile limit of blood NfL at ``age_years``, pg/mL.

    >>> round(float(nfl_p975_pg_ml(55.0)), 1)  # published 50s limit: 20.8
    20.8
    """
    return np.exp(nfl_log_median(age_years) + Z_975 * NFL_LOG_SD)


def nfl_age_z(nfl_pg_ml: npt.ArrayLike, age_years: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Age-adjusted z-score of blood NfL against the healthy reference.

    z = (ln NfL - mu(age)) / sigma; 0 = healthy median for that age, 1.96 = the healthy 97.5th-percentile limit.

    Parameters
    ----------
    nfl_pg_ml : array-like of float
        Blood (plasma or serum) NfL, pg/mL, > 0. NaN gives NaN.
    age_years : array-like of float
        Age at sampling, years. NaN gives NaN.

    Returns
    -------
    ndarray of float64
        z-score, SD units of the healthy ln-NfL distribution.

    Examples
    --------
    >>> round(float(nfl_age_z(np.exp(nfl_log_median(60.0)), 60.0)), 12)
    0.0
    """
    nfl = np.asarray(nfl_pg_ml, dtype=np.float64)
    return (np.log(nfl) - nfl_log_median(age_years)) / NFL_LOG_SD
