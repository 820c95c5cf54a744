"""Outcome extraction and cohort scoring: the training job's metric names from the one set of definitions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training.evaluation import metrics as E
from training.evaluation import scoring as SC
from training.evaluation.outcomes import Outcomes


def _cohort(rng: np.random.Generator, n: int = 120) -> pd.DataFrame:
    slope = rng.normal(-0.8, 0.4, n)
    slope[:10] = np.nan  # no slope outcome: excluded, never imputed
    time = rng.exponential(24.0, n)
    time[10:14] = 0.0  # no follow-up beyond day 0: excluded from survival
    event = pd.array(rng.random(n) < 0.6, dtype="boolean")
    event[14] = pd.NA  # a missing indicator counts as censored
    return pd.DataFrame({
        "patient_id": [f"p{i}" for i in range(n)],
        "alsfrs_r_slope_3_12": slope, "time_to_event_months": time, "event_observed": event,
        "sex": rng.choice(["female", "male"], n),
        "onset_site": pd.Series(rng.choice(["limb", "bulbar", ""], n)).replace("", None),
        "age_at_onset_years": rng.uniform(35, 80, n),
    })


def _predictions(rng: np.random.Generator, table: pd.DataFrame) -> SC.Predictions:
    n = len(table)
    p50 = np.nan_to_num(table["alsfrs_r_slope_3_12"].to_numpy(dtype=float), nan=-0.8) + rng.normal(0, 0.3, n)
    mu = np.log(np.maximum(table["time_to_event_months"].to_numpy(dtype=float), 0.5)) + rng.normal(0, 0.5, n)

    def survival_at(m: np.ndarray, months: object) -> np.ndarray:
        times = np.atleast_1d(np.asarray(months, dtype=float))
        return np.exp(-times[None, :] / np.exp(np.asarray(m))[:, None])

    return SC.Predictions(p10=p50 - 0.5, p50=p50, p90=p50 + 0.5, mu=mu, surv24=survival_at(mu, [24.0])[:, 0],
                          subtype=rng.integers(0, 3, n), subtype_names={0: "a", 1: "b", 2: "c"},
                          survival_at=survival_at)


def test_outcomes_decide_which_patients_count(rng: np.random.Generator) -> None:
    table = _cohort(rng)
    out = Outcomes.from_table(table)
    assert out.n == 120
    assert out.has_slope.sum() == 110
    assert not out.has_followup[10:14].any()
    assert out.event.dtype == bool
    assert not out.event[14]
    t, e = out.followup()
    assert len(t) == len(e) == int(out.has_followup.sum())
    assert (t > 0).all()
    assert out.counts() == {"n_patients": 120, "n_with_slope": 110, "n_with_followup": int(out.has_followup.sum()),
                            "n_events": int(e.sum())}
    assert set(out.groups) == {"sex", "onset_site", "age_band"}
    assert "missing" in set(out.groups["onset_site"])


def test_cohort_metrics_are_the_metric_definitions_under_training_names(rng: np.random.Generator) -> None:
    table = _cohort(rng)
    out, pred = Outcomes.from_table(table), _predictions(rng, table)
    m = SC.cohort_metrics(pred, out, subgroup_min_size=15)
    hy, ok = out.has_slope, out.has_followup
    direct = E.slope_metrics(out.slope[hy], pred.p50[hy], pred.p10[hy], pred.p90[hy])
    assert m["slope_rmse"] == direct["rmse"] == E.rmse(pred.p50[hy], out.slope[hy])
    assert m["slope_interval_coverage_80"] == direct["interval_coverage_80"]
    assert m["survival_cindex"] == E.cindex(out.time[ok], out.event[ok], -pred.mu[ok])
    assert set(SC.COHORT_METRICS) <= set(m)
    # Subgroups: value keys for groups of >= 15 patients with the outcome, size keys for every group.
    female = hy & (out.groups["sex"] == "female")
    assert m["slope_rmse_n.sex.female"] == female.sum()
    assert m["slope_rmse.sex.female"] == E.rmse(pred.p50[female], out.slope[female])
    sizes = SC.subgroup_sizes(m)
    assert sizes["survival_cindex.onset_site.missing"] == int((ok & (out.groups["onset_site"] == "missing")).sum())
    assert all(k.count(".") == 2 and "_n." not in k for k in sizes)


def test_cohort_metrics_on_a_resample_use_the_drawn_patients(rng: np.random.Generator) -> None:
    table = _cohort(rng)
    out, pred = Outcomes.from_table(table), _predictions(rng, table)
    idx = rng.integers(0, out.n, out.n)
    m = SC.cohort_metrics(pred, out, idx)
    hy = out.has_slope[idx]
    assert m["slope_rmse"] == pytest.approx(E.rmse(pred.p50[idx][hy], out.slope[idx][hy]), abs=1e-15)


def test_censoring_weighted_metrics_need_the_training_follow_up(rng: np.random.Generator) -> None:
    table = _cohort(rng)
    out, pred = Outcomes.from_table(table), _predictions(rng, table)
    assert not set(SC.IPCW_METRICS) & set(SC.cohort_metrics(pred, out))
    with_ipcw = SC.cohort_metrics(pred, out, train_followup=Outcomes.from_table(_cohort(rng, 300)).followup())
    assert set(SC.IPCW_METRICS) <= set(with_ipcw)
    assert 0.5 < with_ipcw["survival_cindex_uno"] <= 1.0
    assert 0.0 <= with_ipcw["survival_ibs"] < 0.25


def test_undefined_metrics_are_nan_not_errors(rng: np.random.Generator) -> None:
    table = _cohort(rng, 30)
    table["alsfrs_r_slope_3_12"] = np.nan
    table["event_observed"] = False
    m = SC.cohort_metrics(_predictions(rng, table), Outcomes.from_table(table))
    assert math.isnan(m["slope_rmse"])
    assert math.isnan(m["survival_cindex"])


def test_paired_cohort_metrics_share_the_draw(rng: np.random.Generator) -> None:
    table = _cohort(rng)
    out, pred = Outcomes.from_table(table), _predictions(rng, table)
    res = SC.paired_cohort_metrics(pred, pred, out, n_resamples=40, seed=1)
    diff = res.difference("slope_rmse")
    # The same model on both sides: zero difference on every shared resample.
    assert (diff.estimate, diff.ci_low, diff.ci_high) == (0.0, 0.0, 0.0)
    assert diff.n_valid == 40


def test_every_metric_gets_an_interval_wilson_for_coverages(rng: np.random.Generator) -> None:
    from training.evaluation.bootstrap import resample

    table = _cohort(rng, n=150)
    out, pred = Outcomes.from_table(table), _predictions(rng, table)
    tf = Outcomes.from_table(_cohort(rng, n=150)).followup()
    bounds = SC.metric_intervals(pred, out, n_resamples=60, seed=5, train_followup=tf)
    estimates = SC.cohort_metrics(pred, out, train_followup=tf)
    defined = {k for k, v in estimates.items() if math.isfinite(v)}
    assert {k.removesuffix("_ci_low") for k in bounds if k.endswith("_ci_low")} == defined
    assert {"survival_cindex_uno", "survival_ibs", "slope_rmse", "survival_calibration_slope_24m"} <= defined
    # Coverage: Wilson score interval of covered / patients with a slope outcome, from scipy.
    hy = out.has_slope
    covered = int(((pred.p10 <= out.slope) & (out.slope <= pred.p90))[hy].sum())
    wilson = E.wilson_interval(covered, int(hy.sum()))
    assert (bounds["slope_interval_coverage_80_ci_low"], bounds["slope_interval_coverage_80_ci_high"]) == wilson
    assert wilson[0] < estimates["slope_interval_coverage_80"] < wilson[1]
    # Everything else: the bootstrap engine's percentile interval on the same seed (one shared draw).
    boot = resample(lambda idx: SC.cohort_metrics(pred, out, idx, train_followup=tf), out.n, n_resamples=60, seed=5)
    rmse = boot.interval("slope_rmse")
    assert (bounds["slope_rmse_ci_low"], bounds["slope_rmse_ci_high"]) == (rmse.ci_low, rmse.ci_high)
    for key in defined:
        assert bounds[f"{key}_ci_low"] <= bounds[f"{key}_ci_high"], key


def test_wilson_interval_matches_statsmodels_and_refuses_bad_counts() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for k, n in ((0, 10), (7, 10), (80, 100), (10, 10)):
        assert E.wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-12)
    assert all(math.isnan(v) for v in E.wilson_interval(0, 0))
    with pytest.raises(ValueError, match=r"covered must be within \[0, n=10\], got 11"):
        E.wilson_interval(11, 10)


def test_events_per_predictor_warning_threshold() -> None:
    from training.evaluation import sample_size as SS

    assert SS.events_per_predictor(96, 32) == 3.0
    warning = SS.events_per_predictor_warning(96, 32)
    assert warning is not None
    assert warning.startswith("Warning: only 3.0 training events per predictor (96 events")
    assert SS.events_per_predictor_warning(319, 32) is not None  # 9.97 < 10
    assert SS.events_per_predictor_warning(320, 32) is None  # exactly 10
    assert SS.events_per_predictor_warning(0, 32) is None  # no survival outcome: nothing to overfit
    assert SS.subgroup_flag(29.0, min_evaluated=20) == "small: n = 29 < 30, interpret with caution"
    assert SS.subgroup_flag(30, min_evaluated=20) == "n >= 30"
    assert SS.subgroup_flag(19, min_evaluated=20) == "not evaluated: n = 19 < 20"
    assert SS.subgroup_flag(None, min_evaluated=20) == "size not recorded"
