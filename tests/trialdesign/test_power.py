"""The planner's sample-size formulas against statsmodels and closed forms, and design checking."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import TTestIndPower

from trialdesign import power as P
from trialdesign.design import DesignError, parse_design


@pytest.mark.parametrize(("delta", "sd", "alpha", "power"), [(0.25, 0.6, 0.05, 0.8), (0.1, 0.5, 0.01, 0.9),
                                                             (0.5, 1.2, 0.05, 0.8)])
def test_t_test_sample_size_matches_statsmodels(delta: float, sd: float, alpha: float, power: float) -> None:
    n = P.t_test_n_per_arm(delta, sd, alpha, power)
    assert n == math.ceil(TTestIndPower().solve_power(effect_size=delta / sd, alpha=alpha, power=power, ratio=1.0))
    assert P.t_test_power(n, delta, sd, alpha) == pytest.approx(
        TTestIndPower().power(effect_size=delta / sd, nobs1=n, alpha=alpha, ratio=1.0), abs=1e-9)


def test_ancova_power_is_a_t_test_on_the_residual_sd_with_one_degree_of_freedom_less() -> None:
    n, delta, sd, rho = 60, 0.2, 0.6, 0.5
    inflation = 1.0 + 1.0 / (2 * n - 4)
    effect = delta / (sd * math.sqrt(1 - rho**2) * math.sqrt(inflation))
    expected = TTestIndPower().power(effect_size=effect, nobs1=n, alpha=0.05, ratio=1.0, df=2 * n - 3)
    assert P.t_test_power(n, delta, sd, 0.05, rho=rho, adjusted=True) == pytest.approx(expected, abs=1e-9)


def test_prognostic_adjustment_cuts_the_sample_size_by_about_one_minus_rho_squared() -> None:
    plain = P.t_test_n_per_arm(0.1, 0.6, 0.05, 0.8)
    adjusted = P.t_test_n_per_arm(0.1, 0.6, 0.05, 0.8, rho=0.6, adjusted=True)
    assert adjusted / plain == pytest.approx(1 - 0.6**2, abs=0.01)


def test_schoenfeld_events_closed_form() -> None:
    # 4 (1.959964 + 0.841621)^2 / ln(0.7)^2 = 246.8 -> 247
    assert P.schoenfeld_events(0.7, 0.05, 0.8) == 247
    assert P.events_power(247, 0.7, 0.05) == pytest.approx(0.8, abs=0.002)


def test_dropout_inflates_the_count() -> None:
    assert P.with_dropout(90, 0.1) == 100
    assert P.with_dropout(91, 0.1) == 102


@pytest.mark.parametrize(("design", "field", "message"), [
    ({"effect": 1.5}, "design.effect", "must be > 0 and < 1, got 1.5"),
    ({"hazard_ratio": 1}, "design.hazard_ratio", "must be within [0.01, 100] and != 1, got 1.0"),
    ({"alpha": 1e-300}, "design.alpha", "must be >= 1e-06, got 1e-300"),
    ({"keep": [1.0, 0]}, "design.keep[1]", "must be > 0 and <= 1, got 0"),
    ({"dropout": 1.0}, "design.dropout", "must be >= 0 and < 1, got 1.0"),
    ({"alpah": 0.05}, "design.alpah", "unknown field(s) ['alpah']"),
    ({"endpoint": "pfs"}, "design.endpoint", "must be one of ['slope', 'survival'], got 'pfs'"),
])
def test_bad_design_fields_are_named(design: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(DesignError) as info:
        parse_design(design)
    assert info.value.field == field
    assert info.value.message.startswith(message)


def test_a_model_from_before_trial_planning_is_refused_by_name() -> None:
    """An old bundle unpickles without the held-out summary (the dataclass default) and cannot plan."""
    from pathlib import Path

    import mlflow

    from trialdesign.pool import PlanningUnavailable, check_model

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_model_v0_1" / "model"
    model = mlflow.pyfunc.load_model(str(fixture)).unwrap_python_model().model
    model.model_version = "7"
    assert model.held_out is None
    with pytest.raises(PlanningUnavailable, match=r"^model version 7 has no held-out summary .*retrain it to plan"):
        check_model(model, parse_design(None))


@pytest.mark.parametrize("delta", [1e-291, 1e-200, 1e-6, 0.0])
def test_a_vanishing_difference_is_an_infeasible_design_not_an_arithmetic_error(delta: float) -> None:
    """Found by the HTTP fuzz test: effect 1.8e-291 made Delta^2 underflow and the plan answered 500."""
    from features.errors import UserInputError
    with pytest.raises(P.InfeasibleDesign, match="patients per arm would be needed|no sample size detects") as info:
        P.t_test_n_per_arm(delta, 0.5, 1e-6, 0.8)
    assert isinstance(info.value, UserInputError)  # the CLI answers exit 2, the service 400


def test_a_hazard_ratio_next_to_one_is_an_infeasible_design() -> None:
    with pytest.raises(P.InfeasibleDesign, match="events would be needed"):
        P.schoenfeld_events(1.0 + 1e-12, 0.05, 0.8)
    assert P.schoenfeld_events(0.7, 0.05, 0.8) == 247  # 4 (1.960 + 0.842)^2 / ln(0.7)^2 = 246.8


def test_the_alternative_information_is_below_the_null_and_sizes_the_adjusted_cox_design() -> None:
    assert P.alternative_information(1.0) == pytest.approx(P.NULL_INFORMATION)
    assert P.alternative_information(0.68) == pytest.approx(0.68 / 1.68 * (1 - 0.68 / 1.68))  # 0.2409
    assert P.alternative_information(0.5) == pytest.approx(P.alternative_information(2.0))  # symmetric in ln HR
    info = P.alternative_information(0.68)
    null = P.schoenfeld_events(0.68, 0.05, 0.8)
    alternative = P.schoenfeld_events(0.68, 0.05, 0.8, info)
    # (1.960 + 0.842)^2 / (0.2409 ln(0.68)^2) = 219.03, against Schoenfeld's 4 (1.960 + 0.842)^2 / ln(0.68)^2 = 211.08
    assert (null, alternative) == (212, 220)
    assert P.events_power(alternative, 0.68, 0.05, info) >= 0.8
    assert P.events_power(alternative - 1, 0.68, 0.05, info) < 0.8
