"""Why the robust Cox score test of the virtual trials rejected a true null too often, and the test that replaced it
(issue #14; docs/trial-design.md, "Type-I error").

For each keep fraction's adjusted survival design of ``alsstrat trial simulate`` (the same population and plan;
null trials drawn as :func:`trialdesign.virtual.run_trials` draws them, from seeds of their own), on the same
null trials:

* the rejection rate of the previous analysis, the robust (Lin and Wei 1989) score test of the arm (the code of
  commit fe5007c, kept here as the reference; there it matched lifelines' ``CoxPHFitter(robust=True)``), and of
  :func:`trialdesign.virtual.cox_arm_p_value` (score with its re-randomisation variance within the strata);
* the ratio of the sandwich variance to the randomisation variance of the same score (1 = unbiased), overall,
  without the sandwich's projection term, and in the trials where one patient holds more than a tenth of the sum
  of squared martingale residuals ("dominated"); where that patient's predicted log-time lies (SD from the trial's
  mean); the skewness of the predicted log-time of the patients the keep rule enrols; the Newton fit's steps;
* with ``--rerandomisations B``, the new test's exact conditional size: for each trial, the share of B
  re-randomisations (arms permuted within the strata, treated counts kept) that it rejects, averaged over trials.
  This has no Monte Carlo error from the trial's own arms, so it is far more precise than the rejection rate.

Run ``python -m bench.cox_type1 --seeds 61001,61002`` (the champion model; ``--help`` for the options). A JSON
line per design on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

CHI2_CRIT = float(stats.chi2.isf(0.05, 1))


def lin_wei_arm_p_value(time: np.ndarray, event: np.ndarray, arm: np.ndarray, covariate: np.ndarray,
                        ) -> tuple[float, float, float, int, float]:
    """The previous analysis (commit fe5007c): robust (Lin-Wei) score test of the arm at the covariate-only fit.

    Returns the p-value, the sandwich variance of the arm's efficient score, the same without the projection on the
    covariate's score, the Newton steps taken and the covariate's final |score|.
    """
    from trialdesign.virtual import _cox_score_info

    x = np.column_stack([arm.astype(float), covariate - covariate.mean()])
    order = np.argsort(-time, kind="stable")
    xs, e, t = x[order], event[order].astype(bool), time[order]
    last = np.searchsorted(-t, -t, side="right") - 1
    beta = np.zeros(2)
    steps = 0
    for _ in range(25):
        steps += 1
        score, info = _cox_score_info(xs, e, last, beta)
        step = score[1] / info[1, 1]
        beta[1] += step
        if abs(step) < 1e-10:
            break
    score, info = _cox_score_info(xs, e, last, beta)
    projection = info[0, 1] / info[1, 1]
    # per-patient score residuals (ascending time, events tied with a patient's time included)
    w = np.exp(xs @ beta)
    s0 = np.cumsum(w)[last]
    xbar = np.cumsum(w[:, None] * xs, axis=0)[last] / s0[:, None]
    up = order[::-1]
    t_up, e_up = time[up], event[up].astype(bool)
    s0_up, xbar_up = s0[::-1], xbar[::-1]
    through = np.searchsorted(t_up, t_up, side="right") - 1
    a_cum = np.cumsum(np.where(e_up, 1.0 / s0_up, 0.0))[through]
    b_cum = np.cumsum(np.where(e_up[:, None], xbar_up / s0_up[:, None], 0.0), axis=0)[through]
    resid = (np.where(e_up[:, None], x[up] - xbar_up, 0.0) - w[::-1][:, None] * (x[up] * a_cum[:, None] - b_cum))
    efficient = resid[:, 0] - projection * resid[:, 1]
    variance = float(efficient @ efficient)
    u = score[0] - projection * score[1]
    return (float(stats.chi2.sf(u * u / variance, 1)), variance, float(resid[:, 0] @ resid[:, 0]), steps,
            abs(float(score[1])))


def population(seed: int, n_patients: int, model_uri: str, keep: Sequence[float] | None = None,
               ) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The survival design, the simulated population's scored pool, its truth and the plan, as ``alsstrat trial
    simulate`` builds them (default keep fractions unless ``keep``)."""
    from features.candidate_rows import frame_rows
    from features.project import configure_tracking
    from serving.batch import load_model
    from trialdesign.design import parse_design
    from trialdesign.plan import plan_trial
    from trialdesign.virtual import simulated_population

    configure_tracking()
    model = load_model(model_uri).model
    table, pop = simulated_population(n_patients, seed, "default", landmark=model.landmark.name)
    design = parse_design({"endpoint": "survival", **({"keep": list(keep)} if keep else {})})
    plan, pool = plan_trial(model, frame_rows(table), design)
    return design, pool, pop, plan


def _rerandomised_size(m: np.ndarray, arm: np.ndarray, strata: np.ndarray, b: int,
                       rng: np.random.Generator) -> float:
    """Share of ``b`` within-stratum re-randomisations that the new test rejects (its size given this trial)."""
    from trialdesign.virtual import rerandomisation_moments

    centred, variance = rerandomisation_moments(m, arm, strata)
    perm = np.empty((b, len(m)))
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        perm[:, idx] = arm[idx][np.argsort(rng.random((b, len(idx))), axis=1)]
    u = perm @ centred
    return float(np.mean(u * u / variance > CHI2_CRIT))


def measure(design: Any, pool: Any, pop: Any, entry: dict[str, Any], *, trials: int, seed: int, scale: float,
            rerandomisations: int) -> dict[str, Any]:
    """Null trials of one adjusted design (as :func:`trialdesign.virtual.run_trials` draws them); both tests."""
    from trialdesign.virtual import (
        censored_survival,
        cox_arm_p_value,
        cox_martingale_residuals,
        randomised_enrolment,
        rerandomisation_moments,
    )

    rng = np.random.default_rng(seed)
    perm_rng = np.random.default_rng(seed + 1)
    eligible = np.flatnonzero(pool.enrolled[float(entry["keep_fraction"])])
    n_enrol = 2 * round(int(entry["n_per_arm"]) * scale)
    old, new, ratio, dominated, sizes = [], [], [], [], []
    ratio_no_projection, dominant_z, steps, final_score = [], [], [], []
    for _ in range(trials):
        idx, arm = randomised_enrolment(design, pool, eligible, n_enrol, rng)
        t, event = censored_survival(design, pop, idx, arm, 1.0, rng)
        mu, strata = pool.mu[idx], pool.stratum[idx]
        p_old, v_old, v_plain, n_steps, last_score = lin_wei_arm_p_value(t, event, arm, mu)
        old.append(p_old < 0.05)
        new.append(cox_arm_p_value(t, event, arm, mu, strata) < 0.05)
        m = cox_martingale_residuals(t, event, mu)
        v_simple = rerandomisation_moments(m, arm)[1]  # the same score's, simple randomisation
        ratio.append(v_old / v_simple)
        ratio_no_projection.append(v_plain / v_simple)
        dominated.append(float(np.max(m * m) / (m @ m)) > 0.1)
        top = int(np.argmax(m * m))
        dominant_z.append(float((mu[top] - mu.mean()) / mu.std()))
        steps.append(n_steps)
        final_score.append(last_score)
        if rerandomisations:
            sizes.append(_rerandomised_size(m, arm, strata, rerandomisations, perm_rng))
    ratio_a, dom = np.array(ratio), np.array(dominated)
    enrolled_mu = pool.mu[eligible]
    out = {"keep_fraction": entry["keep_fraction"], "n_per_arm": n_enrol // 2, "null_trials": trials,
           "enrolled_mu_skewness": round(float(stats.skew(enrolled_mu)), 3),
           "dominant_patient_mu_z_mean": round(float(np.mean(dominant_z)), 2),
           "newton_steps_max": int(max(steps)), "final_covariate_score_max": float(max(final_score)),
           "type1_lin_wei": round(float(np.mean(old)), 4), "type1_rerandomisation": round(float(np.mean(new)), 4),
           "type1_se": round(float(np.sqrt(0.05 * 0.95 / trials)), 4),
           "variance_ratio_lin_wei_to_randomisation": round(float(ratio_a.mean()), 4),
           "variance_ratio_without_projection": round(float(np.mean(ratio_no_projection)), 4),
           "share_of_trials_dominated": round(float(dom.mean()), 4),
           "variance_ratio_when_dominated": round(float(ratio_a[dom].mean()), 4) if dom.any() else None,
           "type1_lin_wei_when_dominated": round(float(np.mean(np.array(old)[dom])), 4) if dom.any() else None}
    if rerandomisations:
        out["exact_size_rerandomisation"] = round(float(np.mean(sizes)), 4)
        out["exact_size_se"] = round(float(np.std(sizes) / np.sqrt(trials)), 4)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", required=True, help="Comma-separated simulator seeds of the populations.")
    parser.add_argument("--trials", type=int, default=5000, help="Null trials per design.")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply each design's n per arm (x2, x4...).")
    parser.add_argument("--rerandomisations", type=int, default=0, help="Re-randomisations per trial (0 = none).")
    parser.add_argument("--n-patients", type=int, default=20_000)
    parser.add_argument("--model-uri", default="models:/als-stratifier@champion")
    ns = parser.parse_args(argv)
    for seed in (int(s) for s in ns.seeds.split(",")):
        design, pool, pop, plan = population(seed, ns.n_patients, ns.model_uri)
        for k, entry in enumerate(d for d in plan["designs"] if d["adjustment"] == "prognostic"):
            row = measure(design, pool, pop, entry, trials=ns.trials, seed=seed * 100 + k, scale=ns.scale,
                          rerandomisations=ns.rerandomisations)
            print(json.dumps({"seed": seed, "scale": ns.scale, **row}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
