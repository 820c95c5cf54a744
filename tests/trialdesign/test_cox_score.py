"""The adjusted survival analysis of virtual trials: the arm's Cox score at the covariate-only fit and its
re-randomisation variance. Checked against statsmodels and lifelines, against the exact randomisation distribution
of a small trial, and for its size on null trials where the Cox model is misspecified."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.hazard_regression import PHReg

from trialdesign.virtual import cox_arm_p_value, cox_arm_score, cox_martingale_residuals, stratified_arms


def _null_trial(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                           np.ndarray]:
    """A null trial the Cox model on ``x`` misspecifies: unexplained frailty, arms balanced within tertiles of x."""
    x = rng.normal(size=n)
    hazard = np.exp(-1.2 * x + rng.normal(0.0, 0.6, n))
    t = rng.exponential(1.0 / hazard)
    event = t <= 0.45  # administrative censoring: about 40 % events
    strata = np.digitize(x, np.quantile(x, [1 / 3, 2 / 3]))
    return np.minimum(t, 0.45), event, stratified_arms(strata, rng), x, strata


def test_martingale_residuals_match_lifelines_and_breslow_by_hand(rng: np.random.Generator) -> None:
    n = 250
    x = rng.normal(size=n)
    t = rng.exponential(1.0 / np.exp(0.7 * x))
    event = t < 1.0
    from lifelines import CoxPHFitter

    untied = np.minimum(t, 1.0)  # lifelines uses Efron's ties, the same as Breslow's without ties
    frame = pd.DataFrame({"t": untied, "e": event.astype(int), "x": x})
    with warnings.catch_warnings():  # lifelines 0.30 calls a pandas method positionally (Pandas4Warning)
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        model = CoxPHFitter().fit(frame, "t", "e")
        expected = model.compute_residuals(frame, "martingale").sort_index()["martingale"].to_numpy()
    assert cox_martingale_residuals(untied, event, x) == pytest.approx(expected, abs=1e-5)
    # Tied event times (Breslow): statsmodels' PHReg fit, then the residuals written out time by time. (statsmodels'
    # own martingale_residuals do not sum to zero, so they are not Breslow's.)
    tied = np.round(untied, 2)
    centred = x - x.mean()
    beta = PHReg(tied, centred[:, None], status=event.astype(float), ties="breslow").fit().params[0]
    w = np.exp(beta * centred)
    times = np.unique(tied[event])
    increment = np.array([event[tied == s].sum() / w[tied >= s].sum() for s in times])
    by_hand = event - w * np.array([increment[times <= s].sum() for s in tied])
    residuals = cox_martingale_residuals(tied, event, x)
    assert residuals == pytest.approx(by_hand, abs=1e-7)
    assert residuals.sum() == pytest.approx(0.0, abs=1e-9)


def test_arm_score_is_the_cox_score_of_the_arm_at_the_covariate_only_fit(rng: np.random.Generator) -> None:
    n = 200
    arm = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    t = np.round(np.minimum(rng.exponential(1.0 / np.exp(0.5 * x - 0.3 * arm)), 1.0), 2)
    event = t < 1.0
    centred = x - x.mean()
    beta = PHReg(t, centred[:, None], status=event.astype(float), ties="breslow").fit().params[0]
    score = PHReg(t, np.column_stack([arm, centred]), status=event.astype(float), ties="breslow").score(
        np.array([0.0, beta]))
    u, _ = cox_arm_score(t, event, arm, x)  # one stratum: sum a M - n1 mean(M), and mean(M) = 0
    assert u == pytest.approx(score[0], abs=1e-6)


def test_variance_is_the_exact_randomisation_variance_of_a_small_trial(rng: np.random.Generator) -> None:
    # strata of 5, 4 and 3 patients with 2, 2 and 1 treated: all 10 * 6 * 3 = 180 assignments, equally likely
    strata = np.repeat([0, 1, 2], [5, 4, 3])
    t = rng.exponential(size=12)
    event = rng.random(12) < 0.7
    x = rng.normal(size=12)
    treated = {0: 2, 1: 2, 2: 1}
    per_stratum = [[np.isin(np.arange(k), c).astype(int) for c in itertools.combinations(range(k), treated[s])]
                   for s, k in ((0, 5), (1, 4), (2, 3))]
    scores, variances = [], set()
    for parts in itertools.product(*per_stratum):
        u, v = cox_arm_score(t, event, np.concatenate(parts), x, strata)
        scores.append(u)
        variances.add(round(v, 12))
    assert len(scores) == 180
    assert len(variances) == 1  # the variance depends on the treated counts, not on who is treated
    assert np.mean(scores) == pytest.approx(0.0, abs=1e-12)
    assert np.mean(np.square(scores)) == pytest.approx(variances.pop(), rel=1e-9)


def test_size_on_misspecified_null_trials(rng: np.random.Generator) -> None:
    # 3,000 null trials of 40 patients: Monte Carlo SE of a 0.05 rate 0.004. Small trials, because the robust
    # (Lin-Wei) sandwich's downward bias grows as fewer patients share the variance: that test, the analysis before
    # this one (bench.cox_type1.lin_wei_arm_p_value), rejected 0.068 of these very trials and 0.065 / 0.060 of 3,000
    # trials of 40 / 80 patients from another seed (measured by hand during development). The bound is the
    # acceptance of issue #14 (0.06); the floor catches a variance that is too large (a test that throws away power).
    rejected = [cox_arm_p_value(*_null_trial(rng, 40)) < 0.05 for _ in range(3000)]
    assert 0.035 <= np.mean(rejected) <= 0.06


def test_degenerate_trials_do_not_reject() -> None:
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert cox_arm_p_value(t, np.zeros(4, dtype=bool), np.array([0, 1, 0, 1]), t) == 1.0  # no event
    assert cox_arm_p_value(t, np.ones(4, dtype=bool), np.array([0, 1, 0, 1]), t,
                           np.array([0, 1, 2, 3])) == 1.0  # one patient per stratum: nothing to permute
