"""The corrected resampled t interval (Nadeau & Bengio 2003) against a hand computation on fixed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.evaluation.corrected_t import corrected_resampled_t

# Five fold-level differences, n_test / n_train = 1/4 (5-fold CV):
# mean = 0.02; s^2 = (0 + 1e-4 + 1e-4 + 4e-4 + 4e-4) / 4 = 2.5e-4; var = (1/5 + 1/4) * 2.5e-4 = 1.125e-4.
DIFFS = np.array([0.02, 0.01, 0.03, 0.00, 0.04])
SE = math.sqrt(1.125e-4)
T_975_DF4 = 2.7764451051977987  # Student t, 4 degrees of freedom, 97.5th percentile (tables)


def _t4_cdf(t: float) -> float:
    """Closed-form CDF of Student's t with 4 degrees of freedom (independent of scipy)."""
    x = t * t / (4 + t * t)
    return 0.5 + 0.5 * math.copysign(1.0, t) * math.sqrt(x) * (1 + 0.5 * (1 - x))


def test_interval_and_p_value_match_the_hand_computation() -> None:
    r = corrected_resampled_t(DIFFS, test_train_ratio=0.25)
    assert r.n_folds == 5
    assert r.estimate == pytest.approx(0.02, abs=1e-15)
    assert r.se == pytest.approx(SE, rel=1e-12)
    assert r.t == pytest.approx(0.02 / SE, rel=1e-12)
    assert r.ci_low == pytest.approx(0.02 - T_975_DF4 * SE, rel=1e-9)
    assert r.ci_high == pytest.approx(0.02 + T_975_DF4 * SE, rel=1e-9)
    assert r.p_value == pytest.approx(2 * (1 - _t4_cdf(0.02 / SE)), rel=1e-9)
    # The interval includes 0 although every difference is >= 0: the correction at work.
    assert r.ci_low < 0 < r.ci_high
    assert not r.lower_bound_above_zero


def test_the_correction_widens_the_naive_interval_by_the_overlap_factor() -> None:
    naive_se = math.sqrt(2.5e-4 / 5)
    r = corrected_resampled_t(DIFFS, test_train_ratio=0.25)
    assert (r.ci_high - r.ci_low) / (2 * T_975_DF4 * naive_se) == pytest.approx(math.sqrt(1 + 5 * 0.25), rel=1e-9)


def test_undefined_folds_are_left_out_and_counted() -> None:
    r = corrected_resampled_t(np.array([*DIFFS, np.nan]), test_train_ratio=0.25)
    assert r.n_folds == 5
    assert r.ci_low == pytest.approx(0.02 - T_975_DF4 * SE, rel=1e-9)
    single = corrected_resampled_t(np.array([0.01, np.nan]), test_train_ratio=0.25)
    assert single.n_folds == 1
    assert math.isnan(single.ci_low)
    assert not single.lower_bound_above_zero


@pytest.mark.parametrize(("ratio", "confidence", "match"), [
    (0.0, 0.95, "test_train_ratio must be a positive number .* got 0.0"),
    (float("nan"), 0.95, "test_train_ratio must be a positive number"),
    (0.25, 1.0, r"confidence must be within \(0, 1\), got 1.0"),
])
def test_bad_arguments_are_refused_naming_them(ratio: float, confidence: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        corrected_resampled_t(DIFFS, test_train_ratio=ratio, confidence=confidence)
