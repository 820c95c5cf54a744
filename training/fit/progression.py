"""Progression models: XGBoost quantile regression of the ALSFRS-R slope and an XGBoost AFT survival model.

Hyper-parameters are tuned with Optuna by grouped cross-validation inside the training patients only; the test
patients are never seen here. The slope interval is calibrated with split-conformal residuals computed out of
fold (conformalised quantile regression), because raw quantile boosters under-cover on new patients.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import optuna
import xgboost as xgb
from sksurv.metrics import concordance_index_censored

from features.model.bundle import SlopeComponent, SurvivalComponent
from training.config import BoosterParams, SlopeConfig, SurvivalConfig, TuningConfig

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

Folds = list[tuple[np.ndarray, np.ndarray]]
TrialCallback = Callable[[str, int, dict[str, Any], float], None]
"""Called as ``(model_kind, trial_number, params, cv_score)`` after each Optuna trial (for nested MLflow runs)."""


def _xgb_params(p: BoosterParams, seed: int) -> dict[str, Any]:
    # One thread: on a few thousand patients threading costs more than it saves, and OpenMP threads that wait on
    # each other slow to a crawl when the machine is busy (measured: 47 s instead of 1.4 s for one fit).
    return {"max_depth": p.max_depth, "eta": p.learning_rate, "subsample": p.subsample,
            "colsample_bytree": p.colsample_bytree, "min_child_weight": p.min_child_weight, "lambda": p.reg_lambda,
            "seed": seed, "nthread": 1, "tree_method": "hist", "max_bin": 64}


def _quantiles(interval: float) -> tuple[float, float, float]:
    tail = (1 - interval) / 2
    return (round(tail, 6), 0.5, round(1 - tail, 6))


# ---------------------------------------------------------------------------------------------------- slope
def train_quantile_booster(z: np.ndarray, y: np.ndarray, params: BoosterParams, alphas: tuple[float, ...],
                           seed: int) -> xgb.Booster:
    """A quantile-regression booster for one or more quantile levels, on rows with an observed slope."""
    alpha: Any = alphas[0] if len(alphas) == 1 else np.array(alphas)
    booster_params = {**_xgb_params(params, seed), "objective": "reg:quantileerror", "quantile_alpha": alpha}
    return xgb.train(booster_params, xgb.DMatrix(z, label=y, missing=np.nan, nthread=1),
                     num_boost_round=params.n_estimators)


def train_point_booster(z: np.ndarray, y: np.ndarray, params: BoosterParams, point: str, seed: int) -> xgb.Booster:
    """The point-prediction booster: the conditional mean (squared error) or the median (quantile 0.5).

    The mean is what RMSD rewards (the DREAM-2012 metric, and the trial planner's expected decline); the median is
    the robust alternative. Both have an identity link, so their per-feature contributions add up to the
    prediction.
    """
    if point == "median":
        return train_quantile_booster(z, y, params, (0.5,), seed)
    booster_params = {**_xgb_params(params, seed), "objective": "reg:squarederror"}
    return xgb.train(booster_params, xgb.DMatrix(z, label=y, missing=np.nan, nthread=1),
                     num_boost_round=params.n_estimators)


def conformal_margin(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, interval: float) -> float:
    """Split-conformal correction (points/month) for an interval [lo, hi] to reach ``interval`` coverage.

    Conformity score E_i = max(lo_i - y_i, y_i - hi_i); the margin is its ceil((n+1)*interval)/n empirical
    quantile (Romano, Patterson & Candes 2019, "Conformalized quantile regression").
    """
    scores = np.maximum(lo - y, y - hi)
    n = len(scores)
    level = min(1.0, math.ceil((n + 1) * interval) / n)
    return float(np.quantile(scores, level, method="higher"))


def _component(z: np.ndarray, y: np.ndarray, params: BoosterParams, interval: float, seed: int,
               margin: float = 0.0, point: str = "mean") -> SlopeComponent:
    lo, mid, hi = _quantiles(interval)
    return SlopeComponent(median=train_point_booster(z, y, params, point, seed),
                          tails=train_quantile_booster(z, y, params, (lo, hi), seed),
                          quantiles=(lo, mid, hi), margin=margin, point=point)


@dataclass(frozen=True)
class FittedSlope:
    """A fitted slope model and the out-of-fold point predictions its interval was calibrated on.

    Attributes
    ----------
    component : SlopeComponent
        What the bundle keeps.
    out_of_fold_point : ndarray or None
        Point prediction (points/month) of every training row by the fold model that did not see it, in the order
        of the rows given to :func:`fit_slope`; None when the interval is not conformal (no folds were fitted).
        Trial planning pools these with the test split (more held-out patients for its variance and rho); they
        never enter the bundle, which keeps only binned sums.
    """

    component: SlopeComponent
    out_of_fold_point: np.ndarray | None


def fit_slope(z: np.ndarray, y: np.ndarray, cfg: SlopeConfig, params: BoosterParams, folds: Folds,
              seed: int) -> FittedSlope:
    """Fit the slope model on all training rows with an outcome; calibrate the interval out of fold.

    Parameters
    ----------
    z : ndarray
        Derived features of the training patients WITH an observed slope outcome.
    y : ndarray
        Observed ALSFRS-R slope, months 3-12, points/month.
    folds : list of (train, validation) positions into ``z``

    Returns
    -------
    FittedSlope
    """
    margin = 0.0
    group_margins: np.ndarray | None = None
    cuts: np.ndarray | None = None
    mid: np.ndarray | None = None
    if cfg.conformal:
        lo = np.empty(len(y))
        mid = np.empty(len(y))
        hi = np.empty(len(y))
        for tr, va in folds:
            fold_model = _component(z[tr], y[tr], params, cfg.interval, seed, point=cfg.point)
            lo[va], mid[va], hi[va] = fold_model.predict(xgb.DMatrix(z[va], missing=np.nan, nthread=1))
        margin = conformal_margin(lo, hi, y, cfg.interval)
        cuts, group_margins = mondrian_margins(lo, mid, hi, y, cfg.interval)
    component = _component(z, y, params, cfg.interval, seed, margin, point=cfg.point)
    component.group_cuts, component.group_margins = cuts, group_margins
    return FittedSlope(component=component, out_of_fold_point=mid)


MONDRIAN_GROUPS = 3
"""Predicted-rate groups (tertiles of the out-of-fold point prediction) calibrated separately."""


def mondrian_margins(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray, y: np.ndarray,
                     interval: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-group, per-tail split-conformal corrections: coverage that holds where it matters, not only on average.

    Mondrian conformal prediction (Vovk et al. 2005) by tertile of the predicted slope, and each tail corrected on
    its own (asymmetric CQR, Romano et al. 2019, section 6): within every group, about (1 - interval) / 2 of the
    out-of-fold patients fall below the lower bound and as many above the upper one. One symmetric margin for all
    patients had covered the fastest progressors only 0.58-0.78 of the time at a nominal 0.80.

    Parameters
    ----------
    lo, mid, hi : ndarray
        Out-of-fold lower quantile, point and upper quantile predictions (points/month).
    y : ndarray
        Observed slopes (points/month).
    interval : float
        Nominal coverage (0.8).

    Returns
    -------
    (cuts, margins)
        ``cuts``: the group boundaries on the point prediction (ascending, ``MONDRIAN_GROUPS - 1`` values);
        ``margins``: shape (groups, 2), the (lower, upper) correction of each group in points/month (positive
        widens the interval).
    """
    cuts = np.quantile(mid, np.arange(1, MONDRIAN_GROUPS) / MONDRIAN_GROUPS)
    group = np.searchsorted(cuts, mid, side="right")
    tail = (1.0 + interval) / 2.0  # each tail keeps (1 - interval) / 2 outside
    margins = np.zeros((MONDRIAN_GROUPS, 2))
    for g in range(MONDRIAN_GROUPS):
        sel = group == g
        n = int(sel.sum())
        if n < 10:  # too few to calibrate on their own: the pooled symmetric margin applies
            margins[g] = conformal_margin(lo, hi, y, interval)
            continue
        level = min(1.0, math.ceil((n + 1) * tail) / n)
        margins[g, 0] = float(np.quantile(lo[sel] - y[sel], level, method="higher"))
        margins[g, 1] = float(np.quantile(y[sel] - hi[sel], level, method="higher"))
    return cuts, margins


def slope_cv_rmse(z: np.ndarray, y: np.ndarray, params: BoosterParams, folds: Folds, seed: int,
                  point: str = "mean") -> float:
    """Cross-validated RMSE (points/month) of the point prediction.

    Tuning fits the point model alone (the served point prediction); the tails model reuses the tuned parameters.
    """
    errors = []
    for tr, va in folds:
        booster = train_point_booster(z[tr], y[tr], params, point, seed)
        pred = np.asarray(booster.predict(xgb.DMatrix(z[va], missing=np.nan, nthread=1))).reshape(-1)
        errors.append((pred - y[va]) ** 2)
    return float(np.sqrt(np.mean(np.concatenate(errors))))


# ---------------------------------------------------------------------------------------------------- survival
def survival_dmatrix(z: np.ndarray, time: np.ndarray, event: np.ndarray) -> xgb.DMatrix:
    """AFT labels: [t, t] for an observed endpoint, [t, +inf) for a censored patient (months, t > 0)."""
    dm = xgb.DMatrix(z, missing=np.nan, nthread=1)
    dm.set_float_info("label_lower_bound", time)
    dm.set_float_info("label_upper_bound", np.where(event, time, np.inf))
    return dm


def train_survival_booster(z: np.ndarray, time: np.ndarray, event: np.ndarray, params: BoosterParams,
                           cfg: SurvivalConfig, seed: int) -> xgb.Booster:
    booster_params = {**_xgb_params(params, seed), "objective": "survival:aft", "eval_metric": "aft-nloglik",
                      "aft_loss_distribution": cfg.distribution,
                      "aft_loss_distribution_scale": cfg.distribution_scale}
    return xgb.train(booster_params, survival_dmatrix(z, time, event), num_boost_round=params.n_estimators)


def fit_survival(z: np.ndarray, time: np.ndarray, event: np.ndarray, cfg: SurvivalConfig, params: BoosterParams,
                 seed: int, *, origin: np.ndarray | None = None) -> SurvivalComponent:
    """Fit the AFT model, recalibrate its location and scale out of fold, and cut risk groups.

    The booster is trained with XGBoost's fixed distribution scale; the survival curves' level and spread then
    come from a censored maximum-likelihood fit of log T = a + b * margin + sigma * eps on margins each patient's
    model never saw (K-fold), so that predicted S(t) matches what is observed rather than the fixed scale.

    Parameters
    ----------
    time : ndarray
        Months from the landmark to the endpoint or censoring; must be > 0 (patients without follow-up after the
        landmark have no survival outcome and are left out by the caller).
    event : ndarray of bool
    origin : ndarray of int, optional
        For training rows that include blanked copies (:mod:`training.fit.sparsity`): the source patient of each
        row. The out-of-fold margins then keep all copies of a patient in one fold, and the risk-group cut points
        come from the rows as recorded (``origin`` seen for the first time), not from the blanked copies.
    """
    if np.any(time <= 0):
        raise ValueError(f"survival times must be > 0 months, got {int(np.sum(time <= 0))} rows <= 0")
    booster = train_survival_booster(z, time, event, params, cfg, seed)
    margin = np.asarray(booster.predict(xgb.DMatrix(z, missing=np.nan, nthread=1), output_margin=True), dtype=float)
    oof = out_of_fold_margins(z, time, event, params, cfg, seed, groups=origin)
    # The curve's shape is chosen by the out-of-fold likelihood among the AFT families XGBoost knows: the
    # booster's margins rank patients; which error distribution turns them into probabilities is an empirical
    # question (on simulated Weibull hazards the extreme-value family wins, on other data it may not).
    fits = {name: fit_aft_calibration(oof, time, event, name) for name in AFT_DISTRIBUTIONS}
    distribution = min(fits, key=lambda name: fits[name][3])
    intercept, slope, sigma, _ = fits[distribution]
    mu = intercept + slope * margin
    probs = np.arange(1, cfg.risk_groups) / cfg.risk_groups
    recorded = np.ones(len(mu), dtype=bool) if origin is None else _first_occurrence(origin)
    cutpoints = np.quantile(-mu[recorded], probs)
    return SurvivalComponent(booster=booster, distribution=distribution, sigma=sigma,
                             risk_cutpoints=cutpoints, mu_intercept=intercept, mu_slope=slope)


CALIBRATION_FOLDS = 5
AFT_DISTRIBUTIONS = ("normal", "logistic", "extreme")


def _first_occurrence(origin: np.ndarray) -> np.ndarray:
    """True for the first row of each source patient (the row as recorded, before its blanked copies)."""
    first = np.zeros(len(origin), dtype=bool)
    first[np.unique(origin, return_index=True)[1]] = True
    return first


def out_of_fold_margins(z: np.ndarray, time: np.ndarray, event: np.ndarray, params: BoosterParams,
                        cfg: SurvivalConfig, seed: int, *, groups: np.ndarray | None = None) -> np.ndarray:
    """Each patient's booster margin from a model fitted without that patient (K-fold, stratified by event;
    grouped by ``groups`` when rows share a patient, so no copy of a patient trains the model that scores it)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    out = np.full(len(time), np.nan)
    if groups is None:
        splits = StratifiedKFold(n_splits=CALIBRATION_FOLDS, shuffle=True, random_state=seed).split(
            z, event.astype(int))
    else:
        splits = StratifiedGroupKFold(n_splits=CALIBRATION_FOLDS, shuffle=True, random_state=seed).split(
            z, event.astype(int), groups)
    for train_idx, held_idx in splits:
        booster = train_survival_booster(z[train_idx], time[train_idx], event[train_idx], params, cfg, seed)
        out[held_idx] = booster.predict(xgb.DMatrix(z[held_idx], missing=np.nan, nthread=1), output_margin=True)
    return out


def fit_aft_calibration(margin: np.ndarray, time: np.ndarray, event: np.ndarray,
                        distribution: str) -> tuple[float, float, float, float]:
    """(a, b, sigma) maximising the censored likelihood of log T = a + b * margin + sigma * eps.

    Parameters
    ----------
    margin : ndarray
        Out-of-fold booster margins (log months).
    time : ndarray
        Months (> 0).
    event : ndarray of bool
        True for an observed endpoint, False for censoring.
    distribution : {"normal", "logistic", "extreme"}
        Distribution of eps (as the booster's).

    Returns
    -------
    (float, float, float, float)
        Intercept (log months), slope (unit-free), scale sigma (> 0) and the minimised negative log-likelihood.
    """
    from scipy import optimize, stats

    dist = {"normal": stats.norm, "logistic": stats.logistic, "extreme": stats.gumbel_l}[distribution]
    log_t = np.log(time)
    observed = event.astype(bool)

    def negative_log_likelihood(theta: np.ndarray) -> float:
        a, b, log_sigma = theta
        sigma = math.exp(log_sigma)
        z = (log_t - a - b * margin) / sigma
        ll = np.where(observed, dist.logpdf(z) - log_sigma, dist.logsf(z))
        return float(-ll.sum())

    start = np.array([0.0, 1.0, 0.0])
    fit = optimize.minimize(negative_log_likelihood, start, method="Nelder-Mead",
                            options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 4000})
    a, b, log_sigma = (float(v) for v in fit.x)
    return a, b, math.exp(log_sigma), float(fit.fun)


def survival_cv_cindex(z: np.ndarray, time: np.ndarray, event: np.ndarray, params: BoosterParams,
                       cfg: SurvivalConfig, folds: Folds, seed: int) -> float:
    """Cross-validated Harrell C-index (mean over folds) of -mu as the risk score."""
    scores = []
    for tr, va in folds:
        booster = train_survival_booster(z[tr], time[tr], event[tr], params, cfg, seed)
        mu = np.asarray(booster.predict(xgb.DMatrix(z[va], missing=np.nan, nthread=1), output_margin=True),
                        dtype=float)
        if event[va].any():
            scores.append(concordance_index_censored(event[va], time[va], -mu)[0])
    return float(np.mean(scores)) if scores else float("nan")


# ---------------------------------------------------------------------------------------------------- tuning
def suggest(trial: optuna.trial.BaseTrial, base: BoosterParams, max_trees: int = 600,
            learning_rates: tuple[float, float] = (0.01, 0.15)) -> BoosterParams:
    """The search space around the configured parameters; at most ``max_trees`` boosting rounds."""
    low = min(100, max_trees)
    high = low + (max_trees - low) // 50 * 50  # on the step grid: Optuna warns (an error in tests) otherwise
    return base.model_copy(update={
        "n_estimators": trial.suggest_int("n_estimators", low, high, step=50),
        "max_depth": trial.suggest_int("max_depth", 2, 5),
        "learning_rate": trial.suggest_float("learning_rate", *learning_rates, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 20.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
    })


def tune(kind: str, objective: Callable[[BoosterParams], float], base: BoosterParams, cfg: TuningConfig,
         direction: Literal["minimize", "maximize"], on_trial: TrialCallback | None = None) -> BoosterParams:
    """Optuna TPE search (seeded); the configured params are always trial 0, so tuning never does worse in CV."""
    if cfg.n_trials == 0:
        return base
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    study.enqueue_trial({k: getattr(base, k) for k in ("n_estimators", "max_depth", "learning_rate",
                                                         "min_child_weight", "subsample", "colsample_bytree")})

    def run(trial: optuna.Trial) -> float:
        params = suggest(trial, base, cfg.max_trees, cfg.learning_rate_range)
        value = objective(params)
        if on_trial is not None:
            on_trial(kind, trial.number, params.model_dump(), value)
        return value

    study.optimize(run, n_trials=cfg.n_trials, timeout=cfg.timeout_seconds, gc_after_trial=False)
    return suggest(optuna.trial.FixedTrial(study.best_params), base, cfg.max_trees, cfg.learning_rate_range)


@dataclass(frozen=True)
class TunedParams:
    slope: BoosterParams
    survival: BoosterParams
