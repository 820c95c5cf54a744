"""Metrics of fitted stratifiers on an evaluation cohort, bootstrap intervals, paired differences and data shift.

Run comparison (:mod:`training.audit.compare`) and the promotion gate (:mod:`training.registry.gate`) score saved models
on a cohort table and need the same numbers the training job logs. This module recomputes them from the model's
predictions with the training job's own definitions (:mod:`training.evaluation.metrics`), so that scoring a run's model
on its own held-out patients gives back exactly its logged test metrics.

Metric names are the training job's test metric names without the ``test_`` prefix: ``slope_rmse`` (points/month),
``survival_cindex`` (Harrell), ``slope_interval_coverage_80`` (share), ``survival_calibration_slope_24m`` ...;
subgroup metrics read ``<metric>.<factor>.<label>`` (e.g. ``slope_rmse.sex.male``), as in the run's metrics.

Everything returned here is an aggregate (a metric, an interval, a bin mean, a count); no patient-level value
leaves this module.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import spec as S
from training.evaluation import metrics as E

if TYPE_CHECKING:
    from features.model.bundle import StratifierModel

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

CALIBRATION_MONTHS = 24.0
"""Time (months) of the survival calibration, as in the training job."""

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

SHIFT_FIELDS: tuple[str, ...] = tuple(n for n in S.BASELINE_NAMES if n not in S.ALSFRS_ITEMS)
"""Baseline fields whose distribution shift is reported (the 12 ALSFRS-R items are summarised by the total)."""


# ----------------------------------------------------------------------------------------------------------------
# Outcomes and predictions
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcomes:
    """Observed outcomes and subgroup labels of an evaluation cohort (positions line up with its rows).

    Attributes
    ----------
    slope : ndarray
        ALSFRS-R slope over days (91, 365], points/month; NaN = no slope outcome (excluded, never imputed).
    time : ndarray
        Months from day 0 to the endpoint or censoring; only patients with ``time > 0`` enter survival metrics.
    event : ndarray of bool
        Endpoint observed (death, tracheostomy or permanent ventilation).
    groups : dict of str to ndarray
        Subgroup label per patient for ``sex``, ``onset_site`` and ``age_band`` (``"missing"`` when unknown).
    truth : ndarray or None
        Planted subtype per patient (synthetic data only).
    """

    slope: np.ndarray
    time: np.ndarray
    event: np.ndarray
    groups: dict[str, np.ndarray]
    truth: np.ndarray | None = None

    @classmethod
    def from_table(cls, table: pd.DataFrame, truth: pd.DataFrame | None = None) -> Outcomes:
        """Outcomes of a cohort table (one row per patient); ``truth`` indexed by patient_id, when known."""
        planted = None
        if truth is not None and "subtype" in truth.columns:
            planted = truth.reindex(table["patient_id"].to_numpy())["subtype"].to_numpy()
            if pd.isna(planted).any():
                planted = None
        groups = {k: v.to_numpy(dtype=object) for k, v in E.subgroups(table.reset_index(drop=True)).items()}
        return cls(slope=table["alsfrs_r_slope_3_12"].to_numpy(dtype=float),
                   time=table["time_to_event_months"].to_numpy(dtype=float),
                   event=table["event_observed"].astype("boolean").fillna(False).to_numpy(dtype=bool),
                   groups=groups, truth=planted)

    @property
    def n(self) -> int:
        return len(self.slope)

    @property
    def has_slope(self) -> np.ndarray:
        return ~np.isnan(self.slope)

    @property
    def has_followup(self) -> np.ndarray:
        # Time 0 carries no information for survival (the training job excludes it the same way).
        return np.nan_to_num(self.time, nan=0.0) > 0

    def counts(self) -> dict[str, int]:
        """Patients, with a slope outcome, with follow-up, and with an observed endpoint (among those)."""
        ok = self.has_followup
        return {"n_patients": self.n, "n_with_slope": int(self.has_slope.sum()), "n_with_followup": int(ok.sum()),
                "n_events": int(self.event[ok].sum())}


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
    """Score every row of a cohort table exactly as the training job scores its test patients."""
    z = model.features.transform(table[list(S.BASELINE_NAMES)])
    arrays = model.predict_arrays(z)
    mu = np.asarray(arrays["mu"], dtype=float)
    return Predictions(p10=np.asarray(arrays["p10"], dtype=float), p50=np.asarray(arrays["p50"], dtype=float),
                       p90=np.asarray(arrays["p90"], dtype=float), mu=mu,
                       surv24=model.survival.survival_at(mu, [CALIBRATION_MONTHS])[:, 0],
                       subtype=np.asarray(arrays["chosen"]).astype(int),
                       subtype_names={s.label: s.name for s in model.subtype.subtypes},
                       survival_at=model.survival.survival_at)


# ----------------------------------------------------------------------------------------------------------------
# Metrics on a (resampled) cohort
# ----------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence expected noise while metrics are recomputed on hundreds of resamples.

    Resamples without events or with constant predictions make a metric undefined; that is counted and reported
    as the number of valid resamples, so the per-resample warnings of :mod:`training.evaluation.metrics` and numpy would
    only flood the terminal.
    """
    ev_logger = logging.getLogger("training.evaluation.metrics")
    level = ev_logger.level
    ev_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        ev_logger.setLevel(level)


def _safe(fn: Callable[[], dict[str, float]], keys: Sequence[str]) -> dict[str, float]:
    try:
        return fn()
    except ValueError:  # e.g. too few patients with events in a resample: the metric is undefined there
        return dict.fromkeys(keys, math.nan)


TIED_RISK = 1e-8
"""Risk scores closer than this count as tied (sksurv's ``tied_tol``)."""


def harrell_cindex(time: np.ndarray, event: np.ndarray, risk: np.ndarray, *, block: int = 512) -> float:
    """Harrell's C-index with exactly the pair rules of :func:`training.evaluation.metrics.cindex` (sksurv), vectorised.

    A pair (i, j) is comparable when i had the endpoint and j was followed longer, or for as long but censored;
    it is concordant when i's risk is higher, and a tie in risk (within :data:`TIED_RISK`) counts one half.
    The sksurv implementation validates its input on every call, which dominates the cost of a bootstrap of
    hundreds of resamples; this one gives the same value (up to floating-point summation order) at a fraction of it.

    Parameters
    ----------
    time, event, risk : ndarray of shape (n,)
        Follow-up (months), endpoint observed (bool), predicted risk (higher = earlier endpoint).
    block : int, default 512
        Rows of the pair matrix handled at once (memory stays O(block * n)).

    Returns
    -------
    float
        The C-index; NaN when there is no event or no comparable pair.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    r = np.asarray(risk, dtype=float)
    cases = np.flatnonzero(e)
    if len(t) < 2 or cases.size == 0:
        return math.nan
    numerator = 0.0
    pairs = 0
    for start in range(0, cases.size, block):
        i = cases[start:start + block]
        ti, ri = t[i][:, None], r[i][:, None]
        comparable = (t[None, :] > ti) | ((t[None, :] == ti) & ~e[None, :])
        tied = np.abs(r[None, :] - ri) <= TIED_RISK
        concordant = (r[None, :] < ri) & ~tied
        numerator += float((comparable & concordant).sum()) + 0.5 * float((comparable & tied).sum())
        pairs += int(comparable.sum())
    return numerator / pairs if pairs else math.nan


def _rmse(pred: np.ndarray, obs: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - obs) ** 2))) if len(obs) else math.nan


def cohort_metrics(pred: Predictions, out: Outcomes, idx: np.ndarray | None = None, *,
                   train_followup: tuple[np.ndarray, np.ndarray] | None = None,
                   subgroup_min_size: int | None = None) -> dict[str, float]:
    """Test metrics of one model on the patients at positions ``idx`` (default: all), as the training job defines them.

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
        least this many patients (counted among those with the outcome, as in training).

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
        def slope() -> dict[str, float]:
            sm = E.slope_metrics(y[hy], p50[hy], p10[hy], p90[hy])
            return {"slope_rmse": sm["rmse"], "slope_mae": sm["mae"], "slope_pearson_r": sm["pearson_r"],
                    "slope_interval_coverage_80": sm["interval_coverage_80"],
                    "slope_interval_width_80": sm["interval_width_80"],
                    "slope_calibration_slope": sm["calibration_slope"],
                    "slope_calibration_intercept": sm["calibration_intercept"]}
        m.update(_safe(slope, SLOPE_METRICS))
    if ok.sum() >= 2:
        tt, ee, mm = t[ok], e[ok], mu[ok]
        m["survival_cindex"] = harrell_cindex(tt, ee, -mm)
        if ok.sum() >= 5:
            def calibration() -> dict[str, float]:
                table = E.survival_calibration(pred.surv24[sel][ok], tt, ee, CALIBRATION_MONTHS)
                cs, ci = E.calibration_slope_intercept(table)
                return {"survival_calibration_slope_24m": cs, "survival_calibration_intercept_24m": ci}
            m.update(_safe(calibration, SURVIVAL_METRICS[1:]))
        if train_followup is not None:
            def ipcw() -> dict[str, float]:
                sv = E.survival_metrics(train_followup[0], train_followup[1], tt, ee, -mm,
                                        lambda times: pred.survival_at(mm, times))
                return {"survival_cindex_uno": sv["cindex_uno"], "survival_ibs": sv["ibs"],
                        "survival_auc_12m": sv["auc_12m"], "survival_auc_24m": sv["auc_24m"]}
            m.update(_safe(ipcw, IPCW_METRICS))
    if out.truth is not None:
        from sklearn.metrics import adjusted_rand_score

        m["subtype_ari_truth"] = float(adjusted_rand_score(out.truth[sel], pred.subtype[sel]))
    if subgroup_min_size is not None:
        m.update(subgroup_metrics(pred, out, sel, min_size=subgroup_min_size))
    return m


def subgroup_metrics(pred: Predictions, out: Outcomes, sel: np.ndarray, *, min_size: int) -> dict[str, float]:
    """``slope_rmse`` and ``survival_cindex`` per subgroup (training's naming and size rule) on positions ``sel``."""
    res: dict[str, float] = {}
    hy, ok = out.has_slope[sel], out.has_followup[sel]
    y, p50 = out.slope[sel], pred.p50[sel]
    t, e, r = out.time[sel], out.event[sel], -pred.mu[sel]
    for factor, labels in out.groups.items():
        lab = labels[sel]
        for label in sorted(set(labels), key=lambda v: (v == E.MISSING_LABEL, v)):
            member = lab == label
            suffix = f"{factor}.{E.metric_label(label)}"
            s_rows = member & hy
            if s_rows.sum() >= min_size:
                res[f"slope_rmse.{suffix}"] = _rmse(p50[s_rows], y[s_rows])
            v_rows = member & ok
            if v_rows.sum() >= min_size:
                res[f"survival_cindex.{suffix}"] = harrell_cindex(t[v_rows], e[v_rows], r[v_rows])
    return res


def subgroup_sizes(out: Outcomes) -> dict[str, int]:
    """Patients per subgroup with the outcome each subgroup metric uses (``<metric>.<factor>.<label>`` → n)."""
    res: dict[str, int] = {}
    for factor, labels in out.groups.items():
        for label in sorted(set(labels), key=lambda v: (v == E.MISSING_LABEL, v)):
            member = labels == label
            suffix = f"{factor}.{E.metric_label(label)}"
            res[f"slope_rmse.{suffix}"] = int((member & out.has_slope).sum())
            res[f"survival_cindex.{suffix}"] = int((member & out.has_followup).sum())
    return res


# ----------------------------------------------------------------------------------------------------------------
# Bootstrap
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap interval (NaN bounds when no resample was defined)."""

    estimate: float
    low: float
    high: float
    n_valid: int

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": _json_float(self.estimate), "low": _json_float(self.low),
                "high": _json_float(self.high), "n_valid_resamples": self.n_valid}


def _json_float(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def _percentile(estimate: float, samples: np.ndarray, confidence: float) -> Interval:
    valid = samples[~np.isnan(samples)]
    if valid.size == 0:
        return Interval(estimate, math.nan, math.nan, 0)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(valid, [alpha, 1.0 - alpha])
    return Interval(estimate, float(lo), float(hi), int(valid.size))


@dataclass(frozen=True)
class Bootstrap:
    """Full-sample estimates and per-resample values of a set of metrics (resamples of patients)."""

    estimates: dict[str, float]
    samples: dict[str, np.ndarray]
    confidence: float

    def interval(self, key: str) -> Interval:
        return _percentile(self.estimates.get(key, math.nan), self.samples.get(key, np.empty(0)), self.confidence)


def bootstrap(fn: Callable[[np.ndarray], Mapping[str, float]], n: int, *, n_resamples: int, seed: int,
              confidence: float = 0.95) -> Bootstrap:
    """Percentile bootstrap of every metric ``fn(idx)`` returns, over ``n`` patients.

    One resample (``n`` positions drawn with replacement, ``np.random.default_rng(seed)``) feeds every metric at
    once, so the metrics' intervals are mutually consistent and the cost is one pass.

    Parameters
    ----------
    fn : callable
        ``fn(idx) -> {name: value}``; NaN marks a resample where the metric is undefined (left out and counted).
    n : int
        Number of patients (positions ``0..n-1``); at least 2.
    n_resamples : int
        Number of resamples (0 gives point estimates with NaN intervals).
    seed : int
        Random seed (same seed, same resamples).
    confidence : float, default 0.95
        Two-sided level of the percentile intervals.
    """
    if n < 2:
        raise ValueError(f"need at least 2 patients to bootstrap, got {n}")
    with quiet():
        estimates = dict(fn(np.arange(n)))
        rng = np.random.default_rng(seed)
        rows: list[Mapping[str, float]] = [fn(rng.integers(0, n, size=n)) for _ in range(n_resamples)]
    keys = list(estimates) + [k for r in rows for k in r if k not in estimates]
    samples = {k: np.array([r.get(k, math.nan) for r in rows], dtype=float) for k in dict.fromkeys(keys)}
    return Bootstrap(estimates=estimates, samples=samples, confidence=confidence)


@dataclass(frozen=True)
class Paired:
    """Two models on the same resampled patients: ``a.*`` and ``b.*`` hold each model's metrics."""

    a: Bootstrap
    b: Bootstrap

    def difference(self, key: str) -> Interval:
        """B − A on the full cohort, with the paired percentile interval (same resamples for both models)."""
        est = self.b.estimates.get(key, math.nan) - self.a.estimates.get(key, math.nan)
        samples = self.b.samples.get(key, np.empty(0)) - self.a.samples.get(key, np.empty(0))
        return _percentile(est, samples, self.a.confidence)

    def loss_difference(self, key: str, loss: Callable[[np.ndarray], np.ndarray]) -> Interval:
        """``loss(B) − loss(A)`` with its paired interval (e.g. distance of a coverage from its nominal value)."""
        ea = loss(np.array([self.a.estimates.get(key, math.nan)]))[0]
        eb = loss(np.array([self.b.estimates.get(key, math.nan)]))[0]
        samples = loss(self.b.samples.get(key, np.empty(0))) - loss(self.a.samples.get(key, np.empty(0)))
        return _percentile(float(eb - ea), samples, self.a.confidence)


def paired_bootstrap(pred_a: Predictions, pred_b: Predictions, out: Outcomes, *, n_resamples: int, seed: int,
                     confidence: float = 0.95, subgroup_min_size: int | None = None) -> Paired:
    """Metrics of two models on one cohort with paired resamples (the patient draw is shared)."""
    def fn(idx: np.ndarray) -> dict[str, float]:
        a = cohort_metrics(pred_a, out, idx, subgroup_min_size=subgroup_min_size)
        b = cohort_metrics(pred_b, out, idx, subgroup_min_size=subgroup_min_size)
        return {**{f"a:{k}": v for k, v in a.items()}, **{f"b:{k}": v for k, v in b.items()}}

    boot = bootstrap(fn, out.n, n_resamples=n_resamples, seed=seed, confidence=confidence)

    def side(prefix: str) -> Bootstrap:
        return Bootstrap(estimates={k[2:]: v for k, v in boot.estimates.items() if k.startswith(prefix)},
                         samples={k[2:]: v for k, v in boot.samples.items() if k.startswith(prefix)},
                         confidence=confidence)

    return Paired(a=side("a:"), b=side("b:"))


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
    ok = out.has_followup
    if ok.sum() < 5:
        return []
    with quiet():
        table = E.survival_calibration(pred.surv24[ok], out.time[ok], out.event[ok], CALIBRATION_MONTHS)
    return [{str(k): (_json_float(float(v)) if isinstance(v, float | np.floating) else int(v))
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
    for part, booster in (("slope", model.slope.median), ("survival", model.survival.booster)):
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
    """Adjusted Rand index of the two models' subtype assignments, and their contingency table (counts)."""
    from sklearn.metrics import adjusted_rand_score

    rows = [pred_a.subtype_names.get(int(v), str(v)) for v in pred_a.subtype]
    cols = [pred_b.subtype_names.get(int(v), str(v)) for v in pred_b.subtype]
    table = pd.crosstab(pd.Series(rows, name="a"), pd.Series(cols, name="b"))
    return {"ari": float(adjusted_rand_score(pred_a.subtype, pred_b.subtype)),
            "rows": [str(r) for r in table.index], "columns": [str(c) for c in table.columns],
            "counts": table.to_numpy(dtype=int).tolist()}


# ----------------------------------------------------------------------------------------------------------------
# Distribution shift between two cohorts
# ----------------------------------------------------------------------------------------------------------------
PSI_EPSILON = 1e-4
"""Floor of a bin's share in the PSI (an empty bin would make the logarithm infinite)."""


def psi_level(value: float) -> str:
    """Conventional reading of the population stability index: <0.1 none, 0.1-0.25 moderate, >=0.25 major."""
    if not math.isfinite(value):
        return "n/a"
    return "none" if value < 0.1 else ("moderate" if value < 0.25 else "major")


def population_stability_index(a: pd.Series, b: pd.Series, *, numeric: bool, bins: int = 10) -> float:
    """PSI of ``b`` against the reference ``a``: sum over bins of (q - p) * ln(q / p).

    Numeric fields are binned at the deciles of ``a`` (ties merged); categories are their own bins. Missing values
    form a bin of their own in both cases, so a change in missingness counts as shift.
    """
    if numeric:
        xa, xb = a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
        seen = xa[~np.isnan(xa)]
        edges = np.unique(np.quantile(seen, np.linspace(0, 1, bins + 1)[1:-1])) if seen.size else np.empty(0)

        def codes(x: np.ndarray) -> np.ndarray:
            c = np.searchsorted(edges, x, side="right").astype(float)
            c[np.isnan(x)] = -1
            return c
        ca, cb = codes(xa), codes(xb)
    else:
        ca = a.astype(object).where(a.notna(), "<missing>").map(str).to_numpy(dtype=object)
        cb = b.astype(object).where(b.notna(), "<missing>").map(str).to_numpy(dtype=object)
    levels = sorted(set(ca.tolist()) | set(cb.tolist()), key=str)
    if not levels or len(ca) == 0 or len(cb) == 0:
        return math.nan
    p = np.array([(ca == v).mean() for v in levels])
    q = np.array([(cb == v).mean() for v in levels])
    p, q = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def _summary(series: pd.Series, numeric: bool) -> str:
    if numeric:
        x = series.to_numpy(dtype=float, na_value=np.nan)
        x = x[~np.isnan(x)]
        if x.size == 0:
            return "all missing"
        q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
        return f"median {med:.3g} (IQR {q1:.3g}-{q3:.3g})"
    shares = series.astype(object).where(series.notna(), "missing").map(str).value_counts(normalize=True)
    return ", ".join(f"{k} {100 * v:.0f} %" for k, v in shares.head(4).items())


def distribution_shift(table_a: pd.DataFrame, table_b: pd.DataFrame,
                       fields: Sequence[str] = SHIFT_FIELDS) -> list[dict[str, Any]]:
    """PSI (B against A), missing shares and a summary per baseline field, largest shift first."""
    rows = []
    for name in fields:
        if name not in table_a.columns or name not in table_b.columns:
            continue
        f = S.baseline_field(name)
        numeric = f.kind in ("numeric", "integer")
        a, b = table_a[name], table_b[name]
        if f.kind == "boolean":
            a, b = a.astype("boolean").astype(object), b.astype("boolean").astype(object)
        value = population_stability_index(a, b, numeric=numeric)
        rows.append({"feature": name, "unit": f.unit or "", "psi": _json_float(value), "level": psi_level(value),
                     "missing_a": float(a.isna().mean()), "missing_b": float(b.isna().mean()),
                     "summary_a": _summary(a, numeric), "summary_b": _summary(b, numeric)})
    return sorted(rows, key=lambda r: -(r["psi"] if r["psi"] is not None else -1.0))
