"""How well the subtype model recovers the simulator's planted strata, seed by seed.

The same split, features and mixture fit as ``alsstrat train`` (the progression models play no part), scored by ARI
against the planted subtype on the held-out patients. ``python -m training.benchmarks.subtype_recovery --seeds
1-11,2026`` prints one line per seed and the worst and median ARI; the targets test asserts >= 0.5 on a few seeds.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence

import numpy as np

from features import spec as S
from features.model.derive import BaselineFeatures
from training.config import TrainConfig, simulated_config
from training.data.load import load_training_data
from training.data.splits import holdout_split
from training.fit.subtype import agreement_with_truth, fit_subtypes


def subtype_ari(seed: int, *, n_patients: int = 2000, cfg: TrainConfig | None = None) -> tuple[int, float]:
    """(chosen K, test-set ARI against the planted subtype) for one simulated cohort of the default scenario."""
    cfg = simulated_config(seed, n_patients=n_patients, cfg=cfg)
    data = load_training_data(cfg.data)
    if data.truth is None:
        raise ValueError("subtype recovery needs a simulated cohort (it has the planted truth)")
    table = data.cohort.table.reset_index(drop=True)
    split = holdout_split(table, test_fraction=cfg.split.test_fraction, seed=cfg.split.seed)
    train, test = table.iloc[split.train].reset_index(drop=True), table.iloc[split.test].reset_index(drop=True)
    baseline = list(S.BASELINE_NAMES)
    deriver = BaselineFeatures(alsfrs_scale_max=data.cohort.alsfrs_scale).fit(train[baseline])
    names = [str(n) for n in deriver.get_feature_names_out()]
    component, selection = fit_subtypes(deriver.transform(train[baseline]), names, train, cfg.subtype)
    proba = component.probabilities(deriver.transform(test[baseline]))
    labels = np.array([s.label for s in component.subtypes])[np.argmax(proba, axis=1)]
    planted = data.truth.reindex(test["patient_id"].to_numpy())["subtype"].to_numpy()
    return selection.k, agreement_with_truth(labels, planted)[0]


def _seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high) + 1) if high else [int(low)])
    return seeds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.benchmarks.subtype_recovery",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-11,2026", help="comma-separated seeds or ranges (default 1-11,2026)")
    ns = parser.parse_args(argv)
    aris = []
    for seed in _seeds(ns.seeds):
        k, ari = subtype_ari(seed)
        aris.append(ari)
        print(f"seed {seed}: K = {k}, ARI = {ari:.3f}", flush=True)
    print(f"worst ARI {min(aris):.3f}, median {statistics.median(aris):.3f} over {len(aris)} seeds")


if __name__ == "__main__":
    main()
