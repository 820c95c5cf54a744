"""80 % slope-interval coverage where it matters, on simulated patients the model never saw.

For each fresh simulator seed: simulate 2,000 patients, fit every model as ``alsstrat train`` does (screening
landmark), then report on the held-out patients the interval's coverage overall, for planted fast progressors (true
slope <= -1 point/month), by onset site and by predicted-rate tertile, with the mean width and the fast progressors'
mean error (predicted minus observed, points/month).

``python -m training.benchmarks.interval_coverage --seeds 23,29,31`` prints one JSON object per seed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from training.config import simulated_config
from training.data.load import load_training_data
from training.evaluation.scoring import predict_cohort


def measure(seed: int, *, n_patients: int = 2000) -> dict[str, Any]:
    """Coverage figures for one fresh seed (see the module docstring)."""
    from training.fit.train import fit_and_evaluate

    cfg = simulated_config(seed, n_patients=n_patients, lcn2_ablation=False)
    data = load_training_data(cfg.data)
    if data.truth is None:
        raise ValueError("interval coverage by planted rate needs a simulated cohort")
    fitted = fit_and_evaluate(cfg, data)
    test = data.cohort.table.reset_index(drop=True).iloc[fitted.split.test].reset_index(drop=True)
    pred = predict_cohort(fitted.model, test)
    y = test["alsfrs_r_slope_3_12"].to_numpy(dtype=float)
    ok = ~np.isnan(y)
    covered = (pred.p10 <= y) & (y <= pred.p90)
    true_slope = data.truth.reindex(test["patient_id"].to_numpy())["true_slope_points_per_month"].to_numpy(float)
    fast = ok & (true_slope <= -1.0)
    bulbar = ok & (test["onset_site"] == "bulbar").to_numpy()
    cuts = np.quantile(pred.p50[ok], [1 / 3, 2 / 3])
    tertile = np.searchsorted(cuts, pred.p50, side="right") + 1  # 1 = fastest predicted decline
    return {
        "seed": seed, "n_patients": n_patients, "n_test_with_slope": int(ok.sum()),
        "coverage_overall": float(covered[ok].mean()),
        "coverage_true_fast": float(covered[fast].mean()), "n_true_fast": int(fast.sum()),
        "coverage_bulbar": float(covered[bulbar].mean()), "n_bulbar": int(bulbar.sum()),
        "coverage_by_predicted_tertile": [float(covered[ok & (tertile == k)].mean()) for k in (1, 2, 3)],
        "width_by_predicted_tertile": [float((pred.p90 - pred.p10)[ok & (tertile == k)].mean()) for k in (1, 2, 3)],
        "true_fast_mean_error": float((pred.p50[fast] - y[fast]).mean()),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.benchmarks.interval_coverage",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", default="23,29,31", help="comma-separated fresh simulator seeds")
    parser.add_argument("--n-patients", type=int, default=2000)
    ns = parser.parse_args(argv)
    for seed in (int(s) for s in ns.seeds.split(",") if s.strip()):
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in
                          measure(seed, n_patients=ns.n_patients).items()}), flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
