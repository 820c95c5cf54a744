"""The compiled forest reproduces XGBoost: margins of every output and approx (Saabas) contributions."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from features.model.forest import CompiledForest, UnsupportedBooster

N_FEATURES = 9


def _data(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES))
    x[rng.random(x.shape) < 0.2] = np.nan  # missing values must follow each split's default direction
    x[:, 3] = np.round(x[:, 3])  # ties with split thresholds: the float32 "<" decides
    y = np.nan_to_num(x[:, 0]) * 2 - np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 3]) + rng.normal(size=n)
    return x, y


def _train(params: dict[str, object], x: np.ndarray, label: np.ndarray, rounds: int = 40) -> xgb.Booster:
    return xgb.train({"nthread": 1, "seed": 0, **params}, xgb.DMatrix(x, label=label, missing=np.nan),
                     num_boost_round=rounds)


@pytest.fixture(scope="module")
def boosters() -> list[xgb.Booster]:
    x, y = _data(0)
    median = _train({"objective": "reg:quantileerror", "quantile_alpha": 0.5, "max_depth": 5}, x, y)
    tails = _train({"objective": "reg:quantileerror", "quantile_alpha": np.array([0.1, 0.9]), "max_depth": 3}, x, y)
    time = np.exp(y / 4 + 2)
    dm = xgb.DMatrix(x, missing=np.nan)
    dm.set_float_info("label_lower_bound", time)
    dm.set_float_info("label_upper_bound", np.where(np.arange(len(y)) % 3 == 0, np.inf, time))
    aft = xgb.train({"objective": "survival:aft", "aft_loss_distribution": "normal", "max_depth": 4, "nthread": 1,
                     "seed": 0}, dm, num_boost_round=30)
    return [median, tails, aft]


@pytest.mark.parametrize("n_rows", [1, 3, 16, 200])
def test_margins_and_contributions_equal_xgboost(boosters: list[xgb.Booster], n_rows: int) -> None:
    forest = CompiledForest.from_boosters(boosters, explain=0)
    x, _ = _data(1, n_rows)
    margins, contrib = forest.predict(x)
    dm = xgb.DMatrix(x, missing=np.nan)
    expected = np.column_stack([
        boosters[0].predict(dm, output_margin=True),
        boosters[1].predict(dm, output_margin=True).reshape(-1, 2),
        boosters[2].predict(dm, output_margin=True),
    ])
    assert margins.shape == (n_rows, 4)
    # XGBoost accumulates in float32; the tolerance is float32 round-off over 40 trees, not model error
    np.testing.assert_allclose(margins, expected, rtol=0, atol=1e-5)
    expected_contrib = boosters[0].predict(dm, pred_contribs=True, approx_contribs=True)
    assert contrib is not None
    np.testing.assert_allclose(contrib, expected_contrib, rtol=0, atol=1e-5)
    np.testing.assert_allclose(contrib.sum(axis=1), expected[:, 0], rtol=0, atol=1e-5)


def test_a_split_threshold_value_goes_right_and_missing_follows_the_default(boosters: list[xgb.Booster]) -> None:
    forest = CompiledForest.from_boosters(boosters[:1])
    # every split threshold of the median model, exactly, on every feature: "x < threshold" is false there
    root_features = forest.feature[forest.roots]
    x = np.full((len(forest.roots), N_FEATURES), np.nan)
    x[np.arange(len(x)), root_features] = forest.threshold[forest.roots]
    margins, contrib = forest.predict(x)
    assert contrib is None
    expected = boosters[0].predict(xgb.DMatrix(x, missing=np.nan), output_margin=True)
    np.testing.assert_allclose(margins[:, 0], expected, rtol=0, atol=1e-5)


def test_boosters_it_cannot_reproduce_are_refused() -> None:
    x, y = _data(2)
    dart = _train({"booster": "dart", "max_depth": 2}, x, y, rounds=5)
    with pytest.raises(UnsupportedBooster, match="'dart'; only gbtree is compiled"):
        CompiledForest.from_boosters([dart])
    tails = _train({"objective": "reg:quantileerror", "quantile_alpha": np.array([0.1, 0.9])}, x, y, rounds=5)
    with pytest.raises(UnsupportedBooster, match="single-output booster only"):
        CompiledForest.from_boosters([tails], explain=0)
