"""Sample-size and power formulas: two-sample t-test, ANCOVA on a prognostic score (PROCOVA), Schoenfeld events.

Continuous endpoint (ALSFRS-R slope, points/month). With per-arm size n, outcome SD sigma and a true difference
Delta, the two-sample t statistic has a noncentral t distribution with 2n - 2 degrees of freedom and noncentrality
Delta / (sigma * sqrt(2/n)). Adjusting for a prognostic score with correlation rho to the outcome (ANCOVA; PROCOVA,
Schuler et al. 2022, EMA qualification opinion 2022) leaves a residual SD sigma * sqrt(1 - rho^2), costs one degree
of freedom, and the chance imbalance of the covariate between the arms inflates the variance of the estimate by
1 + 1/(2n - 4) on average (its expectation for a normal covariate under randomisation). The noncentral t is exact
for the t-test and the standard approximation for ANCOVA; ``statsmodels.stats.power.TTestIndPower`` gives the same
numbers (checked by the tests), scipy alone keeps the planner's start-up fast.

Time-to-event endpoint: Schoenfeld (1983), d = 4 (z_{1-alpha/2} + z_{power})^2 / (ln HR)^2 events for a 1:1
log-rank test or Cox model; the number of patients is d over the probability of an event by the end of follow-up.
Every patient count is inflated for dropout as n / (1 - dropout).

Randomisation within strata of the prognostic score (Berry et al. 2018) balances the strata between the arms, so
the unadjusted difference of means varies less than the t-test's standard error assumes: with strata explaining a
share R_s^2 of the outcome variance the statistic is about N(noncentrality, 1 - R_s^2). The unadjusted design is
planned with that (its size is then below alpha: the test is conservative, as simulation shows).
"""

from __future__ import annotations

import math

from scipy import stats

from features.errors import UserInputError

MIN_PER_ARM = 3
"""Smallest analysable arm (ANCOVA needs 2n - 3 > 0 degrees of freedom and 2n - 4 > 0 for the imbalance term)."""
MAX_PER_ARM = 10_000_000
"""Beyond this no trial is feasible; the search stops and says so."""


class InfeasibleDesign(UserInputError):
    """The requested power cannot be reached with any feasible number of patients."""


def t_test_power(n_per_arm: int, delta: float, sd: float, alpha: float, *, rho: float = 0.0,
                 adjusted: bool = False, strata_r2: float = 0.0) -> float:
    """Power of a two-sided two-sample t-test (``adjusted=False``) or of ANCOVA on one prognostic covariate.

    Parameters
    ----------
    n_per_arm : int
        Analysed patients per arm (1:1).
    delta : float
        True difference of the arm means (points/month).
    sd : float
        Outcome SD within an arm (points/month).
    alpha : float
        Two-sided significance level.
    rho : float
        Correlation of the prognostic score with the outcome (used when ``adjusted``).
    adjusted : bool
        ANCOVA: residual SD sd * sqrt(1 - rho^2), 2n - 3 degrees of freedom, imbalance inflation 1 + 1/(2n - 4).
    strata_r2 : float
        t-test after randomisation within strata that explain this share of the outcome variance: the difference
        of means then varies less than the t-test's standard error assumes (its statistic is about
        N(noncentrality, 1 - strata_r2)), which raises the power and lowers the size below alpha.

    Returns
    -------
    float
        Probability of rejecting the null hypothesis of no difference (both tails counted).
    """
    n = float(n_per_arm)
    if adjusted:
        df = 2.0 * n - 3.0
        se = sd * math.sqrt(max(1.0 - rho * rho, 0.0)) * math.sqrt(2.0 / n * (1.0 + 1.0 / (2.0 * n - 4.0)))
    else:
        df = 2.0 * n - 2.0
        se = sd * math.sqrt(2.0 / n)
    nc = abs(delta) / se
    crit = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    if strata_r2 > 0 and not adjusted:
        spread = math.sqrt(1.0 - min(strata_r2, 0.99))
        return float(stats.norm.sf((crit - nc) / spread) + stats.norm.cdf((-crit - nc) / spread))
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


def t_test_n_per_arm(delta: float, sd: float, alpha: float, power: float, *, rho: float = 0.0,
                     adjusted: bool = False, strata_r2: float = 0.0) -> int:
    """Smallest analysed n per arm whose :func:`t_test_power` reaches ``power``.

    Starts from the normal approximation 2 sigma_e^2 (z_{1-alpha/2} + z_power)^2 / Delta^2 and steps to the exact
    integer (a handful of evaluations).

    Raises
    ------
    InfeasibleDesign
        When ``delta`` is 0 or more than :data:`MAX_PER_ARM` patients per arm would be needed.
    """
    if delta == 0 or sd <= 0:
        raise InfeasibleDesign(f"no sample size detects a difference of {delta} with SD {sd}")
    sd_e = float(sd * math.sqrt(max(1.0 - rho * rho, 0.0)) if adjusted else sd)
    z = float(stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power))
    # A tiny difference (an effect of 1e-291, say) makes Delta^2 underflow to 0 or the ratio overflow: both mean
    # "more patients than any trial", never an arithmetic error.
    squared = float(delta) * float(delta)
    approx = 2.0 * sd_e * sd_e * z * z / squared if squared > 0 else math.inf
    if not approx <= MAX_PER_ARM:
        raise InfeasibleDesign(f"more than {MAX_PER_ARM:,} patients per arm would be needed to detect a difference "
                               f"of {float(delta):.3g} points/month")
    n = max(MIN_PER_ARM, math.ceil(approx))

    def ok(k: int) -> bool:
        return t_test_power(k, delta, sd, alpha, rho=rho, adjusted=adjusted, strata_r2=strata_r2) >= power

    while not ok(n):
        n += 1
    while n > MIN_PER_ARM and ok(n - 1):
        n -= 1
    return n


NULL_INFORMATION = 0.25
"""Information on the log hazard ratio per event of a 1:1 comparison under the null (Schoenfeld 1983)."""


def alternative_information(hazard_ratio: float) -> float:
    """Information on the log hazard ratio per event of a 1:1 comparison when the hazard ratio is ``hazard_ratio``.

    At an event the arm of the patient who fails is Bernoulli(p), p = HR r / (HR r + 1 - r) with r the treated share
    of the risk set; with r about 1/2, p = HR / (1 + HR) and the information is p (1 - p), below the null's 1/4
    (0.241 at HR 0.68). This is the variance behind Freedman's (1982) formula; a Cox model's estimate of a
    conditional effect far from 1 has the standard error it implies (measured: ``bench/adjusted_survival_power``).
    """
    p = hazard_ratio / (1.0 + hazard_ratio)
    return p * (1.0 - p)


def schoenfeld_events(hazard_ratio: float, alpha: float, power: float,
                      information: float = NULL_INFORMATION) -> int:
    """Events needed by a two-sided 1:1 log-rank test / Cox model (Schoenfeld 1983), rounded up.

    d = (z_{1-alpha/2} + z_power)^2 / (information (ln HR)^2), information per event 1/4 by default (Schoenfeld:
    d = 4 (z + z)^2 / (ln HR)^2), or :func:`alternative_information` for a Cox estimate of a larger effect.
    """
    if hazard_ratio <= 0 or hazard_ratio == 1:
        raise InfeasibleDesign(f"hazard ratio must be > 0 and != 1, got {hazard_ratio}")
    z = float(stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power))
    squared = math.log(hazard_ratio) ** 2
    events = z * z / (information * squared) if squared > 0 else math.inf
    if not events <= 2 * MAX_PER_ARM:  # answers must stay countable (and JSON integers stay 64-bit)
        raise InfeasibleDesign(f"more than {2 * MAX_PER_ARM:,} events would be needed to detect a hazard ratio "
                               f"of {hazard_ratio:.6g}")
    return math.ceil(events)


def events_power(events: float, hazard_ratio: float, alpha: float, information: float = NULL_INFORMATION) -> float:
    """Power of a two-sided 1:1 log-rank test / Cox model with ``events`` events (normal approximation; information
    per event as in :func:`schoenfeld_events`)."""
    drift = math.sqrt(events * information) * abs(math.log(hazard_ratio))
    crit = stats.norm.ppf(1.0 - alpha / 2.0)
    return float(stats.norm.sf(crit - drift) + stats.norm.cdf(-crit - drift))


def with_dropout(n: float, dropout: float) -> int:
    """Patients to enrol so that ``n`` remain after losing the fraction ``dropout``: ceil(n / (1 - dropout))."""
    return math.ceil(n / (1.0 - dropout) - 1e-9)
