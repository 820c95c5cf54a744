"""Scoring a fitted stratifier on a cohort table: the one path from a model and patients to named test metrics.

The training job logs the metrics :func:`score_model` returns for its held-out patients; the promotion gate, run
comparison and rescoring call the same function (or :func:`cohort_metrics`, its per-resample core). Rescoring a
run's model on its own held-out patients therefore reproduces its logged test metrics by construction.

Metric names (:func:`cohort_metrics`) are the training job's test metric names without the ``test_`` prefix:
``slope_rmse`` (points/month), ``survival_cindex`` (Harrell), ``slope_interval_coverage_80`` (share),
``survival_calibration_slope_24m`` ...; subgroup metrics read ``<metric>.<factor>.<label>`` (e.g.
``slope_rmse.sex.male``) with their sizes under ``<metric>_n.<factor>.<label>``
(:func:`training.evaluation.metrics.subgroup_metrics`). :func:`score_model` adds the prefix (``test_slope_rmse``,
``test_slope_rmse.sex.female``).

Everything returned here is an aggregate (a metric, a bin mean, a count); no patient-level value leaves this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import spec as S
from training.evaluation import metrics as M
from training.evaluation.bootstrap import Paired, json_float, paired, quiet
from training.evaluation.outcomes import Outcomes

if TYPE_CHECKING:
    from features.model.bundle import StratifierModel

CALIBRATION_MONTHS = 24.0
"""Time (months) of the survival calibration."""

SLOPE_METRICS = ("slope_rmse", "slope_mae", "slope_pearson_r", "slope_interval_coverage_80",
                 "slope_interval_width_80", "slope_calibration_slope", "slope_calibration_intercept")
SURVIVAL_METRICS = ("survival_cindex", "survival_calibration_slope_24m", "survival_calibration_intercept_24m")
IPCW_METRICS = ("survival_cindex_uno", "survival_ibs", "survival_auc_12m", "survival_auc_24m")
"""Survival metrics that need the model's own training follow-up (censoring weights), so only on a run's own split."""
TRUTH_METRICS = ("subtype_ari_truth",)
SUBGROUP_BASE_METRICS = ("slope_rmse", "survival_cindex")
COHORT_METRICS: tuple[str, ...] = SLOPE_METRICS + SURVIVAL_METRICS
"""Metrics defined on any cohort with outcomes (the ones the promotion gate can use)."""

LOWER_IS_BETTER = frozenset({"slope_rmse", "slope_mae", "slope_interval_width_80", "survival_ibs"})

TEST_PREFIX = "test_"
"""Prefix of the training job's metrics on its held-out patients."""


# ----------------------------------------------------------------------------------------------------------------
# Predictions
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Predictions:
    """A model's predictions for every patient of a cohort.

    ``p10``/``p50``/``p90``: slope quantiles (points/month); ``mu``: AFT location (log months; risk = -mu);
    ``surv24``: survival probability at 24 months; ``subtype``: chosen subtype label; ``survival_at(mu, months)``
    the model's survival curve.
    """

    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    mu: np.ndarray
    surv24: np.ndarray
    subtype: np.ndarray
    subtype_names: dict[int, str]
    survival_at: Callable[[np.ndarray, Any], np.ndarray] = field(repr=False)


def predict_cohort(model: StratifierModel, table: pd.DataFrame) -> Predictions:
    """Score every row of a cohort table with the model's own feature transformer.

    Parameters
    ----------
    model : StratifierModel
        The fitted bundle.
    table : DataFrame
        Cohort rows with every baseline field of the spec.

    Returns
    -------
    Predictions
    """
    z = model.features.transform(table[list(S.BASELINE_NAMES)])
    arrays = model.predict_arrays(z)
    mu = np.asarray(arrays["mu"], dtype=float)
    survival_at = model.survival.survival_at if model.survival is not None else _no_survival
    return Predictions(p10=np.asarray(arrays["p10"], dtype=float), p50=np.asarray(arrays["p50"], dtype=float),
                       p90=np.asarray(arrays["p90"], dtype=float), mu=mu,
                       surv24=survival_at(mu, [CALIBRATION_MONTHS])[:, 0],
                       subtype=np.asarray(arrays["chosen"]).astype(int),
                       subtype_names={s.label: s.name for s in model.subtype.subtypes},
                       survival_at=survival_at)


def _no_survival(mu: np.ndarray, months: Any) -> np.ndarray:
    """The survival curve of a model trained without survival outcomes: undefined (NaN) everywhere."""
    return np.full((len(mu), len(np.atleast_1d(months))), np.nan)


# ----------------------------------------------------------------------------------------------------------------
# Metrics on a (resampled) cohort
# ----------------------------------------------------------------------------------------------------------------
def _safe(fn: Callable[[], dict[str, float]], keys: Sequence[str]) -> dict[str, float]:
    try:
        return fn()
    except ValueError:  # e.g. too few patients with events in a resample: the metric is undefined there
        return dict.fromkeys(keys, math.nan)


def _slope(y: np.ndarray, p10: np.ndarray, p50: np.ndarray, p90: np.ndarray) -> dict[str, float]:
    sm = M.slope_metrics(y, p50, p10, p90)
    return {"slope_rmse": sm["rmse"], "slope_mae": sm["mae"], "slope_pearson_r": sm["pearson_r"],
            "slope_interval_coverage_80": sm["interval_coverage_80"],
            "slope_interval_width_80": sm["interval_width_80"],
            "slope_calibration_slope": sm["calibration_slope"],
            "slope_calibration_intercept": sm["calibration_intercept"]}


def _calibration(surv24: np.ndarray, time: np.ndarray, event: np.ndarray) -> dict[str, float]:
    cs, ci = M.calibration_slope_intercept(M.survival_calibration(surv24, time, event, CALIBRATION_MONTHS))
    return {"survival_calibration_slope_24m": cs, "survival_calibration_intercept_24m": ci}


def _subgroups(groups: Mapping[str, np.ndarray], rows: np.ndarray, name: str, fn: Callable[[np.ndarray], float],
               min_size: int) -> dict[str, float]:
    series = {k: pd.Series(v[rows]) for k, v in groups.items()}
    return M.subgroup_metrics(series, {name: fn}, min_size=min_size)[0]


def conditional_coverage(y: np.ndarray, p10: np.ndarray, p50: np.ndarray, p90: np.ndarray,
                         onset_site: np.ndarray) -> dict[str, float]:
    """80 % interval coverage where it matters, not only on average: by onset site and by predicted-rate tertile.

    Parameters
    ----------
    y, p10, p50, p90 : ndarray
        Observed slope and the interval and point (points/month), patients with a slope outcome only.
    onset_site : ndarray of str
        Onset site per patient.

    Returns
    -------
    dict
        ``slope_interval_coverage_80_bulbar`` / ``_limb`` and ``slope_interval_coverage_80_pred_tertile_1..3``
        (1 = fastest predicted decline), each the share of patients whose observed slope lies in [p10, p90]; NaN
        for a group with fewer than 5 patients.
    """
    return {name: k / n if n else math.nan
            for name, (k, n) in coverage_counts(y, p10, p50, p90, onset_site, overall=False).items()}


def coverage_counts(y: np.ndarray, p10: np.ndarray, p50: np.ndarray, p90: np.ndarray, onset_site: np.ndarray, *,
                    overall: bool = True) -> dict[str, tuple[int, int]]:
    """Patients covered by the 80 % interval and patients counted, per coverage metric (the binomial counts).

    Parameters
    ----------
    y, p10, p50, p90, onset_site
        As in :func:`conditional_coverage`.
    overall : bool, default True
        Include ``slope_interval_coverage_80`` (all patients).

    Returns
    -------
    dict
        Coverage metric name → ``(covered, n)`` (counts); a group with too few patients for its metric
        (:func:`conditional_coverage`) has ``n = 0``.
    """
    covered = (p10 <= y) & (y <= p90)
    out: dict[str, tuple[int, int]] = {}
    if overall:
        out["slope_interval_coverage_80"] = (int(covered.sum()), len(y))
    for site in ("bulbar", "limb"):
        sel = onset_site == site
        n = int(sel.sum())
        out[f"slope_interval_coverage_80_{site}"] = (int(covered[sel].sum()), n) if n >= 5 else (0, 0)
    if len(y) >= 15:
        # Tertiles of the predicted slope: the most negative third (fastest predicted decline) is tertile 1.
        cuts = np.quantile(p50, [1 / 3, 2 / 3])
        tertile = np.searchsorted(cuts, p50, side="right") + 1
        for k in (1, 2, 3):
            sel = tertile == k
            out[f"slope_interval_coverage_80_pred_tertile_{k}"] = (int(covered[sel].sum()), int(sel.sum()))
    return out


def cohort_metrics(pred: Predictions, out: Outcomes, idx: np.ndarray | None = None, *,
                   train_followup: tuple[np.ndarray, np.ndarray] | None = None,
                   subgroup_min_size: int | None = None) -> dict[str, float]:
    """Test metrics of one model on the patients at positions ``idx`` (default: all).

    Parameters
    ----------
    pred, out : Predictions, Outcomes
        The model's predictions and the observed outcomes of the same cohort.
    idx : ndarray of int, optional
        Positions to evaluate (with repeats for a bootstrap resample).
    train_followup : (time, event), optional
        The model's training follow-up (months, bool) among patients with follow-up; when given, the
        censoring-weighted metrics (:data:`IPCW_METRICS`) are added.
    subgroup_min_size : int, optional
        When given, ``slope_rmse`` and ``survival_cindex`` by sex, onset site and age band for subgroups of at
        least this many patients (counted among those with the outcome), with every subgroup's size.

    Returns
    -------
    dict
        Metric name → value (NaN when undefined, e.g. no events). With planted truth, ``subtype_ari_truth``.
    """
    sel = np.arange(out.n) if idx is None else np.asarray(idx)
    y, hy = out.slope[sel], out.has_slope[sel]
    p10, p50, p90 = pred.p10[sel], pred.p50[sel], pred.p90[sel]
    t, e, ok, mu = out.time[sel], out.event[sel], out.has_followup[sel], pred.mu[sel]
    m: dict[str, float] = dict.fromkeys(SLOPE_METRICS + SURVIVAL_METRICS, math.nan)
    if hy.sum() >= 2:
        m.update(_safe(lambda: _slope(y[hy], p10[hy], p50[hy], p90[hy]), SLOPE_METRICS))
        m.update(conditional_coverage(y[hy], p10[hy], p50[hy], p90[hy], out.groups["onset_site"][sel][hy]))
    tt, ee, mm = t[ok], e[ok], mu[ok]
    if ok.sum() >= 2:
        m["survival_cindex"] = M.cindex(tt, ee, -mm)
        if ok.sum() >= 5:
            m.update(_safe(lambda: _calibration(pred.surv24[sel][ok], tt, ee), SURVIVAL_METRICS[1:]))
        if train_followup is not None:
            def ipcw() -> dict[str, float]:
                sv = M.survival_metrics(train_followup[0], train_followup[1], tt, ee, -mm,
                                        lambda times: pred.survival_at(mm, times))
                return {"survival_cindex_uno": sv["cindex_uno"], "survival_ibs": sv["ibs"],
                        "survival_auc_12m": sv["auc_12m"], "survival_auc_24m": sv["auc_24m"]}
            m.update(_safe(ipcw, IPCW_METRICS))
    if out.truth is not None:
        from sklearn.metrics import adjusted_rand_score

        m["subtype_ari_truth"] = float(adjusted_rand_score(out.truth[sel], pred.subtype[sel]))
    if subgroup_min_size is not None:
        groups = {k: v[sel] for k, v in out.groups.items()}
        ys, ps = y[hy], p50[hy]
        m.update(_subgroups(groups, hy, "slope_rmse", lambda i: M.rmse(ps[i], ys[i]), subgroup_min_size))
        m.update(_subgroups(groups, ok, "survival_cindex", lambda i: M.cindex(tt[i], ee[i], -mm[i]),
                            subgroup_min_size))
    return m


CI_LOW, CI_HIGH = "_ci_low", "_ci_high"
"""Suffixes of a metric's interval bounds as the training job logs them (``test_slope_rmse_ci_low``)."""


def metric_intervals(pred: Predictions, out: Outcomes, *, n_resamples: int, seed: int,
                          confidence: float = 0.95,
                          train_followup: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """An interval for every metric of :func:`cohort_metrics`: the bounds the training job logs beside them.

    Coverage metrics (shares of patients inside their 80 % interval) get a Wilson score interval for a binomial
    proportion (:func:`training.evaluation.metrics.wilson_interval`) from their counts; every other metric a
    percentile-bootstrap interval over the test patients (one shared draw, :func:`training.evaluation.bootstrap.
    resample`), the model held fixed.

    Parameters
    ----------
    pred, out : Predictions, Outcomes
        The model's predictions and the observed outcomes of the test patients.
    n_resamples, seed, confidence
        As in :func:`training.evaluation.bootstrap.resample` (the evaluation config's ``n_bootstrap`` and ``seed``).
    train_followup : (time, event), optional
        As in :func:`cohort_metrics` (adds the censoring-weighted metrics and their intervals).

    Returns
    -------
    dict
        ``<metric>_ci_low`` / ``<metric>_ci_high`` for every metric with a defined estimate (metric unit; NaN bounds
        when no resample gave a defined value).
    """
    from training.evaluation.bootstrap import resample

    hy = out.has_slope
    counts = (coverage_counts(out.slope[hy], pred.p10[hy], pred.p50[hy], pred.p90[hy], out.groups["onset_site"][hy])
              if hy.sum() >= 2 else {})
    bounds: dict[str, float] = {}
    for key, (covered, n) in counts.items():
        if n:  # a group too small for its coverage has no estimate, hence no interval
            bounds[f"{key}{CI_LOW}"], bounds[f"{key}{CI_HIGH}"] = M.wilson_interval(covered, n, confidence=confidence)

    def others(idx: np.ndarray) -> dict[str, float]:
        # Coverages are left out of the draw: their Wilson intervals need none (and a resample's predicted-rate
        # tertiles are often empty from repeated patients, which would only be reported as skipped resamples).
        return {k: v for k, v in cohort_metrics(pred, out, idx, train_followup=train_followup).items()
                if k not in counts}

    boot = resample(others, out.n, n_resamples=n_resamples, seed=seed, confidence=confidence)
    for key, estimate in boot.estimates.items():
        if math.isfinite(estimate):
            iv = boot.interval(key)
            bounds[f"{key}{CI_LOW}"], bounds[f"{key}{CI_HIGH}"] = iv.ci_low, iv.ci_high
    return bounds


def subgroup_sizes(metrics: Mapping[str, float]) -> dict[str, int]:
    """Patients per subgroup, read from the size keys of :func:`cohort_metrics`.

    Parameters
    ----------
    metrics : mapping
        Output of :func:`cohort_metrics` with ``subgroup_min_size`` (keys ``<metric>_n.<factor>.<label>``).

    Returns
    -------
    dict
        ``<metric>.<factor>.<label>`` → number of patients with the outcome that metric uses.
    """
    return {k.replace("_n.", ".", 1): int(v) for k, v in metrics.items() if k.count(".") == 2 and "_n." in k}


def paired_cohort_metrics(pred_a: Predictions, pred_b: Predictions, out: Outcomes, *, n_resamples: int, seed: int,
                          confidence: float = 0.95, subgroup_min_size: int | None = None) -> Paired:
    """:func:`cohort_metrics` of two models on the same cohort with paired resamples (the patient draw is shared).

    Parameters
    ----------
    pred_a, pred_b : Predictions
        The two models' predictions for the rows of ``out``.
    out : Outcomes
        The cohort's outcomes.
    n_resamples, seed, confidence
        As in :func:`training.evaluation.bootstrap.resample`.
    subgroup_min_size : int, optional
        As in :func:`cohort_metrics`.

    Returns
    -------
    Paired
    """
    def metrics_of(pred: Predictions) -> Callable[[np.ndarray], dict[str, float]]:
        return lambda idx: cohort_metrics(pred, out, idx, subgroup_min_size=subgroup_min_size)

    return paired(metrics_of(pred_a), metrics_of(pred_b), out.n, n_resamples=n_resamples, seed=seed,
                  confidence=confidence)


# ----------------------------------------------------------------------------------------------------------------
# A fitted model on a cohort table
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    """A model scored on a cohort: the named metrics and what they were computed from.

    Attributes
    ----------
    metrics : dict
        Prefixed metric names (e.g. ``test_slope_rmse``, ``test_slope_rmse.sex.female``) → value.
    predictions, outcomes : Predictions, Outcomes
        The model's predictions and the cohort's outcomes (row order of the table).
    calibration : DataFrame
        Predicted versus Kaplan–Meier survival at 24 months by risk group
        (:func:`training.evaluation.metrics.survival_calibration`; empty with fewer than 5 patients with follow-up).
    """

    metrics: dict[str, float]
    predictions: Predictions
    outcomes: Outcomes
    calibration: pd.DataFrame


def survival_calibration_table(pred: Predictions, out: Outcomes) -> pd.DataFrame:
    """Predicted versus Kaplan–Meier survival at 24 months in 5 predicted-risk groups (patients with follow-up).

    Returns
    -------
    DataFrame
        :func:`training.evaluation.metrics.survival_calibration`'s table; empty with fewer than 5 such patients.
    """
    ok = out.has_followup
    if ok.sum() < 5:
        return pd.DataFrame()
    return M.survival_calibration(pred.surv24[ok], out.time[ok], out.event[ok], CALIBRATION_MONTHS)


def evaluate_model(model: StratifierModel, table: pd.DataFrame, *, train_table: pd.DataFrame | None = None,
                   truth: pd.DataFrame | None = None, subgroup_min_size: int | None = None,
                   prefix: str = TEST_PREFIX) -> Evaluation:
    """Score a fitted model on a cohort table and name the metrics as the training job logs them.

    Parameters
    ----------
    model : StratifierModel
        The fitted bundle.
    table : DataFrame
        The evaluation cohort (one row per patient; baseline fields, outcomes and subgroup columns).
    train_table : DataFrame, optional
        The model's training patients; when given, the censoring-weighted survival metrics (Uno C-index, IBS,
        time-dependent AUC) are added, with the censoring distribution of its patients with follow-up.
    truth : DataFrame, optional
        Planted truth indexed by ``patient_id`` (simulated cohorts): adds ``subtype_ari_truth``.
    subgroup_min_size : int, optional
        Adds the subgroup metrics and sizes (see :func:`cohort_metrics`).
    prefix : str, default ``"test_"``
        Prepended to every metric name.

    Returns
    -------
    Evaluation
    """
    pred = predict_cohort(model, table)
    out = Outcomes.from_table(table, truth)
    train_followup = Outcomes.from_table(train_table).followup() if train_table is not None else None
    metrics = cohort_metrics(pred, out, train_followup=train_followup, subgroup_min_size=subgroup_min_size)
    return Evaluation(metrics={f"{prefix}{k}": v for k, v in metrics.items()}, predictions=pred, outcomes=out,
                      calibration=survival_calibration_table(pred, out))


def score_model(model: StratifierModel, table: pd.DataFrame, *, train_table: pd.DataFrame | None = None,
                truth: pd.DataFrame | None = None, subgroup_min_size: int | None = None,
                prefix: str = TEST_PREFIX) -> dict[str, float]:
    """The named metrics of :func:`evaluate_model` (e.g. ``test_slope_rmse``, ``test_survival_cindex.sex.male``).

    Parameters and units are those of :func:`evaluate_model`.

    Returns
    -------
    dict
        Metric name → value (NaN when undefined on this cohort).
    """
    return evaluate_model(model, table, train_table=train_table, truth=truth, subgroup_min_size=subgroup_min_size,
                          prefix=prefix).metrics


# ----------------------------------------------------------------------------------------------------------------
# Calibration summaries (aggregates only)
# ----------------------------------------------------------------------------------------------------------------
def slope_calibration_bins(pred: Predictions, out: Outcomes, *, n_bins: int = 10) -> list[dict[str, float]]:
    """Mean predicted versus mean observed slope (points/month) in equal-size bins of the predicted median.

    Bins hold at least 10 patients (fewer bins on small cohorts), so no row describes an individual.
    """
    hy = out.has_slope
    pred50, obs = pred.p50[hy], out.slope[hy]
    bins = max(1, min(n_bins, len(obs) // 10))
    if len(obs) < 10:
        return []
    order = np.argsort(pred50, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, bins), start=1):
        rows.append({"bin": i, "n": len(idx), "pred_mean": float(pred50[idx].mean()),
                     "obs_mean": float(obs[idx].mean())})
    return rows


def survival_calibration_rows(pred: Predictions, out: Outcomes) -> list[dict[str, Any]]:
    """Predicted versus Kaplan–Meier survival at 24 months in 5 predicted-risk groups (training's table)."""
    with quiet():
        table = survival_calibration_table(pred, out)
    return [{str(k): (json_float(float(v)) if isinstance(v, float | np.floating) else int(v))
             for k, v in row.items()} for row in table.to_dict(orient="records")]


# ----------------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------------
def booster_importance(model: StratifierModel) -> dict[str, dict[str, float]]:
    """Share of total split gain per derived feature, for the slope median and the survival booster.

    Gain shares need no data (they come from the trees), so they are available for every saved model; a feature
    never used for a split has share 0.
    """
    names = model.feature_names
    out: dict[str, dict[str, float]] = {}
    parts = [("slope", model.slope.median)]
    if model.survival is not None:
        parts.append(("survival", model.survival.booster))
    for part, booster in parts:
        # total_gain is one number per feature (lists only come from multi-output importance types).
        gains = {k: float(v) for k, v in booster.get_score(importance_type="total_gain").items()
                 if isinstance(v, int | float)}
        total = sum(gains.values()) or 1.0
        shares = dict.fromkeys(names, 0.0)
        for key, value in gains.items():
            # Boosters trained on a plain matrix name features f0, f1, ... in column order.
            name = names[int(key[1:])] if key.startswith("f") and key[1:].isdigit() else key
            shares[name] = value / total
        out[part] = shares
    return out


def subtype_agreement(pred_a: Predictions, pred_b: Predictions) -> dict[str, Any]:
    """Adjusted Rand index of the two models' subtype assignments, the share of patients given the same label (labels
    carry over between versions matched to a champion, :mod:`training.fit.champion_match`), and the contingency
    table (counts)."""
    from sklearn.metrics import adjusted_rand_score

    rows = [pred_a.subtype_names.get(int(v), str(v)) for v in pred_a.subtype]
    cols = [pred_b.subtype_names.get(int(v), str(v)) for v in pred_b.subtype]
    table = pd.crosstab(pd.Series(rows, name="a"), pd.Series(cols, name="b"))
    return {"ari": float(adjusted_rand_score(pred_a.subtype, pred_b.subtype)),
            "same_label_share": float(np.mean(pred_a.subtype == pred_b.subtype)) if len(pred_a.subtype) else math.nan,
            "rows": [str(r) for r in table.index], "columns": [str(c) for c in table.columns],
            "counts": table.to_numpy(dtype=int).tolist()}
