"""Evaluation metrics, subgroup naming, bootstraps and plots: exact values on hand-made inputs, seeded otherwise."""

from __future__ import annotations

import logging
import math
import re
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from training.evaluation import metrics as E
from training.reports import plots as P

# MLflow's rule for metric names (mlflow.utils.validation, non-Windows) plus its path-uniqueness check.
MLFLOW_NAME = re.compile(r"^[/\w.\- :]*$")


def _mlflow_safe(name: str) -> bool:
    import posixpath

    return bool(MLFLOW_NAME.match(name)) and posixpath.normpath(name) == name and not name.startswith(("/", ".."))


def _exp_cohort(rng: np.random.Generator, n: int, *, censor_max: float = 40.0):
    """Exponential survival with a known log-hazard x (months); uniform censoring in [5, censor_max]."""
    x = rng.normal(size=n)
    rate = np.exp(x) / 20.0
    t_event = rng.exponential(1.0 / rate)
    t_cens = rng.uniform(5.0, censor_max, size=n)
    return x, rate, np.minimum(t_event, t_cens), t_event <= t_cens


# ------------------------------------------------------------------------------------------------------------------
# Slope
# ------------------------------------------------------------------------------------------------------------------
def test_slope_metrics_exact_values() -> None:
    y = np.array([-2.0, -1.0, 0.0, 1.0])
    p50 = np.array([-1.5, -1.0, -0.5, 0.0])  # = 0.5 * y - 0.5, so y = 2 * p50 + 1 exactly
    m = E.slope_metrics(y, p50, p50 - 0.5, p50 + 0.5)
    assert m["n"] == 4
    assert m["rmse"] == pytest.approx(math.sqrt(0.375))
    assert m["mae"] == pytest.approx(0.5)
    assert m["pearson_r"] == pytest.approx(1.0)
    assert m["interval_coverage_80"] == pytest.approx(0.75)  # bounds inclusive: -2 in [-2, -1]; 1 not in [-0.5, 0.5]
    assert m["interval_width_80"] == pytest.approx(1.0)
    assert m["interval_crossing_share"] == 0.0
    assert m["calibration_slope"] == pytest.approx(2.0)
    assert m["calibration_intercept"] == pytest.approx(1.0)


def test_slope_metrics_perfect_prediction() -> None:
    y = np.array([-1.0, -0.5, 0.0])
    m = E.slope_metrics(y, y, y - 1, y + 1)
    assert (m["rmse"], m["mae"], m["interval_coverage_80"]) == (0.0, 0.0, 1.0)
    assert m["calibration_slope"] == pytest.approx(1.0)
    assert m["calibration_intercept"] == pytest.approx(0.0, abs=1e-12)


def test_point_metrics_exact_values() -> None:
    pred, obs = np.array([0.0, 1.0, 2.0, 5.0]), np.array([0.0, 3.0, 2.0, 1.0])
    assert E.rmse(pred, obs) == pytest.approx(math.sqrt((0 + 4 + 0 + 16) / 4))
    assert E.mae(pred, obs) == pytest.approx((0 + 2 + 0 + 4) / 4)
    assert E.pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert E.pearson([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert math.isnan(E.rmse([], []))
    with pytest.raises(ValueError, match="same length"):
        E.rmse([1.0], [1.0, 2.0])


def test_pearson_of_a_constant_is_undefined_even_with_round_off() -> None:
    # 0.1 * 3 summed three ways: the mean of this "constant" differs from its values by round-off.
    assert math.isnan(E.pearson(np.full(7, 0.1 + 0.2), np.arange(7.0)))
    assert math.isnan(E.pearson(np.arange(3.0), np.full(3, -0.7)))


def test_interval_coverage_sorts_crossed_bounds() -> None:
    coverage, width = E.interval_coverage([0.0, 1.0, 5.0], [-1.0, 2.0, 0.0], [1.0, 0.0, 1.0])
    assert coverage == pytest.approx(2 / 3)  # 0 in [-1, 1]; 1 in the crossed [0, 2]; 5 not in [0, 1]
    assert width == pytest.approx((2 + 2 + 1) / 3)


def test_slope_metrics_constant_prediction_has_undefined_correlation_and_calibration() -> None:
    m = E.slope_metrics([-1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])
    assert math.isnan(m["pearson_r"])
    assert math.isnan(m["calibration_slope"])
    assert math.isnan(m["calibration_intercept"])


def test_slope_metrics_crossed_interval_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="training.evaluation.metrics"):
        m = E.slope_metrics([0.0, 0.0], [0.0, 0.0], [1.0, -1.0], [-1.0, 1.0])
    assert m["interval_crossing_share"] == 0.5
    assert m["interval_coverage_80"] == 1.0
    assert "quantile crossing" in caplog.text


@pytest.mark.parametrize("bad", ["y_true", "p50", "p10", "p90"])
def test_slope_metrics_rejects_nan_naming_the_argument(bad: str) -> None:
    args = {name: np.array([-1.0, 0.0, 1.0]) for name in ("y_true", "p50", "p10", "p90")}
    args[bad][1] = np.nan
    with pytest.raises(ValueError, match=rf"^{bad} contains 1 NaN value\(s\) \(first at position 1\)"):
        E.slope_metrics(**args)


def test_slope_metrics_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="same length"):
        E.slope_metrics([0.0, 1.0], [0.0, 1.0], [0.0], [0.0, 1.0])


def test_linear_calibration_weighted() -> None:
    # The zero-weight point is ignored: the remaining points lie on y = 3x - 1.
    assert E.linear_calibration([0.0, 1.0, 2.0, 5.0], [-1.0, 2.0, 5.0, 0.0], weights=[1, 1, 1, 0]) == pytest.approx(
        (3.0, -1.0))


# ------------------------------------------------------------------------------------------------------------------
# C-index and Kaplan–Meier
# ------------------------------------------------------------------------------------------------------------------
def test_cindex_equals_sksurv_on_ties_and_duplicated_patients(rng: np.random.Generator) -> None:
    # Moved from the audit tests: the vectorised C-index keeps exactly sksurv's pair rules.
    from sksurv.metrics import concordance_index_censored

    for trial in range(60):
        n = int(rng.integers(2, 80))
        # Rounded times and risks create ties in time and in risk; resampling creates duplicated patients.
        t = np.round(rng.exponential(10, n), 0) + 0.5
        e = rng.random(n) < 0.6
        r = np.round(rng.normal(size=n), 1 if trial % 2 else 6)
        idx = rng.integers(0, n, n)
        try:
            want = float(concordance_index_censored(e[idx], t[idx], r[idx])[0])
        except ValueError:  # no events or no comparable pairs
            want = math.nan
        got = E.cindex(t[idx], e[idx], r[idx])
        assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, abs=1e-12)


def test_harrell_cindex_hand_checked() -> None:
    time = [1.0, 2.0, 3.0, 4.0]
    event = [True, True, False, True]
    # Comparable pairs (earlier time has the event): (1,2) (1,3) (1,4) (2,3) (2,4); subject 3 is censored.
    # Risks 0.9, 0.5, 0.7, 0.1: all concordant except (2,3) -> 4/5.
    assert E.cindex(time, event, [0.9, 0.5, 0.7, 0.1]) == pytest.approx(0.8)
    # A tie in risk on (2,3) counts one half -> 4.5/5.
    assert E.cindex(time, event, [0.9, 0.7, 0.7, 0.1]) == pytest.approx(0.9)


def test_cindex_perfect_and_reversed(rng: np.random.Generator) -> None:
    time = rng.uniform(1, 30, size=50)
    event = rng.random(50) < 0.7
    assert E.cindex(time, event, -time) == 1.0
    assert E.cindex(time, event, time) == 0.0


def test_cindex_undefined_is_nan() -> None:
    assert math.isnan(E.cindex([1.0, 2.0, 3.0], [False, False, False], [1.0, 2.0, 3.0]))  # no events
    assert math.isnan(E.cindex([1.0], [True], [1.0]))  # one patient


def test_cindex_accepts_zero_one_events_and_rejects_other_codes() -> None:
    assert E.cindex([1.0, 2.0], [1, 0], [2.0, 1.0]) == 1.0
    with pytest.raises(ValueError, match="event must be boolean or 0/1, got 2$"):
        E.cindex([1.0, 2.0], [2, 0], [2.0, 1.0])


def test_kaplan_meier_median_known_examples() -> None:
    # No censoring: S = 0.8, 0.6, 0.4 ... -> first time at or below 0.5 is 3.
    assert E.kaplan_meier_median([1, 2, 3, 4, 5], [1, 1, 1, 1, 1]) == 3.0
    # S(1) = 5/6, censored at 2, S(3) = 5/6 * 3/4 = 0.625, S(4) = 0.625 * 2/3 = 0.417 -> 4.
    assert E.kaplan_meier_median([1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]) == 4.0
    # Exactly 0.5 counts as reached (S(2) = 0.5 with 4 patients, 2 events by 2).
    assert E.kaplan_meier_median([1, 2, 3, 4], [1, 1, 0, 0]) == 2.0
    # Never at or below 0.5: "not reached" is +inf.
    assert E.kaplan_meier_median([1, 2, 3], [1, 0, 0]) == math.inf


def test_km_at_values_and_beyond_follow_up() -> None:
    time, event = [1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]
    s, lo, hi = E.km_at(time, event, 3.5)
    assert s == pytest.approx(0.625)
    assert lo < s < hi
    assert E.km_at(time, event, 0.5) == (1.0, 1.0, 1.0)
    assert all(math.isnan(v) for v in E.km_at([1, 2, 3], [1, 0, 0], 10.0))


# ------------------------------------------------------------------------------------------------------------------
# Survival metrics
# ------------------------------------------------------------------------------------------------------------------
def test_survival_metrics_true_model_beats_uninformative_model(rng: np.random.Generator) -> None:
    x, rate, time, event = _exp_cohort(rng, 600)
    tr, te = slice(0, 300), slice(300, None)

    def truth(times: np.ndarray) -> np.ndarray:
        return np.exp(-np.outer(rate[te], times))

    def flat(times: np.ndarray) -> np.ndarray:
        return np.exp(-np.outer(np.full(300, rate.mean()), times))

    good = E.survival_metrics(time[tr], event[tr], time[te], event[te], x[te], truth)
    null = E.survival_metrics(time[tr], event[tr], time[te], event[te], np.zeros(300), flat)
    assert set(good) == {"cindex", "cindex_uno", "cindex_uno_tau_months", "ibs", "ibs_time_min_months",
                         "ibs_time_max_months", "auc_12m", "auc_24m"}
    assert 0.65 < good["cindex"] < 0.85
    assert abs(good["cindex_uno"] - good["cindex"]) < 0.05
    assert good["auc_12m"] > 0.65
    assert good["auc_24m"] > 0.65
    assert good["ibs"] < null["ibs"]
    assert null["cindex"] == 0.5
    assert null["auc_12m"] == pytest.approx(0.5)
    # tau is the 90th percentile of training follow-up and the Brier grid stays strictly inside the test follow-up.
    assert good["cindex_uno_tau_months"] == pytest.approx(np.quantile(time[tr], 0.9))
    assert time[te].min() <= good["ibs_time_min_months"] < good["ibs_time_max_months"] < good["cindex_uno_tau_months"]


def test_survival_metrics_auc_outside_follow_up_is_nan_with_warning(rng: np.random.Generator,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    x, rate, time, event = _exp_cohort(rng, 300, censor_max=15.0)  # follow-up ends at 15 months

    def surv(times: np.ndarray) -> np.ndarray:
        return np.exp(-np.outer(rate[150:], times))

    with caplog.at_level(logging.WARNING, logger="training.evaluation.metrics"):
        m = E.survival_metrics(time[:150], event[:150], time[150:], event[150:], x[150:], surv)
    assert math.isfinite(m["auc_12m"])
    assert math.isnan(m["auc_24m"])
    assert "auc_24m undefined" in caplog.text


def test_survival_metrics_test_follow_up_longer_than_training(rng: np.random.Generator) -> None:
    # Test times beyond the training follow-up would make sksurv's IPCW raise; they are censored at tau instead.
    x, rate, time, event = _exp_cohort(rng, 400)
    tr = time[:200] < 20
    m = E.survival_metrics(time[:200][tr], event[:200][tr], time[200:], event[200:], x[200:],
                           lambda t: np.exp(-np.outer(rate[200:], t)))
    assert all(math.isfinite(m[k]) for k in ("cindex", "cindex_uno", "ibs", "auc_12m"))
    assert math.isnan(m["auc_24m"])


def test_survival_metrics_validates_inputs(rng: np.random.Generator) -> None:
    x, rate, time, event = _exp_cohort(rng, 100)
    args = (time[:50], event[:50], time[50:], event[50:], x[50:])
    with pytest.raises(ValueError, match="survival_at"):
        E.survival_metrics(*args, lambda t: np.ones((3, len(t))))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        E.survival_metrics(*args, lambda t: np.full((50, len(t)), 1.5))
    bad_time = time[50:].copy()
    bad_time[3] = np.nan
    with pytest.raises(ValueError, match="^test_time contains 1 NaN"):
        E.survival_metrics(time[:50], event[:50], bad_time, event[50:], x[50:], lambda t: np.ones((50, len(t))))
    with pytest.raises(ValueError, match="^risk contains"):
        E.survival_metrics(*args[:4], np.full(50, np.nan), lambda t: np.ones((50, len(t))))


def test_survival_calibration_groups_and_km() -> None:
    pred = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    time = np.array([10.0, 12.0, 3.0, 14.0, 2.0, 5.0])
    event = np.array([False, False, True, False, True, True])
    table = E.survival_calibration(pred, time, event, 6.0, n_groups=3)
    assert table["group"].tolist() == [1, 2, 3]
    assert table["n"].tolist() == [2, 2, 2]
    assert table["pred_surv"].tolist() == pytest.approx([0.85, 0.65, 0.45])
    assert table["n_events"].tolist() == [0, 1, 2]
    assert table["obs_surv"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    slope, intercept = E.calibration_slope_intercept(table)
    assert slope == pytest.approx(2.5)  # points (0.85, 1), (0.65, 0.5), (0.45, 0) lie on y = 2.5 x - 1.125
    assert intercept == pytest.approx(-1.125)


def test_survival_calibration_skips_groups_without_follow_up_at_t() -> None:
    table = pd.DataFrame({"pred_surv": [0.9, 0.5, 0.2], "obs_surv": [0.8, np.nan, 0.3], "n": [10, 10, 10]})
    slope, intercept = E.calibration_slope_intercept(table)
    assert slope == pytest.approx(0.5 / 0.7)
    summary = E.survival_calibration_summary(table)
    assert summary["n_groups_used"] == 2
    assert summary["mean_abs_diff"] == pytest.approx(0.1)


# ------------------------------------------------------------------------------------------------------------------
# Subgroups
# ------------------------------------------------------------------------------------------------------------------
def test_age_band_boundaries() -> None:
    assert E.age_band([18, 49.99, 50, 64.99, 65, 90, np.nan]).tolist() == [
        "<50", "<50", "50-64", "50-64", ">=65", ">=65", "missing"]


def test_subgroups_labels_and_missing() -> None:
    frame = pd.DataFrame({
        "sex": pd.Categorical(["female", None, "male"], categories=["female", "male"]),
        "onset_site": ["bulbar", "limb", None],
        "age_at_onset_years": [45.0, None, 70.0],
    }, index=[10, 11, 12])
    groups = E.subgroups(frame)
    assert list(groups) == ["sex", "onset_site", "age_band"]
    assert groups["sex"].tolist() == ["female", "missing", "male"]
    assert groups["onset_site"].tolist() == ["bulbar", "limb", "missing"]
    assert groups["age_band"].tolist() == ["<50", "missing", ">=65"]
    assert all(s.index.tolist() == [10, 11, 12] for s in groups.values())


def test_subgroups_names_absent_columns() -> None:
    with pytest.raises(ValueError, match=r"\['onset_site', 'age_at_onset_years'\]"):
        E.subgroups(pd.DataFrame({"sex": ["male"]}))


def test_subgroup_metrics_naming_and_min_size() -> None:
    y = np.arange(50.0)
    ages = np.r_[np.full(25, 40.0), np.full(20, 70.0), np.full(5, np.nan)]
    groups = {"age_band": pd.Series(E.age_band(ages)), "sex": pd.Series(["male"] * 30 + ["female"] * 20)}
    metrics, skipped = E.subgroup_metrics(groups, {"test_mean": lambda idx: float(y[idx].mean())}, min_size=20)
    assert metrics == {
        "test_mean_n.age_band.lt50": 25.0, "test_mean.age_band.lt50": 12.0,
        "test_mean_n.age_band.ge65": 20.0, "test_mean.age_band.ge65": 34.5,
        "test_mean_n.age_band.missing": 5.0,
        "test_mean_n.sex.female": 20.0, "test_mean.sex.female": 39.5,
        "test_mean_n.sex.male": 30.0, "test_mean.sex.male": 14.5,
    }
    assert skipped == ["age_band.missing"]
    assert all(_mlflow_safe(k) and "=" not in k for k in metrics)


def test_subgroup_metrics_positions_not_index() -> None:
    labels = pd.Series(["a", "b", "a"], index=[7, 3, 5])  # index is ignored; positions 0 and 2 are "a"
    seen: list[list[int]] = []

    def record(idx: np.ndarray) -> float:
        seen.append(idx.tolist())
        return 0.0

    E.subgroup_metrics({"g": labels}, {"m": record}, min_size=1)
    assert seen == [[0, 2], [1]]


@pytest.mark.parametrize(("label", "safe"), [("<50", "lt50"), ("50-64", "50-64"), (">=65", "ge65"), ("<=3", "le3"),
                                             ("a/b", "a_b"), ("x.y", "x_y"), ("k=v", "k_v"), ("", "_")])
def test_metric_label(label: str, safe: str) -> None:
    assert E.metric_label(label) == safe


def test_subgroup_metrics_rejects_unsafe_names_and_collisions() -> None:
    g = pd.Series(["a"] * 3)
    with pytest.raises(ValueError, match="metric name 'rmse=x'"):
        E.subgroup_metrics({"sex": g}, {"rmse=x": lambda idx: 0.0})
    with pytest.raises(ValueError, match="factor name 'se x'"):
        E.subgroup_metrics({"se x": g}, {"rmse": lambda idx: 0.0})
    with pytest.raises(ValueError, match="collide"):
        E.subgroup_metrics({"site": pd.Series(["a b", "a_b"])}, {"rmse": lambda idx: 0.0})
    with pytest.raises(ValueError, match="same length"):
        E.subgroup_metrics({"a": g, "b": pd.Series(["x"])}, {"rmse": lambda idx: 0.0})


# ------------------------------------------------------------------------------------------------------------------
# Plots
# ------------------------------------------------------------------------------------------------------------------
def test_slope_calibration_plot(rng: np.random.Generator) -> None:
    pred = rng.normal(-1, 0.5, size=40)
    fig = P.slope_calibration_plot(pred, pred + rng.normal(0, 0.2, size=40))
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert len(ax.lines) == 2  # identity + calibration line
    assert "points/month" in ax.get_xlabel()
    assert "points/month" in ax.get_ylabel()
    assert P.figure_png(fig).startswith(b"\x89PNG")


def test_survival_calibration_plot() -> None:
    table = E.survival_calibration(np.linspace(0.9, 0.2, 20), np.arange(1.0, 21.0), np.arange(20) % 2 == 0, 6.0,
                                   n_groups=4)
    fig = P.survival_calibration_plot(table, 6.0)
    (ax,) = fig.axes
    identity, points = ax.lines[:2]  # then the error-bar caps
    assert np.asarray(identity.get_xdata()).tolist() == [0, 1]
    assert np.asarray(points.get_xdata()).size == 4  # one point per risk group
    assert "6 months" in ax.get_xlabel()


def test_km_plot_has_bands_numbers_at_risk_and_a_legend_outside(rng: np.random.Generator) -> None:
    time = rng.uniform(1, 30, size=60)
    event = rng.random(60) < 0.6
    groups = pd.Series(["a"] * 20 + ["b"] * 20 + [None] * 20)
    fig = P.km_plot(time, event, groups, "by group", time_origin="months from the scoring visit (day 0)")
    ax, at_risk = fig.axes
    steps = [line for line in ax.lines if line.get_linestyle() != "None"]
    assert len(steps) == 3, "one survival curve per group"
    assert len(ax.collections) == 3, "one shaded 95 % confidence band per group"
    legend_box = ax.get_legend()
    assert legend_box is not None
    legend = [t.get_text() for t in legend_box.get_texts()]
    assert legend[0].startswith("a (n=20, events=")
    assert legend[2].startswith("missing (n=20, events=")
    assert ax.get_xlabel() == "Time (months from the scoring visit (day 0))"
    # The legend lies entirely to the right of the data area, so it covers no curve.
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    assert legend_box.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
    # Numbers at risk under the axis: at time 0 every patient of a group is at risk.
    assert [t.get_text() for t in at_risk.get_yticklabels()] == ["a", "b", "missing"]
    at_zero = sorted((t.get_position()[1], t.get_text()) for t in at_risk.texts if t.get_position()[0] == 0)
    assert [text for _, text in at_zero] == ["20", "20", "20"]
    later = [t for t in at_risk.texts if t.get_position()[0] > 0 and t.get_position()[1] == 0]
    tick = later[0].get_position()[0]
    assert later[0].get_text() == str(int((time[:20] >= tick).sum()))


def test_subtype_profile_plot() -> None:
    profile = pd.DataFrame({"nfl_serum_pg_ml": [20.0, 60.0, 35.0], "km_median_months": [40.0, 18.0, math.inf],
                            "constant": [1.0, 1.0, 1.0]}, index=["slow", "fast", "intermediate"])
    fig = P.subtype_profile_plot(profile, units={"nfl_serum_pg_ml": "pg/mL"})
    heat, colourbar = fig.axes
    assert [t.get_text() for t in heat.get_xticklabels()] == ["slow", "fast", "intermediate"]
    assert heat.get_yticklabels()[0].get_text() == "nfl_serum_pg_ml (pg/mL)"
    assert "not reached" in [t.get_text() for t in heat.texts]
    assert "SD units" in colourbar.get_ylabel()


def test_subtype_profile_plot_stays_within_a_page_width() -> None:
    wide = pd.DataFrame(np.ones((6, 20)), index=[f"subtype {i}" for i in range(6)],
                        columns=[f"feature_{j}" for j in range(20)])
    width, height = P.subtype_profile_plot(wide).get_size_inches()
    assert width <= 9.5
    assert height >= 0.36 * 20


def test_importance_plot_top_n() -> None:
    fig = P.importance_plot(["a", "b", "c", "d", "e"], [0.1, 0.5, 0.3, 0.05, 0.2], top=3, unit="points/month")
    (ax,) = fig.axes
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["e", "c", "b"]  # largest at the top
    assert ax.get_xlabel() == "Mean |contribution| (points/month)"


def test_plots_never_use_pyplot(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    # A None entry in sys.modules makes "import matplotlib.pyplot" fail: every plot must work without pyplot's
    # global figure registry and backend switching.
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    time = rng.uniform(1, 30, size=40)
    event = rng.random(40) < 0.6
    table = E.survival_calibration(np.linspace(0.9, 0.2, 40), time, event, 6.0)
    figures = [P.slope_calibration_plot(time, time), P.survival_calibration_plot(table, 6.0),
               P.km_plot(time, event, pd.Series(["a", "b"] * 20), "t"),
               P.subtype_profile_plot(pd.DataFrame({"x": [1.0, 2.0]}, index=["s1", "s2"])),
               P.importance_plot(["a"], [1.0])]
    assert all(P.figure_png(f).startswith(b"\x89PNG") for f in figures)
