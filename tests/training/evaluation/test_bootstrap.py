"""The bootstrap engine: scalar, paired (two models on one draw) and grouped resampling, seeded."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from training.evaluation import bootstrap as B
from training.evaluation import metrics as E


# ------------------------------------------------------------------------------------------------------------------
# Bootstrap
# ------------------------------------------------------------------------------------------------------------------
def test_paired_bootstrap_zero_metric() -> None:
    assert B.bootstrap_ci(lambda idx: 0.0, 30) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_constant_shift(rng: np.random.Generator) -> None:
    y = rng.normal(size=80)
    pred_a = y + rng.normal(size=80)
    pred_b = pred_a + 0.3

    def diff(idx: np.ndarray) -> float:
        return float(np.mean(pred_b[idx] - y[idx]) - np.mean(pred_a[idx] - y[idx]))

    est, lo, hi = B.bootstrap_ci(diff, 80, n_resamples=200)
    assert (est, lo, hi) == pytest.approx((0.3, 0.3, 0.3))


def test_bootstrap_ci_narrows_with_more_patients(rng: np.random.Generator) -> None:
    small, large = rng.normal(1.0, 1.0, size=50), rng.normal(1.0, 1.0, size=800)
    _, lo_s, hi_s = B.bootstrap_ci(lambda idx: float(small[idx].mean()), 50, n_resamples=400, seed=1)
    est, lo_l, hi_l = B.bootstrap_ci(lambda idx: float(large[idx].mean()), 800, n_resamples=400, seed=1)
    # The width shrinks like 1/sqrt(n): expected ratio 4; demand at least 2.5.
    assert (hi_s - lo_s) > 2.5 * (hi_l - lo_l)
    assert lo_l < est < hi_l
    assert lo_l < 1.0 < hi_l


def test_bootstrap_is_deterministic_for_a_seed(rng: np.random.Generator) -> None:
    v = rng.normal(size=60)

    def metric(idx: np.ndarray) -> float:
        return float(np.median(v[idx]))

    assert B.bootstrap_ci(metric, 60, seed=3) == B.bootstrap_ci(metric, 60, seed=3)
    assert B.bootstrap_ci(metric, 60, seed=3) != B.bootstrap_ci(metric, 60, seed=4)


def test_bootstrap_skips_and_counts_undefined_resamples(caplog: pytest.LogCaptureFixture) -> None:
    # Harrell's C with a single event: a resample without that event has no comparable pairs (NaN).
    time = np.arange(1.0, 11.0)
    event = np.zeros(10, dtype=bool)
    event[0] = True
    risk = -time
    with caplog.at_level(logging.WARNING, logger="training.evaluation.bootstrap"):
        res = B.interval(lambda idx: E.cindex(time[idx], event[idx], risk[idx]), 10, n_resamples=200, seed=0)
    assert res.estimate == 1.0
    assert res.n_skipped > 0
    assert res.n_valid + res.n_skipped == 200
    assert (res.ci_low, res.ci_high) == (1.0, 1.0)
    assert "resamples skipped" in caplog.text


def test_bootstrap_all_undefined_gives_nan_interval() -> None:
    est, lo, hi = B.bootstrap_ci(lambda idx: math.nan, 5, n_resamples=10)
    assert all(math.isnan(v) for v in (est, lo, hi))


def test_resample_feeds_every_metric_from_one_draw(rng: np.random.Generator) -> None:
    v = rng.normal(size=50)
    boot = B.resample(lambda idx: {"mean": float(v[idx].mean()), "twice": float(2 * v[idx].mean())}, 50,
                      n_resamples=100, seed=5)
    # Same positions for both metrics: the second is exactly twice the first on every resample.
    np.testing.assert_allclose(boot.samples["twice"], 2 * boot.samples["mean"], rtol=0, atol=1e-12)
    assert boot.estimates["mean"] == pytest.approx(float(v.mean()))
    # And the draws are those of the scalar form with the same seed.
    assert boot.interval("mean").as_tuple() == B.bootstrap_ci(lambda idx: float(v[idx].mean()), 50,
                                                              n_resamples=100, seed=5)


def test_zero_resamples_give_the_estimate_with_nan_bounds() -> None:
    res = B.interval(lambda idx: 1.5, 4, n_resamples=0)
    assert res.estimate == 1.5
    assert math.isnan(res.ci_low)
    assert math.isnan(res.ci_high)
    assert res.to_dict() == {"estimate": 1.5, "low": None, "high": None, "n_valid_resamples": 0}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": 1}, "n must be >= 2"), ({"n_resamples": -1}, "n_resamples must be >= 0"),
    ({"confidence": 1.0}, "confidence must be in"), ({"groups": [0, 1]}, "one label per row"),
])
def test_resample_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"n": 5, **kwargs}
    n = args.pop("n")
    with pytest.raises(ValueError, match=message):
        B.resample(lambda idx: 0.0, n, **args)  # type: ignore[arg-type]


def test_paired_difference_is_b_minus_a_on_shared_draws(rng: np.random.Generator) -> None:
    y = rng.normal(size=120)
    pred_a = y + rng.normal(scale=1.0, size=120)
    pred_b = y + rng.normal(scale=0.5, size=120)
    res = B.paired(lambda idx: {"rmse": E.rmse(pred_a[idx], y[idx])},
                   lambda idx: {"rmse": E.rmse(pred_b[idx], y[idx])}, 120, n_resamples=300, seed=2)
    diff = res.difference("rmse")
    assert diff.estimate == pytest.approx(E.rmse(pred_b, y) - E.rmse(pred_a, y))
    # B is clearly better: the whole paired interval is below 0.
    assert diff.ci_high < 0
    # The same difference bootstrapped as one scalar metric gives the same interval (same seed, same draws).
    scalar = B.interval(lambda idx: E.rmse(pred_b[idx], y[idx]) - E.rmse(pred_a[idx], y[idx]), 120,
                        n_resamples=300, seed=2)
    assert (diff.ci_low, diff.ci_high) == pytest.approx((scalar.ci_low, scalar.ci_high), abs=1e-12)
    # A loss of the metric: distance from 0.5; the interval is of loss(B) - loss(A).
    loss = res.loss_difference("rmse", lambda v: np.abs(v - 0.5))
    assert loss.estimate == pytest.approx(abs(E.rmse(pred_b, y) - 0.5) - abs(E.rmse(pred_a, y) - 0.5))


def test_grouped_resampling_draws_whole_groups() -> None:
    # Two groups of very different size: a resample is a union of whole groups, so its size is a sum of group sizes.
    groups = np.array([7] * 3 + [2] * 10)
    seen: list[int] = []

    def size(idx: np.ndarray) -> float:
        seen.append(len(idx))
        return float(len(idx))

    B.interval(size, 13, n_resamples=50, seed=0, groups=groups)
    assert set(seen[1:]) <= {6, 13, 20}
    assert len(set(seen[1:])) > 1
    assert seen[0] == 13  # the estimate uses every row once


def test_grouped_interval_ignores_the_order_within_groups(rng: np.random.Generator) -> None:
    pred = rng.normal(size=60)
    groups = np.repeat(np.arange(12), 5)
    shuffled = pred.copy()
    for g in range(12):
        rows = np.flatnonzero(groups == g)
        shuffled[rows] = rng.permutation(shuffled[rows])
    # Whole groups are drawn, so a statistic of per-group sums cannot see the order inside a group ...
    mean_a = B.bootstrap_ci(lambda i: float(pred[i].mean()), 60, n_resamples=200, seed=3, groups=groups)
    mean_b = B.bootstrap_ci(lambda i: float(shuffled[i].mean()), 60, n_resamples=200, seed=3, groups=groups)
    assert mean_a == pytest.approx(mean_b, abs=1e-12)
    # ... while resampling single rows can.
    row_a = B.bootstrap_ci(lambda i: float(pred[i].mean()), 60, n_resamples=200, seed=3)
    row_b = B.bootstrap_ci(lambda i: float(shuffled[i].mean()), 60, n_resamples=200, seed=3)
    assert row_a[1:] != pytest.approx(row_b[1:], abs=1e-6)
