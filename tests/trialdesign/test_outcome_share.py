"""The planner's share of enrolled candidates who yield a slope outcome: fitted, used for the moments, and paid for
in patients."""

from __future__ import annotations

import math

import numpy as np
import pytest

from features.model.heldout import OutcomeShareBin, summarise_outcome_share
from trialdesign import power as P
from trialdesign.design import Design
from trialdesign.plan import SlopeCalibration, _entry, enrolled_slope_stats, outcome_share


def test_the_logistic_fit_recovers_a_planted_share_curve(rng: np.random.Generator) -> None:
    pred = rng.normal(-0.9, 0.4, 20_000)
    truth = 1.0 / (1.0 + np.exp(-(2.5 + 1.5 * pred)))  # faster predicted decline, fewer outcomes
    has = rng.random(pred.size) < truth
    share = outcome_share(summarise_outcome_share(pred, has))
    assert share.c0 == pytest.approx(2.5, abs=0.15)
    assert share.c1 == pytest.approx(1.5, abs=0.15)
    assert float(share(pred).mean()) == pytest.approx(float(has.mean()), abs=0.005)


def test_without_bins_every_candidate_is_assumed_to_yield_an_outcome() -> None:
    assert outcome_share(()).__call__(np.array([-3.0, 0.0])).tolist() == [1.0, 1.0]
    everyone = [OutcomeShareBin(n=10, n_with_outcome=10, mean_pred=p) for p in (-1.5, -0.5)]
    assert outcome_share(everyone)(np.array([-3.0, 0.0])).tolist() == [1.0, 1.0]


def test_weights_move_the_moments_to_the_patients_who_will_be_analysed() -> None:
    cal = SlopeCalibration(a=0.0, b=1.0, c0=0.1, c1=0.0, floor=0.0, n=100)
    pred = np.array([-2.0, -1.0, -0.5, -0.5])
    weights = np.array([0.0, 1.0, 1.0, 1.0])  # the fastest candidate never yields an outcome
    unweighted = enrolled_slope_stats(cal, pred)
    weighted = enrolled_slope_stats(cal, pred, weights)
    assert unweighted.mean_obs == pytest.approx(-1.0)
    assert weighted.mean_obs == pytest.approx(-2.0 / 3.0)
    assert weighted.sd_obs == pytest.approx(math.sqrt(np.var([-1.0, -0.5, -0.5]) + 0.1))


def test_n_per_arm_pays_for_dropout_and_for_missing_outcomes() -> None:
    design = Design(endpoint="slope", dropout=0.1)
    entry = _entry(1.0, "none", "slope", 100, design, 0.8, outcome_observed_share=0.8)
    assert entry["n_per_arm"] == math.ceil(100 / (0.9 * 0.8)) == 139
    assert entry["outcome_observed_share"] == 0.8
    survival = _entry(1.0, "none", "survival", 100, design, 0.8)
    assert survival["n_per_arm"] == P.with_dropout(100, 0.1) == 112
    assert "outcome_observed_share" not in survival


def test_outcome_share_bins_hold_counts_not_patients() -> None:
    pred = np.linspace(-2.0, 0.0, 95)
    has = np.arange(95) % 3 != 0
    bins = summarise_outcome_share(pred, has)
    assert all(isinstance(b, OutcomeShareBin) and b.n >= 10 for b in bins)
    assert sum(b.n for b in bins) == 95
    assert sum(b.n_with_outcome for b in bins) == int(has.sum())
    assert [b.mean_pred for b in bins] == sorted(b.mean_pred for b in bins)
