"""Where the score-adjusted survival designs lose power against their plan (docs/trial-design.md, "Survival
designs").

For each keep fraction's adjusted survival design of ``alsstrat trial simulate`` (the same population, plan and
trial draws as :func:`trialdesign.virtual.run_trials`: enrolment, stratified arms, dropout, event times from the
simulator with the planted conditional hazard ratio), on the same trials with the effect:

* the planned de-attenuated hazard ratio (``effective_hazard_ratio``), the events required and the planned power;
* the mean arm coefficient of a Cox model on arm + the prognostic score's log-time prediction (``statsmodels``
  PHReg, Breslow), i.e. the effect the adjusted analysis actually estimates, and of the unadjusted model;
* mean events, the mean Wald z and the z the plan assumes (sqrt(d x information per event) |ln HR|; the
  information was 1/4 before the plan used the alternative's);
* the power of the analysis (:func:`trialdesign.virtual.cox_arm_p_value`, the re-randomisation score test), of the
  model-based Wald test and of the log-rank test.

``python -m bench.adjusted_survival_power --seed 7011 --trials 1000`` (the champion model; ``--model-uri``,
``--keep``). One JSON line per design on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence

import numpy as np


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, required=True, help="simulator seed of the screening population")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--n-patients", type=int, default=20_000)
    parser.add_argument("--keep", default="1.0,0.75,0.5")
    parser.add_argument("--model-uri", default="models:/als-stratifier@champion")
    ns = parser.parse_args(argv)

    from statsmodels.duration.hazard_regression import PHReg

    from bench.cox_type1 import population
    from trialdesign.virtual import (
        censored_survival,
        cox_arm_p_value,
        log_rank_p_value,
        planted_hazard_ratio,
        randomised_enrolment,
    )

    design, pool, pop, plan = population(ns.seed, ns.n_patients, ns.model_uri,
                                         keep=[float(k) for k in ns.keep.split(",")])
    rng = np.random.default_rng(ns.seed)
    for entry in plan["designs"]:
        if entry["adjustment"] != "prognostic":
            continue
        f = float(entry["keep_fraction"])
        eligible = np.flatnonzero(pool.enrolled[f])
        n_enrol = 2 * int(entry["n_per_arm"])
        theta = planted_hazard_ratio(design, pool, pop, f)
        beta_adj, beta_unadj, wald_z, events = [], [], [], []
        rejected = {"analysis": 0, "wald": 0, "log_rank": 0}
        for _ in range(ns.trials):
            idx, arm = randomised_enrolment(design, pool, eligible, n_enrol, rng)
            t, event = censored_survival(design, pop, idx, arm, theta, rng)
            mu = pool.mu[idx]
            status = event.astype(float)
            adjusted = PHReg(t, np.column_stack([arm, mu - mu.mean()]), status=status, ties="breslow").fit()
            plain = PHReg(t, arm[:, None].astype(float), status=status, ties="breslow").fit()
            beta_adj.append(float(adjusted.params[0]))
            beta_unadj.append(float(plain.params[0]))
            wald_z.append(float(adjusted.params[0] / adjusted.bse[0]))
            events.append(int(event.sum()))
            rejected["analysis"] += cox_arm_p_value(t, event, arm, mu, pool.stratum[idx]) < design.alpha
            rejected["wald"] += abs(wald_z[-1]) > 1.959964
            rejected["log_rank"] += log_rank_p_value(t, event, arm) < design.alpha
        planned_hr = float(entry["effective_hazard_ratio"])
        print(json.dumps({
            "seed": ns.seed, "keep_fraction": f, "trials": ns.trials, "n_per_arm": entry["n_per_arm"],
            "planned_log_hr": round(math.log(planned_hr), 4), "planted_conditional_log_hr": round(math.log(theta), 4),
            "mean_adjusted_log_hr": round(float(np.mean(beta_adj)), 4),
            "mean_unadjusted_log_hr": round(float(np.mean(beta_unadj)), 4),
            "events_required": entry["events_required"], "mean_events": round(float(np.mean(events)), 1),
            "planned_z": round(math.sqrt(entry["events_required"] * entry.get("information_per_event", 0.25))
                               * abs(math.log(planned_hr)), 3),
            "mean_wald_z": round(abs(float(np.mean(wald_z))), 3),
            "planned_power": entry["planned_power"],
            "power": {k: round(v / ns.trials, 3) for k, v in rejected.items()}}), flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
