"""Planted truth: virtual trials reach the power the formulas promise, and reject a true null at most 6 % of the
time. The plan's outcome SD and rho are taken from the resampled pool itself, so this checks the formulas, the
stratified randomisation and the analyses (the held-out estimates are checked by ``alsstrat trial simulate``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from statsmodels.formula.api import ols

from tests.servers import ServedModel
from trialdesign import power as P
from trialdesign.design import parse_design
from trialdesign.pool import ScoredPool, score_pool
from trialdesign.virtual import Population, ols_arm_p_value, run_trials, simulated_population

pytestmark = [pytest.mark.slow, pytest.mark.mlflow]
TRIALS = 500  # Monte Carlo SE of a power near 0.8: 1.8 points, so a +-5 point check can fail for real


@pytest.fixture(scope="module")
def pool_and_population(store: ServedModel) -> tuple[ScoredPool, Population, Any]:
    from features.candidate_rows import frame_rows
    from features.model.pyfunc import load_stratifier

    model = load_stratifier("models:/als-stratifier@champion").model
    table, pop = simulated_population(3000, 20261202)
    design = parse_design({"endpoint": "slope", "keep": [1.0, 0.5], "dropout": 0.1})
    pool = score_pool(model, frame_rows(table), design)
    return pool, pop, design


def test_ols_p_value_matches_statsmodels(rng: np.random.Generator) -> None:
    import pandas as pd

    x = rng.normal(size=80)
    arm = np.repeat([0, 1], 40)
    y = 0.5 * x + 0.3 * arm + rng.normal(size=80)
    fit = ols("y ~ arm + x", pd.DataFrame({"y": y, "arm": arm, "x": x})).fit()
    assert ols_arm_p_value(y, arm, x) == pytest.approx(fit.pvalues["arm"], rel=1e-9)


@pytest.mark.parametrize(("keep", "adjustment"), [(1.0, "none"), (1.0, "prognostic"), (0.5, "none"),
                                                  (0.5, "prognostic")])
def test_virtual_trials_reach_the_planned_power_and_hold_the_type_one_error(
        pool_and_population: tuple[ScoredPool, Population, Any], keep: float, adjustment: str) -> None:
    pool, pop, design = pool_and_population
    enrolled = pool.enrolled[keep] & np.isfinite(pop.slope)
    y, score = pop.slope[enrolled], pool.score[enrolled]
    sd, rho = float(np.std(y, ddof=1)), float(np.corrcoef(y, score)[0, 1])
    strata = pool.stratum[enrolled]
    # share of the outcome variance between the randomisation strata (what stratified randomisation balances)
    r2 = sum((strata == s).mean() * (y[strata == s].mean() - y.mean()) ** 2 for s in np.unique(strata)) / np.var(y)
    delta = design.effect * abs(float(y.mean()))
    adjusted = adjustment == "prognostic"
    n = P.t_test_n_per_arm(delta, sd, design.alpha, design.power, rho=rho, adjusted=adjusted, strata_r2=r2)
    planned = P.t_test_power(n, delta, sd, design.alpha, rho=rho, adjusted=adjusted, strata_r2=r2)
    # the enrolled who yield no slope outcome (died, no visit in the window) are lost on top of the dropout
    share = float(np.isfinite(pop.slope[pool.enrolled[keep]]).mean())
    entry = {"keep_fraction": keep, "adjustment": adjustment,
             "n_per_arm": P.with_dropout(n, 1.0 - (1.0 - design.dropout) * share)}
    empirical = run_trials(design, pool, pop, entry, n_trials=TRIALS, seed=11)
    type1 = run_trials(design, pool, pop, entry, n_trials=TRIALS, seed=12, null=True)
    assert abs(empirical - planned) <= 0.05, (empirical, planned, n)
    assert type1 <= 0.06


def test_log_rank_matches_lifelines(rng: np.random.Generator) -> None:
    import warnings

    import pandas as pd
    from lifelines.statistics import logrank_test

    from trialdesign.virtual import log_rank_p_value

    n = 300
    arm = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    t = rng.exponential(1.0 / np.exp(0.5 * x - 0.4 * arm))
    event = t < 1.0
    t = np.round(np.minimum(t, 1.0), 2)  # ties, and administrative censoring at 1
    treated = arm == 1
    with warnings.catch_warnings():  # lifelines 0.30 calls a pandas method positionally (Pandas4Warning)
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        expected = logrank_test(t[treated], t[~treated], event[treated], event[~treated]).p_value
    assert log_rank_p_value(t, event, arm) == pytest.approx(expected, rel=1e-9)
