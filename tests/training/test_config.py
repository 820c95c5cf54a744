"""Training configuration rules: the tree budget, the learning-rate range, and the search space they define."""

from __future__ import annotations

import optuna
import pytest
from pydantic import ValidationError

from training.config import BoosterParams, TrainConfig, TuningConfig, load_config
from training.fit.progression import suggest


@pytest.mark.parametrize(("config", "message"), [
    ({"slope": {"params": {"n_estimators": 400}}},
     "slope.params.n_estimators (400) must be <= tuning.max_trees (250)"),
    ({"tuning": {"max_trees": 150}},
     "slope.params.n_estimators (250) must be <= tuning.max_trees (150)"),
    ({"tuning": {"learning_rate_range": [0.2, 0.1]}},
     "tuning.learning_rate_range must satisfy 0 < low < high <= 1, got 0.2, 0.1"),
    ({"tuning": {"learning_rate_range": [0.0, 0.1]}},
     "tuning.learning_rate_range must satisfy 0 < low < high <= 1, got 0.0, 0.1"),
])
def test_tree_budget_and_rate_range_are_enforced(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig.model_validate(config)


def test_shipped_default_config_caps_the_trees() -> None:
    cfg = load_config(None)
    assert cfg.tuning.max_trees == 250
    assert cfg.slope.params.n_estimators <= 250
    assert cfg.survival.params.n_estimators <= 250


@pytest.mark.parametrize("max_trees", [100, 230, 250, 600])
def test_search_space_never_exceeds_the_tree_budget(max_trees: int) -> None:
    cfg = TuningConfig(max_trees=max_trees, learning_rate_range=(0.02, 0.2))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(40):
        trial = study.ask()
        params = suggest(trial, BoosterParams(), cfg.max_trees, cfg.learning_rate_range)
        assert 0 < params.n_estimators <= max_trees
        assert 0.02 <= params.learning_rate <= 0.2
        study.tell(trial, 0.0)


@pytest.mark.parametrize(("value", "expected"), [(6, 6.0), ("gaussian", "gaussian"), (None, None)])
def test_subtype_refit_takes_degrees_of_freedom_gaussian_or_none(value: object, expected: object) -> None:
    cfg = TrainConfig.model_validate({"subtype": {"refine_t_dof": value}})
    assert cfg.subtype.refine_t_dof == expected
    assert TrainConfig.model_validate(cfg.model_dump(mode="json")).subtype.refine_t_dof == expected


@pytest.mark.parametrize("value", [0, -3, "gauss"])
def test_subtype_refit_rejects_other_values_naming_the_field(value: object) -> None:
    with pytest.raises(ValidationError, match=r"subtype\.refine_t_dof"):
        TrainConfig.model_validate({"subtype": {"refine_t_dof": value}})
