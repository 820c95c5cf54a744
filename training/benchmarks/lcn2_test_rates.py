"""False-positive and detection rates of the cross-fitted LCN2 added-value test over fresh simulator seeds.

For each seed: simulate a cohort (``null-lcn2``: LCN2 independent of everything; ``default``: the planted,
hypothesised LCN2 signal), take the training job's hold-out split, and run the test exactly as ``alsstrat train``
does on the training patients (:func:`training.fit.lcn2_test.lcn2_crossfit_test`, the shipped configuration's
design). The false-positive rate is the share of ``null-lcn2`` seeds where the test says "LCN2 adds value"; the
detection rate the share of ``default`` seeds where it does; each per endpoint (C-index, slope RMSE) and for the
combined decision (either endpoint).

``python -m training.benchmarks.lcn2_test_rates --null-seeds 501-510 --default-seeds 601-610 --n-patients 1500``
prints one Markdown row per seed, then the rates. On simulated data the rates describe the test on the
simulator's LCN2 assumptions, which are unvalidated hypotheses in humans.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from training.benchmarks.heldout import parse_seeds as parse_seeds  # the seed syntax of every measuring command
from training.config import load_config, simulated_config
from training.data.load import load_training_data
from training.data.splits import holdout_split


def measure(scenario: str, seed: int, *, n_patients: int, repeats: int | None = None,
            folds: int | None = None) -> dict[str, Any]:
    """One seed: the test's estimates, intervals, p-values and decisions (keys as the logged metrics)."""
    from training.fit.lcn2_test import lcn2_crossfit_test

    design = {k: v for k, v in (("repeats", repeats), ("folds", folds)) if v is not None}
    cfg = simulated_config(seed, n_patients=n_patients, scenario=scenario,
                           lcn2_test={**load_config(None).lcn2_test.model_dump(), **design})
    design_text = f"{cfg.lcn2_test.repeats}x{cfg.lcn2_test.folds}"
    data = load_training_data(cfg.data)
    table = data.cohort.table.reset_index(drop=True)
    split = holdout_split(table, test_fraction=cfg.split.test_fraction, seed=cfg.split.seed)
    train = table.iloc[split.train].reset_index(drop=True)
    result = lcn2_crossfit_test(train, alsfrs_scale=data.cohort.alsfrs_scale, cfg=cfg)
    assert result.cindex is not None  # simulated cohorts always have a survival outcome
    return {"scenario": scenario, "seed": seed, "n_patients": n_patients, "n_train": len(train),
            "design": design_text, **result.metrics(),
            "cindex_adds_value": result.cindex.lower_bound_above_zero,
            "slope_adds_value": result.slope.lower_bound_above_zero,
            "adds_value": result.adds_value, "seconds": result.seconds}


def rates(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Share of rows where each decision says "adds value" (C-index, slope, either)."""
    n = len(rows)
    return {key: sum(bool(r[key]) for r in rows) / n for key in ("cindex_adds_value", "slope_adds_value",
                                                                    "adds_value")}


def _row(r: dict[str, Any]) -> str:
    def yes(v: bool) -> str:
        return "yes" if v else "no"

    return (f"| {r['scenario']} | {r['seed']} | {r['lcn2_added_cindex']:+.4f} [{r['lcn2_added_cindex_ci_low']:+.4f}, "
            f"{r['lcn2_added_cindex_ci_high']:+.4f}] | {r['lcn2_added_cindex_p']:.3f} | "
            f"{r['lcn2_added_slope_rmse']:+.4f} [{r['lcn2_added_slope_rmse_ci_low']:+.4f}, "
            f"{r['lcn2_added_slope_rmse_ci_high']:+.4f}] | {r['lcn2_added_slope_rmse_p']:.3f} | "
            f"{yes(r['cindex_adds_value'])} | {yes(r['slope_adds_value'])} | {yes(r['adds_value'])} | "
            f"{r['seconds']:.0f} |")


HEADER = ("| scenario | seed | added C-index [95 % CI] | p | added slope RMSE reduction (points/month) [95 % CI] | p | "
          "C-index says adds | slope says adds | either says adds | seconds |\n"
          "|---|---|---|---|---|---|---|---|---|---|")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.benchmarks.lcn2_test_rates",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--null-seeds", required=True, help="fresh null-lcn2 seeds, e.g. 501-510 or 1,2,3")
    parser.add_argument("--default-seeds", required=True, help="fresh default seeds, e.g. 601-610")
    parser.add_argument("--n-patients", type=int, default=1500, help="simulated cohort size (default 1500)")
    parser.add_argument("--repeats", type=int, default=None, help="override lcn2_test.repeats")
    parser.add_argument("--folds", type=int, default=None, help="override lcn2_test.folds")
    parser.add_argument("--json", dest="json_path", default=None, help="also write every row and rate to this file")
    ns = parser.parse_args(argv)
    try:
        null_seeds, default_seeds = parse_seeds(ns.null_seeds), parse_seeds(ns.default_seeds)
    except ValueError as exc:
        parser.error(str(exc))  # exit 2, naming the bad part
    if ns.n_patients < 200:
        parser.error(f"--n-patients must be >= 200 for a 5-fold test on the training patients, got {ns.n_patients}")
    try:  # the design is validated before any simulation (e.g. --folds 1 is refused here, exit 2)
        simulated_config(0, n_patients=ns.n_patients, lcn2_test={
            **load_config(None).lcn2_test.model_dump(),
            **{k: v for k, v in (("repeats", ns.repeats), ("folds", ns.folds)) if v is not None}})
    except ValueError as exc:
        parser.error(str(exc))
    print(HEADER, flush=True)
    rows: dict[str, list[dict[str, Any]]] = {"null-lcn2": [], "default": []}
    for scenario, seeds in (("null-lcn2", null_seeds), ("default", default_seeds)):
        for seed in seeds:
            row = measure(scenario, seed, n_patients=ns.n_patients, repeats=ns.repeats, folds=ns.folds)
            rows[scenario].append(row)
            print(_row(row), flush=True)
    fp, det = rates(rows["null-lcn2"]), rates(rows["default"])
    print(f"\nfalse-positive rate over {len(null_seeds)} null-lcn2 seeds: C-index {fp['cindex_adds_value']:.0%}, "
          f"slope {fp['slope_adds_value']:.0%}, either {fp['adds_value']:.0%}")
    print(f"detection rate over {len(default_seeds)} default seeds: C-index {det['cindex_adds_value']:.0%}, "
          f"slope {det['slope_adds_value']:.0%}, either {det['adds_value']:.0%}")
    if ns.json_path:
        with open(ns.json_path, "w") as fh:
            json.dump({"rows": rows, "false_positive_rate": fp, "detection_rate": det}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
