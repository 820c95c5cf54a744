"""The training issue's acceptance targets on 2,000 simulated patients (default and null-lcn2 scenarios).

These fit the real default configuration (no MLflow: the metrics are what the logged run would hold), so they
are the slowest tests; they measure recovery of the simulator's planted truth, and the LCN2 ablation's honesty
(added value where it was planted, none where it was not).
"""

from __future__ import annotations

import pytest

from training.config import simulated_config
from training.data.load import load_training_data
from training.fit.train import fit_and_evaluate

pytestmark = pytest.mark.slow


def _metrics(scenario: str, seed: int) -> dict[str, float]:
    cfg = simulated_config(seed, n_patients=2000, scenario=scenario)
    return fit_and_evaluate(cfg, load_training_data(cfg.data)).metrics


@pytest.fixture(scope="module")
def default_metrics() -> dict[str, float]:
    return _metrics("default", 2026)


def test_slope_model_beats_the_baseline_and_approaches_the_noise_floor(default_metrics: dict[str, float]) -> None:
    m = default_metrics
    assert m["test_slope_rmse"] < m["baseline_slope_rmse"]
    assert m["test_slope_rmse"] <= 1.25 * m["oracle_slope_rmse"]


def test_slope_interval_is_calibrated(default_metrics: dict[str, float]) -> None:
    assert 0.72 <= default_metrics["test_slope_interval_coverage_80"] <= 0.88


def test_survival_model_discriminates_and_beats_the_clinical_baseline(default_metrics: dict[str, float]) -> None:
    """Judged against what the data allow: the planted hazard's own C-index on the same patients is the ceiling.

    The round-1 absolute target (0.65) was set on a simulator that planted a hazard ratio of 4 for the hypothesised
    inflammatory subtype where its source says 2; with the sourced value the ceiling itself is lower.
    """
    m = default_metrics
    assert m["test_survival_cindex"] >= 0.9 * m["oracle_survival_cindex"]
    assert m["test_survival_cindex"] >= m["baseline_survival_cindex"]


# The subtype targets are judged against what the data allow: ARI >= 0.85 x the supervised ceiling (a QDA fitted with
# the planted labels on the mixture's own inputs, training.fit.subtype_checks.supervised_ceiling) on `default`, and
# ARI >= 0.40 on null-lcn2. With K chosen by 3-degree-of-freedom t components and the final fit refined with 6
# (docs/training.md) the fresh seeds give on `default` ratios 0.93, 0.92, 0.95, 1.04 (seeds 5105-5108) and on
# `null-lcn2` ARI 0.427-0.507 (seeds 5205-5214, ratios 0.86-0.95): met on every seed. Seed 5202, missed before the
# refinement (0.384), now reaches 0.413; it was seen before, so it is no longer fresh.
CEILING_SHARE = 0.85
NULL_LCN2_MIN_ARI = 0.40


def test_subtypes_recover_the_planted_strata(default_metrics: dict[str, float]) -> None:
    """Seed 2026 meets the ceiling-relative target (ARI 0.472, ceiling 0.455, K = 5)."""
    m = default_metrics
    assert m["test_subtype_ari_truth"] >= CEILING_SHARE * m["test_subtype_ari_ceiling"]


def test_lcn2_added_value_is_detected_where_planted(default_metrics: dict[str, float]) -> None:
    assert default_metrics["lcn2_added_cindex_ci_low"] > 0


@pytest.fixture(scope="module")
def null_metrics() -> dict[str, float]:
    return _metrics("null-lcn2", 2026)


def test_lcn2_added_value_is_not_claimed_where_absent(null_metrics: dict[str, float]) -> None:
    m = null_metrics
    assert m["lcn2_added_cindex_ci_low"] <= 0 <= m["lcn2_added_cindex_ci_high"]


def test_subtypes_rest_on_lcn2_only_where_it_is_planted(default_metrics: dict[str, float],
                                                        null_metrics: dict[str, float]) -> None:
    """Blanking LCN2 moves many patients' subtype where LCN2 marks a planted subtype, almost none where it is
    noise (seeds 41 / 59: 19.5 % / 0.8 %)."""
    changed = "test_subtype_changed_without_lcn2"
    assert null_metrics[changed] < 0.1 < default_metrics[changed]


@pytest.mark.parametrize(("scenario", "seed"), [("default", 43), ("default", 53), ("default", 5106),
                                              ("null-lcn2", 61), ("null-lcn2", 5206), ("null-lcn2", 5202)])
def test_subtype_recovery_holds_on_fresh_seeds(scenario: str, seed: int) -> None:
    """The subtype targets on the reported seeds (docs/training.md; 5106 and 5206 were fresh, 5202 is the seed the
    previous fit missed, the others are the earlier tables'): ARI >= 0.85 x the supervised ceiling on `default`,
    ARI >= 0.40 on
    `null-lcn2` (the subtype model's own fit; the progression models play no part)."""
    from training.benchmarks.subtype_recovery import subtype_recovery

    r = subtype_recovery(seed, scenario=scenario)
    if scenario == "null-lcn2":
        assert r.ari >= NULL_LCN2_MIN_ARI
    else:
        assert r.ari >= CEILING_SHARE * r.ceiling
