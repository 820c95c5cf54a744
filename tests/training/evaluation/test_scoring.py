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
