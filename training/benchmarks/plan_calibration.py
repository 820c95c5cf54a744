"""How close the trial planner's slope statistics come to those of a population the model never saw.

For each fresh simulator seed: train as ``alsstrat train`` does (2,000 patients, shipped configuration; the LCN2
ablation is skipped, it does not touch the slope model), then score an independent cohort of the same scenario
(20,000 simulated, seed + 1,000,000; :mod:`training.benchmarks.heldout`) as a candidate pool and compare, for each
keep fraction, the planner's outcome mean, SD and rho among the enrolled with the cohort's observed ones. The
sample size a design needs scales with SD^2 / Delta^2 (t-test) or SD^2 (1 - rho^2) / Delta^2 (ANCOVA), Delta =
effect x |mean|, so the ratio of the planner's to the cohort's value is the factor by which the plan's n is off
(1.10: 10 % more patients than needed, about +3-4 points of power at 80 %). Three planners are compared: the test
split alone with every enrolled candidate counted (the planner before), the test split pooled with the training
patients predicted out of fold, and the pooled summary with each enrolled candidate weighted by the probability of
yielding a slope outcome (what ``alsstrat trial plan`` does now; its ``n_enrolled_ratio_ancova`` also compares the
patients to enrol, analysed / outcome share, with the cohort's).

``python -m training.benchmarks.plan_calibration --seeds 3101-3104`` prints one JSON object per seed and keep
fraction, then one summary over them all (:func:`summary`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from features import spec as S
from features.candidate_rows import frame_rows
from features.model.heldout import HeldOutSummary, summarise_slopes
from training.benchmarks.heldout import independent_cohort, measuring_parser, parse_seeds, sparsity_override
from training.config import simulated_config
from training.data.load import load_training_data
from training.evaluation.outcomes import Outcomes
from training.fit.train import fit_and_evaluate
from trialdesign.design import Design
from trialdesign.plan import enrolled_slope_stats, outcome_share, slope_calibration
from trialdesign.pool import score_pool

KEEP = (1.0, 0.75, 0.5)


def _n_factors(mean: float, sd: float, rho: float) -> tuple[float, float]:
    """(SD^2 / mean^2, SD^2 (1 - rho^2) / mean^2): what the t-test and ANCOVA sample sizes scale with."""
    return (sd / mean) ** 2, (sd * sd * (1.0 - rho * rho)) / (mean * mean)


def measure(seed: int, *, n_patients: int, independent_patients: int,
            blanked_copies: int | None = None) -> list[dict[str, Any]]:
    """Planner against independent cohort for one training seed; one dict per keep fraction."""
    cfg = simulated_config(seed, n_patients=n_patients, lcn2_ablation=False, **sparsity_override(blanked_copies))
    data = load_training_data(cfg.data)
    fitted = fit_and_evaluate(cfg, data)
    model = fitted.model
    pooled = model.held_out
    assert pooled is not None  # fit_and_evaluate always summarises
    table = data.cohort.table.reset_index(drop=True)
    test = table.iloc[fitted.split.test].reset_index(drop=True)
    pred = model.predict_arrays(model.features.transform(test[list(S.BASELINE_NAMES)]))
    out = Outcomes.from_table(test)
    test_only = HeldOutSummary(slope_bins=summarise_slopes(pred["p50"][out.has_slope], out.slope[out.has_slope]),
                               survival_bins=())
    cohort = independent_cohort(seed, n_patients=independent_patients, scenario=cfg.data.simulate.scenario,
                                landmark=model.landmark.name)
    design = Design(endpoint="slope", keep=KEEP)
    pool = score_pool(model, frame_rows(cohort.table), design)
    observed = cohort.table["alsfrs_r_slope_3_12"].to_numpy(dtype=float)
    share_of = outcome_share(pooled.outcome_share_bins)
    rows = []
    for f in KEEP:
        enrolled = pool.enrolled[f]
        has = enrolled & np.isfinite(observed)
        y, p = observed[has], pool.slope[has]
        rho = float(np.corrcoef(y, p)[0, 1])
        truth = _n_factors(float(y.mean()), float(y.std(ddof=1)), rho)
        row: dict[str, Any] = {"seed": seed, "keep_fraction": f, "cohort_mean": round(float(y.mean()), 3),
                               "cohort_sd": round(float(y.std(ddof=1)), 3), "cohort_rho": round(rho, 3)}
        cohort_share = float(has.sum() / enrolled.sum())
        row["cohort_outcome_share"] = round(cohort_share, 3)
        weights_of = share_of(pool.slope[enrolled])
        variants = (("test_split", test_only, None), ("pooled", pooled, None),
                    ("test_split_weighted", test_only, weights_of), ("pooled_weighted", pooled, weights_of))
        for label, summary, weights in variants:
            st = enrolled_slope_stats(slope_calibration(list(summary.slope_bins)), pool.slope[enrolled], weights)
            plan = _n_factors(st.mean_obs, st.sd_obs, st.rho)
            entry = {"held_out_patients": summary.n_slope, "mean": round(st.mean_obs, 3),
                     "sd": round(st.sd_obs, 3), "rho": round(st.rho, 3),
                     "n_ratio_t_test": round(plan[0] / truth[0], 3),
                     "n_ratio_ancova": round(plan[1] / truth[1], 3)}
            if weights is not None:
                # patients to enrol: analysed / share; the cohort's own share is the truth
                share = float(weights.mean())
                entry["outcome_share"] = round(share, 3)
                entry["n_enrolled_ratio_ancova"] = round(plan[1] / share / (truth[1] / cohort_share), 3)
            row[label] = entry
        rows.append(row)
    return rows


VARIANTS = ("test_split", "pooled", "test_split_weighted", "pooled_weighted")


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per planner variant over every seed and keep fraction: the range of the sample-size ratios, their mean
    |ln ratio| (0 = exact; 0.1 = about 10 % off) and the mean error of the outcome mean (points/month)."""
    out: dict[str, Any] = {"summary": True, "rows": len(rows)}
    for variant in VARIANTS:
        entry: dict[str, Any] = {}
        for ratio in ("n_ratio_t_test", "n_ratio_ancova"):
            values = np.array([r[variant][ratio] for r in rows])
            entry[ratio] = {"min": float(values.min()), "max": float(values.max()),
                            "mean_abs_log": round(float(np.mean(np.abs(np.log(values)))), 3)}
        entry["outcome_mean_bias"] = round(float(np.mean([r[variant]["mean"] - r["cohort_mean"] for r in rows])), 3)
        out[variant] = entry
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ns = measuring_parser("python -m training.benchmarks.plan_calibration", __doc__, "3101-3104").parse_args(argv)
    rows: list[dict[str, Any]] = []
    for seed in parse_seeds(ns.seeds):
        for row in measure(seed, n_patients=ns.n_patients, independent_patients=ns.independent_patients,
                           blanked_copies=ns.blanked_copies):
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps(summary(rows)), flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
