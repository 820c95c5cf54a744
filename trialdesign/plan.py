"""The plan: for each keep fraction and each analysis (unadjusted, adjusted for the prognostic score), how many
patients a trial needs, from the model's held-out statistics and the scored pool.

Slope endpoint. The held-out bins give a calibration of observed on predicted slope: obs = a + b * pred + e with a
residual variance linear in the prediction (larger for fast progressors, whose slopes are noisier). Applied to the
predictions of the candidates a keep rule enrols, it gives their expected outcome mean a + b * mean(pred), SD
sqrt(b^2 var(pred) + mean residual variance) and the correlation rho = b sd(pred) / SD of score and outcome. The
pool's own predictions carry the enrolment cut exactly and are many; only four calibration numbers come from the
held-out patients (the test split and the training patients predicted out of fold, see
:func:`training.fit.train.held_out_summary`), so an enriched design's SD and rho are not estimated from the small
tail of the held-out patients alone. The treatment shift is Delta = effect * |outcome mean|. n per arm comes from
:func:`trialdesign.power.t_test_n_per_arm` without (t-test) and with (ANCOVA, PROCOVA) the prognostic score.

Survival endpoint. ``hazard_ratio`` is *marginal*: the hazard ratio between the two arms' survival curves in the
enrolled population, which is what the unadjusted log-rank test compares and what a trial reports. P(event by the
end of follow-up) is the enrolled candidates' mean predicted event probability times the held-out calibration
ratio (Kaplan-Meier observed / predicted, in the bins the rule would enrol, interpolated in time). Hazard ratios
are not collapsible: a Cox model adjusted for the prognostic score estimates a conditional effect further from 1
than the marginal one. The planner finds it as the hazard ratio which, applied to each enrolled candidate's
calibrated predicted curve, gives the marginal ratio between the mixtures (event-weighted mean log hazard ratio,
Schoenfeld's drift), and plans the adjusted design's events with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.model.bundle import ANSWER_DECIMALS, StratifierModel
from features.model.heldout import HeldOutSummary, OutcomeShareBin, SlopeBin, SurvivalBin
from features.project import MODEL_NAME
from trialdesign import power as P
from trialdesign.design import Design, DesignError, keep_label
from trialdesign.pool import PlanningUnavailable, ScoredPool, score_pool, severity_order

MIN_HELD_OUT = 30
"""Fewest held-out patients behind one design's SD and rho; fewer would make the plan's numbers noise."""
TIME_GRID = 120
"""Points of the time grid on which the marginal hazard ratio is integrated."""

ANALYSES = {("slope", "none"): "two-sample t-test on the slope",
            ("slope", "prognostic"): "ANCOVA: slope ~ arm + prognostic score (PROCOVA)",
            ("survival", "none"): "log-rank test",
            ("survival", "prognostic"): "Cox model: hazard ~ arm + prognostic score (predicted log survival time); "
                                        "score test of the arm, re-randomisation variance within the strata"}


@dataclass(frozen=True)
class SlopeStats:
    """Pooled held-out statistics of the patients a keep rule would enrol (points/month)."""

    n: int
    mean_pred: float
    mean_obs: float
    sd_obs: float
    rho: float


def pooled_slope_stats(bins: tuple[SlopeBin, ...] | list[SlopeBin]) -> SlopeStats:
    """Mean, SD (n - 1) and Pearson correlation from summed bins."""
    n = sum(b.n for b in bins)
    sp, so = sum(b.sum_pred for b in bins), sum(b.sum_obs for b in bins)
    spp, soo = sum(b.sum_pred2 for b in bins), sum(b.sum_obs2 for b in bins)
    spo = sum(b.sum_pred_obs for b in bins)
    mp, mo = sp / n, so / n
    var_p, var_o = (spp - n * mp * mp) / (n - 1), (soo - n * mo * mo) / (n - 1)
    cov = (spo - n * mp * mo) / (n - 1)
    rho = cov / math.sqrt(var_p * var_o) if var_p > 0 and var_o > 0 else 0.0
    return SlopeStats(n=n, mean_pred=mp, mean_obs=mo, sd_obs=math.sqrt(max(var_o, 0.0)), rho=rho)


def _selected(values: list[float], threshold: float, sizes: list[int], everyone: bool) -> list[int]:
    """Indices of the (severity-sorted) bins at or beyond ``threshold``, widened until MIN_HELD_OUT patients."""
    if everyone:
        return list(range(len(values)))
    chosen = [i for i, v in enumerate(values) if v <= threshold]
    k = len(chosen)
    while sum(sizes[: max(k, 1)]) < MIN_HELD_OUT and k < len(values):
        k += 1
    return list(range(max(k, 1)))


@dataclass(frozen=True)
class SlopeCalibration:
    """Observed slope on predicted slope among held-out patients: obs = a + b * pred + e, with the residual variance
    linear in the prediction, var(e | pred) = c0 + c1 * pred (slopes in points/month)."""

    a: float
    b: float
    c0: float
    c1: float
    floor: float
    n: int

    def residual_variance(self, pred: np.ndarray) -> np.ndarray:
        """(points/month)^2; never below ``floor`` (a fifth of the overall residual variance)."""
        return np.maximum(self.c0 + self.c1 * pred, self.floor)


def slope_calibration(bins: list[SlopeBin]) -> SlopeCalibration:
    """Fit :class:`SlopeCalibration` from the held-out bins' sums: the line from the pooled moments, the residual
    variance per bin around it, and a weighted (by patients) straight line through those variances."""
    n = sum(b.n for b in bins)
    st = pooled_slope_stats(bins)
    var_p = (sum(b.sum_pred2 for b in bins) - n * st.mean_pred**2) / n
    cov = (sum(b.sum_pred_obs for b in bins) - n * st.mean_pred * st.mean_obs) / n
    slope = cov / var_p if var_p > 0 else 0.0
    a = st.mean_obs - slope * st.mean_pred
    means, variances, weights = [], [], []
    for b in bins:
        # sum over the bin of (obs - a - slope * pred)^2, expanded in the stored sums
        sse = (b.sum_obs2 - 2 * a * b.sum_obs - 2 * slope * b.sum_pred_obs + b.n * a * a
               + 2 * a * slope * b.sum_pred + slope * slope * b.sum_pred2)
        means.append(b.mean_pred)
        variances.append(max(sse, 0.0) / b.n)
        weights.append(b.n)
    overall = float(np.average(variances, weights=weights))
    if len(bins) >= 3 and np.ptp(means) > 0:
        c1, c0 = np.polyfit(means, variances, 1, w=np.sqrt(weights))
    else:
        c1, c0 = 0.0, overall
    return SlopeCalibration(a=a, b=slope, c0=float(c0), c1=float(c1), floor=overall / 5.0, n=n)


@dataclass(frozen=True)
class OutcomeShare:
    """P(slope outcome observed | predicted slope) = expit(c0 + c1 * pred), pred in points/month."""

    c0: float
    c1: float

    def __call__(self, pred: np.ndarray) -> np.ndarray:
        """Probability (0-1) that a candidate with predicted slope ``pred`` yields a slope outcome."""
        return np.asarray(1.0 / (1.0 + np.exp(-(self.c0 + self.c1 * np.asarray(pred, dtype=float)))))


def outcome_share(bins: tuple[OutcomeShareBin, ...] | list[OutcomeShareBin]) -> OutcomeShare:
    """Binomial logistic regression of having a slope outcome on the predicted slope, fitted on the held-out bins.

    Two parameters over all held-out patients, so a bin of 10 patients does not carry its own noisy share: each
    bin enters as two weighted rows (with an outcome, weight n_with_outcome; without, the rest), an unpenalised
    maximum-likelihood fit. Without bins (a bundle from before they existed), or when every held-out patient had an
    outcome, every candidate is assumed to yield one: ``outcome_observed_share`` is then 1.
    """
    if not bins or all(b.n_with_outcome == b.n for b in bins):  # no bins, or no patient without an outcome
        return OutcomeShare(c0=math.inf, c1=0.0)
    from sklearn.linear_model import LogisticRegression

    x = np.repeat([[b.mean_pred] for b in bins], 2, axis=0)
    y = np.tile([1, 0], len(bins))
    weight = np.array([[b.n_with_outcome, b.n - b.n_with_outcome] for b in bins], dtype=float).ravel()
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(x, y, sample_weight=weight)
    return OutcomeShare(c0=float(fit.intercept_[0]), c1=float(fit.coef_[0, 0]))


def _weighted_mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    return float(np.average(values, weights=weights))


def enrolled_slope_stats(cal: SlopeCalibration, pred: np.ndarray, weights: np.ndarray | None = None) -> SlopeStats:
    """Expected outcome mean, SD and correlation with the prediction among the analysed candidates.

    mean = a + b * mean(pred); SD^2 = b^2 var(pred) + mean(var(e | pred)); rho = b sd(pred) / SD. The candidates'
    own predictions carry the enrolment cut exactly; only the calibration comes from the held-out patients.
    ``weights`` (each candidate's probability of yielding a slope outcome, :func:`outcome_share`) make these the
    moments of the patients the analysis will have: fast progressors, more often without an outcome, count less.
    """
    mean_pred = _weighted_mean(pred, weights)
    explained = cal.b**2 * _weighted_mean((pred - mean_pred) ** 2, weights)
    residual = _weighted_mean(cal.residual_variance(pred), weights)
    sd = math.sqrt(explained + residual)
    return SlopeStats(n=cal.n, mean_pred=mean_pred, mean_obs=cal.a + cal.b * mean_pred, sd_obs=sd,
                      rho=math.copysign(math.sqrt(explained), cal.b) / sd if sd > 0 else 0.0)


def strata_r2(cal: SlopeCalibration, pred: np.ndarray, stratum: np.ndarray, sd: float,
              weights: np.ndarray | None = None) -> float:
    """Share of the analysed patients' outcome variance that lies between the randomisation strata (expected
    outcome per stratum from the calibration line, strata and patients weighted by ``weights``; 0 when one
    stratum holds everyone)."""
    w = np.ones(len(pred)) if weights is None else np.asarray(weights, dtype=float)
    expected = cal.a + cal.b * pred
    overall = _weighted_mean(expected, w)
    total = float(w.sum())
    between = sum(float(w[stratum == s].sum()) / total
                  * (_weighted_mean(expected[stratum == s], w[stratum == s]) - overall) ** 2
                  for s in np.unique(stratum))
    return between / (sd * sd) if sd > 0 else 0.0


def slope_designs(model: StratifierModel, pool: ScoredPool, design: Design, summary: HeldOutSummary,
                  ) -> list[dict[str, Any]]:
    bins = list(summary.slope_bins)
    if summary.n_slope < MIN_HELD_OUT:
        raise PlanningUnavailable(f"only {summary.n_slope} held-out patients with a slope outcome; at least "
                                  f"{MIN_HELD_OUT} are needed to plan (retrain on a larger cohort)")
    cal = slope_calibration(bins)
    share_of = outcome_share(summary.outcome_share_bins)
    out = []
    for f in design.keep:
        mask = pool.enrolled[f]
        weights = share_of(pool.slope[mask])
        share = float(weights.mean())
        st = enrolled_slope_stats(cal, pool.slope[mask], weights)
        r2 = strata_r2(cal, pool.slope[mask], pool.stratum[mask], st.sd_obs, weights)
        outcome_mean = st.mean_obs
        delta = design.effect * abs(outcome_mean)
        for adjustment in ("none", "prognostic"):
            adjusted = adjustment == "prognostic"
            n = P.t_test_n_per_arm(delta, st.sd_obs, design.alpha, design.power, rho=st.rho, adjusted=adjusted,
                                   strata_r2=r2)
            planned = P.t_test_power(n, delta, st.sd_obs, design.alpha, rho=st.rho, adjusted=adjusted,
                                     strata_r2=r2)
            entry = _entry(f, adjustment, "slope", n, design, planned, outcome_observed_share=share)
            entry.update({"outcome_mean": outcome_mean, "outcome_sd": st.sd_obs, "treatment_shift": delta,
                          "held_out_patients": st.n})
            if adjusted:
                entry["rho"] = st.rho
            else:
                entry["strata_r2"] = r2
            out.append(entry)
    return out


def _calibration_ratio(bins: list[SurvivalBin], horizons: tuple[float, ...], follow_up: float) -> float:
    """Held-out observed / predicted event probability at ``follow_up`` months (n-weighted, interpolated)."""
    ratios, times = [], []
    for j, h in enumerate(horizons):
        usable = [b for b in bins if np.isfinite(b.observed[j])]
        if sum(b.n for b in usable) < MIN_HELD_OUT:
            continue
        n = sum(b.n for b in usable)
        obs = sum(b.n * b.observed[j] for b in usable) / n
        pred = sum(b.n * b.predicted[j] for b in usable) / n
        if pred > 0:
            ratios.append(obs / pred)
            times.append(h)
    if not times or follow_up > times[-1]:
        last = f"{times[-1]:g}" if times else "no"
        raise DesignError("design.follow_up_months", f"{follow_up:g} months is beyond the held-out follow-up "
                          f"({last} months with enough patients still followed); plan a shorter follow-up")
    return float(np.interp(follow_up, times, ratios))


def marginal_log_hazard_ratio(surv: np.ndarray, hazard_ratio: float, times: np.ndarray) -> float:
    """Event-weighted mean log hazard ratio between the mixtures of treated and control curves.

    Parameters
    ----------
    surv : ndarray, shape (n, len(times))
        Each enrolled patient's survival probability (control) on ``times`` (months, increasing, from > 0).
    hazard_ratio : float
        The conditional hazard ratio: patient i's treated survival is ``surv[i] ** hazard_ratio``.
    times : ndarray

    Returns
    -------
    float
        sum_t log(h1(t)/h0(t)) dD(t) / sum_t dD(t), with dD the pooled events of both arms in each interval: the
        log hazard ratio a log-rank test sees to first order (Schoenfeld's drift with a time-varying ratio).
    """
    s0 = np.concatenate([[1.0], surv.mean(axis=0)])
    s1 = np.concatenate([[1.0], (surv**hazard_ratio).mean(axis=0)])
    h0 = -np.diff(np.log(np.maximum(s0, 1e-300)))
    h1 = -np.diff(np.log(np.maximum(s1, 1e-300)))
    events = (-np.diff(s0) - np.diff(s1)) / 2.0
    ok = (h0 > 0) & (h1 > 0)
    if events[ok].sum() <= 0:
        return math.log(hazard_ratio)
    return float(np.sum(np.log(h1[ok] / h0[ok]) * events[ok]) / events[ok].sum())


def conditional_hazard_ratio(surv: np.ndarray, marginal_hazard_ratio: float, times: np.ndarray) -> float:
    """The hazard ratio on each patient's own curve whose mixture gives ``marginal_hazard_ratio``.

    Solves :func:`marginal_log_hazard_ratio` (surv, theta, times) = ln(marginal) for theta (it is monotone in theta;
    |ln theta| >= |ln marginal| because mixing attenuates).
    """
    from scipy.optimize import brentq

    target = math.log(marginal_hazard_ratio)

    def gap(log_theta: float) -> float:
        return marginal_log_hazard_ratio(surv, math.exp(log_theta), times) - target

    lo, hi = (3.0 * target, target) if target < 0 else (target, 3.0 * target)
    while gap(lo) > 0 and lo > -10:
        lo *= 2.0
    while gap(hi) < 0 and hi < 10:
        hi *= 2.0
    return float(math.exp(brentq(gap, lo, hi, xtol=1e-10)))


def survival_designs(model: StratifierModel, pool: ScoredPool, design: Design, summary: HeldOutSummary,
                     ) -> list[dict[str, Any]]:
    assert model.survival is not None
    bins = list(summary.survival_bins)  # lowest risk first: reverse to most severe first
    severe_first = bins[::-1]
    mus, sizes = [b.mean_mu for b in severe_first], [b.n for b in severe_first]
    times = np.linspace(design.follow_up_months / TIME_GRID, design.follow_up_months, TIME_GRID)
    hr = design.hazard_ratio
    out = []
    for f in design.keep:
        mask = pool.enrolled[f]
        threshold = float(pool.mu[mask].max())  # the enrolled have the lowest predicted log survival time
        chosen = _selected(mus, threshold, sizes, f >= 1.0)
        held = [severe_first[i] for i in chosen]
        ratio = _calibration_ratio(held, summary.horizons_months, design.follow_up_months)
        surv = model.survival.survival_at(pool.mu[mask], times)
        # Calibrate the curves by scaling each cumulative hazard by c, so that the mean event probability at the
        # end of follow-up equals the held-out-calibrated one (ratio * mean predicted).
        cum = -np.log(np.clip(surv, 1e-300, 1.0))
        predicted = float(1.0 - surv[:, -1].mean())
        target = min(max(ratio * predicted, 1e-6), 1.0 - 1e-6)
        c = _scale_for(cum[:, -1], target)
        surv_cal = np.exp(-c * cum)
        p_control = float(1.0 - surv_cal[:, -1].mean())
        # hazard_ratio is marginal (what the log-rank test compares); the Cox model adjusted for the score sees
        # the larger effect on the score's own curves: the conditional ratio whose mixture gives the marginal one.
        conditional = conditional_hazard_ratio(surv_cal, hr, times)
        p_treated = float(1.0 - (surv_cal[:, -1] ** conditional).mean())
        p_event = (p_control + p_treated) / 2.0
        for adjustment in ("none", "prognostic"):
            effective = hr if adjustment == "none" else conditional
            # The log-rank test's power follows Schoenfeld's null information (1/4 per event; measured in virtual
            # trials). The adjusted analysis tests the larger conditional effect, whose Cox estimate has the
            # information of the alternative, p (1 - p) per event: without it the enriched adjusted designs ran 2-4
            # points under plan (docs/trial-design.md, "The adjusted survival plan").
            information = P.NULL_INFORMATION if adjustment == "none" else P.alternative_information(effective)
            events = P.schoenfeld_events(effective, design.alpha, design.power, information)
            n = math.ceil(events / p_event / 2.0 - 1e-9)
            if n > P.MAX_PER_ARM:
                raise P.InfeasibleDesign(f"more than {P.MAX_PER_ARM:,} patients per arm would be needed for "
                                         f"{events:,} events with an event probability of {p_event:.3g} by "
                                         f"{design.follow_up_months:g} months")
            planned = P.events_power(2 * n * p_event, effective, design.alpha, information)
            entry = _entry(f, adjustment, "survival", n, design, planned)
            entry.update({"events_required": events, "event_probability": p_event,
                          "event_probability_control": p_control, "event_probability_treated": p_treated,
                          "effective_hazard_ratio": effective, "information_per_event": information,
                          "held_out_patients": sum(b.n for b in held),
                          "held_out_calibration_ratio": ratio})
            out.append(entry)
    return out


def _scale_for(cum_end: np.ndarray, target: float) -> float:
    """c with mean(1 - exp(-c * H_i)) = target (bisection on the log scale; the mean is increasing in c)."""
    lo, hi = 1e-6, 1e6
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        if float(np.mean(1.0 - np.exp(-mid * cum_end))) < target:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def _entry(f: float, adjustment: str, endpoint: str, n_analysed: int, design: Design, planned: float, *,
           outcome_observed_share: float | None = None) -> dict[str, Any]:
    """One design of the plan. The enrolled lose ``design.dropout`` at random and, for the slope endpoint, those
    who yield no slope outcome (``outcome_observed_share`` of the rest yield one): n per arm covers both."""
    kept = 1.0 - design.dropout
    if outcome_observed_share is not None:
        kept *= outcome_observed_share
    n = P.with_dropout(n_analysed, 1.0 - kept)
    entry = {"keep_fraction": f, "adjustment": adjustment, "analysis": ANALYSES[(endpoint, adjustment)],
             "n_per_arm": n, "n_total": 2 * n, "n_analysed_per_arm": n_analysed,
             "screened_per_enrolled": 1.0 / f, "n_screened": math.ceil(2 * n / f - 1e-9),
             "planned_power": planned}
    if outcome_observed_share is not None:
        entry["outcome_observed_share"] = outcome_observed_share
    return entry


def slope_held_out_source(summary: HeldOutSummary, run_id: Any) -> str:
    """Which held-out patients the slope calibration rests on, in words (for the plan's ``*_source`` fields)."""
    n_oof = summary.slope_out_of_fold
    if n_oof == 0:
        return f"held-out test split of run {run_id} (n = {summary.n_slope} patients with a slope outcome)"
    return (f"held-out patients of run {run_id} with a slope outcome (n = {summary.n_slope}: "
            f"{summary.n_slope - n_oof} of the test split, predicted by the model, and {n_oof} training patients, "
            "each predicted by the cross-validation model that did not see them)")


def outcome_share_source(summary: HeldOutSummary, run_id: Any) -> str:
    """Where the share of enrolled candidates expected to yield a slope outcome comes from, in words."""
    if not summary.outcome_share_bins:
        return (f"not known for run {run_id} (trained before it was recorded): every enrolled candidate is assumed "
                "to yield a slope outcome; retrain for a plan that counts deaths and missing visits")
    n = sum(b.n for b in summary.outcome_share_bins)
    k = sum(b.n_with_outcome for b in summary.outcome_share_bins)
    return (f"held-out test split of run {run_id}: {k} of {n} patients had a slope outcome (months 3-12; the others "
            "died or had no visit in the window); a logistic regression of having one on the predicted slope, "
            "averaged over the enrolled candidates; the analysed patients' mean, SD and rho are weighted by it. "
            "It reflects the training cohort's follow-up: a trial with scheduled visits may lose fewer")


def make_plan(model: StratifierModel, pool: ScoredPool, design: Design) -> dict[str, Any]:
    """The plan (``plan.json``): one design per keep fraction x adjustment, with where each number comes from.

    Numbers are rounded as the service's answers (probabilities and slopes to 0.001).
    """
    summary = model.held_out
    if summary is None:  # check_model refused this before scoring; kept for the type checker
        raise PlanningUnavailable(f"model version {model.model_version} has no held-out summary; retrain")
    run_id = model.metadata.get("run_id")
    if design.endpoint == "slope":
        designs = slope_designs(model, pool, design, summary)
        held = slope_held_out_source(summary, run_id)
        how = ("the calibration of observed on predicted slope (line, residual variance by predicted slope) fitted "
               f"on the {held}, applied to the enrolled candidates' predicted slopes")
        sources = {"rho_source": f"{held}: {how}", "outcome_sd_source": f"{held}: {how}",
                   "outcome_mean_source": f"{held}: {how}",
                   "outcome_observed_share_source": outcome_share_source(summary, run_id)}
    else:
        designs = survival_designs(model, pool, design, summary)
        held = f"held-out test split of run {run_id} (n = {summary.n_survival} patients with a survival outcome)"
        sources = {"event_probability_source": "the enrolled candidates' predicted event probability by the end of "
                   f"follow-up, calibrated (Kaplan-Meier observed / predicted) on the {held}",
                   "hazard_ratio_meaning": "marginal: the hazard ratio between the arms' survival curves in the "
                   "enrolled population (what the log-rank test compares); the Cox model adjusted for the "
                   "prognostic score estimates the larger conditional effect (effective_hazard_ratio), computed "
                   "from the enrolled candidates' calibrated predicted curves"}
    order = severity_order(pool.score, design.endpoint)
    cut_positions = [order[min(pool.n - 1, (pool.n * k) // 3)] for k in (1, 2)]
    plan = {
        "endpoint": design.endpoint,
        "design": design.as_dict(),
        "model": {"name": model.metadata.get("model_name", MODEL_NAME), "version": model.model_version,
                  "run_id": run_id},
        "pool": {"n_candidates": pool.n,
                 "prognostic_score": ("predicted ALSFRS-R slope (points/month)" if design.endpoint == "slope" else
                                      f"predicted event probability by {design.follow_up_months:g} months"),
                 "strata": "tertiles of the prognostic score; 1 = slowest decline / lowest risk",
                 "stratum_sizes": {str(s): int((pool.stratum == s).sum()) for s in (1, 2, 3)},
                 "stratum_boundaries": sorted(float(pool.score[i]) for i in cut_positions),
                 "enrolled": {keep_label(f): int(m.sum()) for f, m in pool.enrolled.items()}},
        "sources": sources,
        "designs": designs,
    }
    return rounded_plan(plan)


def rounded_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """Round every float of a plan: slopes and probabilities to ANSWER_DECIMALS, ratios likewise (3 places)."""
    decimals = max(ANSWER_DECIMALS["slope"], ANSWER_DECIMALS["probability"])

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, float):
            return round(value, decimals)
        return value

    return walk(plan)


def plan_trial(model: StratifierModel, rows: list[Any], design: Design) -> tuple[dict[str, Any], ScoredPool]:
    """Score the pool and plan: what ``alsstrat trial plan`` and ``POST /trial/plan`` both call.

    Raises
    ------
    trialdesign.pool.InvalidCandidate, trialdesign.pool.PlanningUnavailable, features.errors.UserInputError
    """
    pool = score_pool(model, rows, design)
    return make_plan(model, pool, design), pool


def candidate_records(pool: ScoredPool, design: Design) -> list[dict[str, Any]]:
    """One record per candidate, in input order: id, prognostic score (rounded as answers), stratum, enrolment."""
    decimals = ANSWER_DECIMALS["slope" if design.endpoint == "slope" else "probability"]
    scores = np.round(pool.score, decimals).tolist()
    strata = pool.stratum.tolist()
    enrolled = {keep_label(f): m.tolist() for f, m in pool.enrolled.items()}
    return [{"candidate_id": cid, "prognostic_score": sc, "stratum": st,
             "enrolled": {k: bool(v[i]) for k, v in enrolled.items()}}
            for i, (cid, sc, st) in enumerate(zip(pool.ids, scores, strata, strict=True))]
