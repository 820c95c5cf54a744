"""The bundle's hand-vectorised pieces must equal the library computations they replace."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from features.model.bundle import SubtypeComponent, SubtypeInfo, SurvivalComponent


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_subtype_probabilities_equal_sklearn(rng: np.random.Generator, covariance_type: str) -> None:
    centres = np.array([[0, 0, 0], [3, 1, -2], [-2, 4, 1]], dtype=float)
    x = np.concatenate([c + rng.normal(size=(80, 3)) for c in centres])
    gmm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(x)
    z = np.concatenate([x, rng.normal(size=(len(x), 2))], axis=1)  # extra columns the component must ignore
    z[::7, 1] = np.nan  # missing values are filled with the training median
    component = SubtypeComponent(columns=np.array([0, 1, 2]), fill=np.nanmedian(z[:, :3], axis=0),
                                 center=np.zeros(3), scale=np.ones(3), gmm=gmm,
                                 subtypes=[SubtypeInfo(k, f"s{k}", "") for k in range(3)])
    expected = gmm.predict_proba(component.standardise(z))
    got = component.probabilities(z)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)


def test_aft_survival_curve_is_monotone_and_median_is_exp_mu() -> None:
    component = SurvivalComponent(booster=None, distribution="normal", sigma=0.8,  # type: ignore[arg-type]
                                  risk_cutpoints=np.array([-4.0, -3.5, -3.0, -2.0]))
    mu = np.log(np.array([6.0, 24.0, 60.0]))
    months = np.array([1, 6, 12, 24, 36, 60, 120], dtype=float)
    surv = component.survival_at(mu, months)
    assert (np.diff(surv, axis=1) <= 0).all()
    np.testing.assert_allclose(component.survival_at(mu, np.exp(mu))[np.arange(3), np.arange(3)], 0.5, atol=1e-12)
    assert component.risk_group(mu).tolist() == [5, 3, 1]  # shorter predicted survival = higher risk group


def test_answer_probabilities_keep_summing_to_one_after_rounding(rng: np.random.Generator) -> None:
    from features.model.bundle import _round_summing_to_one

    proba = rng.dirichlet([1.0, 1.0, 1.0, 1.0], size=5000)
    shown = _round_summing_to_one(proba, 3)
    np.testing.assert_allclose(shown.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.abs(shown - proba).max() < 1e-3  # never more than one unit of the last decimal away
    np.testing.assert_allclose(shown * 1000, np.rint(shown * 1000), rtol=0, atol=1e-9)  # three decimals at most


def test_a_near_tie_between_subtypes_is_flagged_uncertain() -> None:
    """0.49 / 0.51 is a tie, not a subtype: the answer says so (features.model.bundle.UNCERTAIN_MEMBERSHIP_MARGIN)."""
    from features.model.bundle import uncertain_assignments

    proba = np.array([[0.49, 0.51, 0.0], [0.10, 0.90, 0.0], [0.41, 0.59, 0.0], [0.39, 0.61, 0.0], [0.3, 0.3, 0.4]])
    assert uncertain_assignments(proba).tolist() == [True, False, True, False, True]
    assert uncertain_assignments(np.ones((2, 1))).tolist() == [False, False]
