"""Virtual trials: check a plan by running it many times on a simulated screening population with a planted effect.

Each virtual trial of a design enrols ``n_per_arm`` x 2 patients at random from the population's patients that the
design's keep rule enrols, randomises them 1:1 within the tertile strata (permuted blocks of two per stratum),
loses each patient to dropout with the design's probability, and analyses the rest as the design says:

* slope endpoint: each patient's *observed* ALSFRS-R slope (points/month, the cohort's outcome), plus the planted
  shift Delta = effect * |mean observed slope of the population's enrolled patients| in the treated arm; analysed by
  a two-sample t-test (``none``) or ANCOVA on the prognostic score (``prognostic``);
* survival endpoint: event times drawn from the simulator's own model of each patient (Weibull proportional hazards
  in time since onset, the patient's planted hazard multiplier, alive at the landmark), the treated arm's hazard
  multiplied by the hazard ratio; censored at the end of follow-up; analysed by a log-rank test (``none``) or a Cox
  model on arm + the prognostic score's log-time prediction (``prognostic``).

Empirical power is the share of trials that reject at ``alpha``; the type-I error is the same share with no planted
effect (Delta = 0, hazard ratio 1). Every draw comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from trialdesign.design import Design
from trialdesign.pool import ScoredPool


@dataclass(frozen=True)
class Population:
    """The simulated screening population behind virtual trials, aligned with a :class:`ScoredPool`.

    Attributes
    ----------
    slope : ndarray
        Observed ALSFRS-R slope outcome (points/month); NaN where the cohort has none (never enrolled then).
    months_since_onset : ndarray
        Months from symptom onset to the landmark.
    hazard_multiplier : ndarray
        The simulator's planted hazard multiplier of each patient.
    weibull_shape, weibull_scale_months : float
        The simulator's Weibull baseline hazard in time since onset.
    """

    slope: np.ndarray
    months_since_onset: np.ndarray
    hazard_multiplier: np.ndarray
    weibull_shape: float
    weibull_scale_months: float


def ols_arm_p_value(y: np.ndarray, arm: np.ndarray, covariate: np.ndarray) -> float:
    """Two-sided p-value of the arm coefficient in y ~ 1 + arm + covariate (ordinary least squares)."""
    x = np.column_stack([np.ones_like(y), arm, covariate])
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ (x.T @ y)
    resid = y - x @ beta
    df = len(y) - 3
    sigma2 = float(resid @ resid) / df
    t = beta[1] / math.sqrt(sigma2 * xtx_inv[1, 1])
    return float(2.0 * stats.t.sf(abs(t), df))


def t_test_p_value(y: np.ndarray, arm: np.ndarray) -> float:
    """Two-sided p-value of Student's two-sample t-test (equal variances) of y between the arms."""
    return float(stats.ttest_ind(y[arm == 1], y[arm == 0]).pvalue)


def log_rank_p_value(time: np.ndarray, event: np.ndarray, arm: np.ndarray) -> float:
    """Two-sided p-value of the log-rank test between the arms (lifelines)."""
    from lifelines.statistics import logrank_test

    treated = arm == 1
    return float(logrank_test(time[treated], time[~treated], event[treated], event[~treated]).p_value)


def cox_arm_p_value(time: np.ndarray, event: np.ndarray, arm: np.ndarray, covariate: np.ndarray) -> float:
    """Two-sided Wald p-value of the arm in a Cox model on arm + covariate (statsmodels ``PHReg``, Breslow ties)."""
    from statsmodels.duration.hazard_regression import PHReg

    fit = PHReg(time, np.column_stack([arm, covariate]), status=event.astype(float), ties="breslow").fit()
    return float(fit.pvalues[0])


def stratified_arms(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1:1 arms (1 = treated) assigned within each stratum: a random permutation alternating arms, so each
    stratum's arms differ by at most one patient and the start is random."""
    arm = np.empty(len(strata), dtype=np.int64)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        idx = idx[rng.permutation(len(idx))]
        first = int(rng.integers(2))
        arm[idx] = (np.arange(len(idx)) + first) % 2
    return arm


def _survival_times(pop: Population, idx: np.ndarray, hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Months from the landmark to the event, from the simulator's Weibull model (hazard x ``hr``)."""
    k, lam = pop.weibull_shape, pop.weibull_scale_months
    m0 = pop.months_since_onset[idx]
    e = rng.standard_exponential(len(idx))
    return np.asarray(lam * ((m0 / lam) ** k + e / (pop.hazard_multiplier[idx] * hr)) ** (1.0 / k) - m0)


def run_trials(design: Design, pool: ScoredPool, pop: Population, entry: dict[str, Any], *, n_trials: int,
               seed: int, null: bool = False) -> float:
    """Share of ``n_trials`` virtual trials of one plan entry that reject at ``design.alpha``.

    Parameters
    ----------
    design : Design
    pool : ScoredPool
        The population scored as a candidate pool (prognostic score, strata, enrolment).
    pop : Population
        Its outcomes and simulator truth.
    entry : dict
        One of the plan's ``designs`` (``keep_fraction``, ``adjustment``, ``n_per_arm``).
    n_trials : int
    seed : int
    null : bool
        Plant no effect (type-I error).
    """
    rng = np.random.default_rng(seed)
    mask = pool.enrolled[float(entry["keep_fraction"])]
    slope_endpoint = design.endpoint == "slope"
    if slope_endpoint:
        mask = mask & np.isfinite(pop.slope)
    eligible = np.flatnonzero(mask)
    n_enrol = 2 * int(entry["n_per_arm"])
    replace = n_enrol > len(eligible)
    adjusted = entry["adjustment"] == "prognostic"
    shift = 0.0 if null else design.effect * abs(float(np.mean(pop.slope[eligible]))) if slope_endpoint else 0.0
    hr = 1.0 if null else design.hazard_ratio
    rejections = 0
    for _ in range(n_trials):
        idx = rng.choice(eligible, size=n_enrol, replace=replace)
        arm = stratified_arms(pool.stratum[idx], rng)
        kept = rng.random(n_enrol) >= design.dropout
        idx, arm = idx[kept], arm[kept]
        if slope_endpoint:
            y = pop.slope[idx] + shift * arm
            p = ols_arm_p_value(y, arm, pool.score[idx]) if adjusted else t_test_p_value(y, arm)
        else:
            t = _survival_times(pop, idx, np.where(arm == 1, hr, 1.0), rng)
            event = t <= design.follow_up_months
            t = np.minimum(t, design.follow_up_months)
            p = (cox_arm_p_value(t, event, arm, pool.mu[idx]) if adjusted
                 else log_rank_p_value(t, event, arm))
        rejections += p < design.alpha
    return rejections / n_trials


def simulate_plan(design: Design, pool: ScoredPool, pop: Population, plan: dict[str, Any], *, n_trials: int,
                  seed: int, progress: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Empirical power (planted effect) and type-I error (no effect) of every design of ``plan``.

    Each design and each of the two runs gets its own child seed (``SeedSequence(seed).spawn``), so adding a
    design never changes another's figures.

    Returns
    -------
    list of dict
        Per design: ``keep_fraction``, ``adjustment``, ``n_per_arm``, ``planned_power``, ``empirical_power``,
        ``power_difference`` (empirical - planned, proportion), ``type1_error``, ``monte_carlo_se`` (of the
        empirical power, proportion) and ``trials``.
    """
    children = np.random.SeedSequence(seed).spawn(2 * len(plan["designs"]))
    out = []
    for k, entry in enumerate(plan["designs"]):
        s_power = int(children[2 * k].generate_state(1)[0])
        s_null = int(children[2 * k + 1].generate_state(1)[0])
        empirical = run_trials(design, pool, pop, entry, n_trials=n_trials, seed=s_power)
        type1 = run_trials(design, pool, pop, entry, n_trials=n_trials, seed=s_null, null=True)
        planned = float(entry["planned_power"])
        out.append({"keep_fraction": entry["keep_fraction"], "adjustment": entry["adjustment"],
                    "n_per_arm": entry["n_per_arm"], "planned_power": planned,
                    "empirical_power": round(empirical, 3), "power_difference": round(empirical - planned, 3),
                    "type1_error": round(type1, 3),
                    "monte_carlo_se": round(math.sqrt(max(empirical * (1 - empirical), 1e-12) / n_trials), 3),
                    "trials": n_trials})
        if progress is not None:
            progress()
    return out
