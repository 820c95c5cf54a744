"""How well the subtype model recovers the simulator's planted strata, seed by seed, against a supervised ceiling.

The same split, features and mixture fit as ``alsstrat train`` (the progression models play no part), scored by ARI
against the planted subtype on the held-out patients, beside the supervised ceiling on the same inputs
(:func:`training.fit.subtype_checks.supervised_ceiling`: a QDA fitted with the planted labels).
``python -m training.benchmarks.subtype_recovery --scenario default --seeds 41,43,47,53`` prints one line per seed
(chosen K, ARI, ceiling, ratio, the share of test patients whose subtype changes when LCN2 or NfL is blanked) and
the worst and median ratio; the acceptance target is ARI >= 0.85 x ceiling
(and ARI >= 0.40 on ``null-lcn2``).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features import spec as S
from features.model.derive import BaselineFeatures
from training.benchmarks.heldout import parse_seeds
from training.config import TrainConfig, load_config, simulated_config
from training.data.load import load_training_data
from training.data.splits import holdout_split
from training.fit.subtype import agreement_with_truth, fit_subtypes
from training.fit.subtype_checks import BLANKED_FIELDS, changed_without, supervised_ceiling


@dataclass(frozen=True)
class Recovery:
    """One seed's subtype recovery: chosen K, test-set ARI, the supervised ceiling and their ratio."""

    seed: int
    k: int
    ari: float
    ceiling: float
    reg_param: float
    selection: str = ""
    """Per K: BIC and mean bootstrap ARI (stability), e.g. ``K=3 BIC 11166 stab 0.91``."""
    changed_without: dict[str, float] | None = None
    """Share of test patients whose subtype changes when the analyte is blanked (``lcn2``, ``nfl``)."""

    @property
    def ratio(self) -> float:
        return self.ari / self.ceiling if self.ceiling > 0 else float("nan")


def subtype_recovery(seed: int, *, n_patients: int = 2000, scenario: str | None = None,
                     cfg: TrainConfig | None = None) -> Recovery:
    """Chosen K, test-set ARI against the planted subtype and the supervised ceiling for one simulated cohort."""
    cfg = simulated_config(seed, n_patients=n_patients, scenario=scenario, cfg=cfg)
    data = load_training_data(cfg.data)
    if data.truth is None:
        raise ValueError("subtype recovery needs a simulated cohort (it has the planted truth)")
    table = data.cohort.table.reset_index(drop=True)
    split = holdout_split(table, test_fraction=cfg.split.test_fraction, seed=cfg.split.seed)
    train, test = table.iloc[split.train].reset_index(drop=True), table.iloc[split.test].reset_index(drop=True)
    baseline = list(S.BASELINE_NAMES)
    deriver = BaselineFeatures(alsfrs_scale_max=data.cohort.alsfrs_scale).fit(train[baseline])
    names = [str(n) for n in deriver.get_feature_names_out()]
    z_train, z_test = deriver.transform(train[baseline]), deriver.transform(test[baseline])
    component, selection = fit_subtypes(z_train, names, train, cfg.subtype)
    proba = component.probabilities(z_test)
    labels = np.array([s.label for s in component.subtypes])[np.argmax(proba, axis=1)]
    truth = data.truth["subtype"]
    planted_train = truth.reindex(train["patient_id"].to_numpy()).to_numpy()
    planted_test = truth.reindex(test["patient_id"].to_numpy()).to_numpy()
    ceiling, reg = supervised_ceiling(component, z_train, planted_train, z_test, planted_test, seed=cfg.split.seed)
    per_k = "; ".join(f"K={k} BIC {bic:.0f} stab {stab:.2f}" for k, bic, stab in
                      zip(selection.table["k"], selection.table["bic"], selection.table["stability_ari"], strict=True))
    changed = {analyte: changed_without(deriver, component, test, fields) for analyte, fields in BLANKED_FIELDS.items()}
    return Recovery(seed=seed, k=selection.k, ari=agreement_with_truth(labels, planted_test)[0], ceiling=ceiling,
                    reg_param=reg, selection=per_k, changed_without=changed)


def subtype_ari(seed: int, *, n_patients: int = 2000, cfg: TrainConfig | None = None) -> tuple[int, float]:
    """(chosen K, test-set ARI against the planted subtype) for one simulated cohort of the default scenario."""
    r = subtype_recovery(seed, n_patients=n_patients, cfg=cfg)
    return r.k, r.ari


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.benchmarks.subtype_recovery",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", default="41,43,47,53", help="comma-separated seeds or ranges (default 41,43,47,53)")
    parser.add_argument("--scenario", default="default", help="simulator scenario (default: default)")
    parser.add_argument("--n-patients", type=int, default=2000, help="simulated patients per seed (default 2000)")
    parser.add_argument("--t-dof", default=None, help=(
        "degrees of freedom of the t components instead of the configured ones; 'gaussian' for Gaussian "
        "components (the comparisons in docs/training.md)"))
    parser.add_argument("--refine-t-dof", default=None, help=(
        "degrees of freedom of the final refit instead of the configured ones; 'gaussian' for Gaussian "
        "components, 'none' for no refit (the comparisons in docs/training.md)"))
    ns = parser.parse_args(argv)
    update: dict[str, float | str | None] = {}
    if ns.t_dof is not None:
        update["t_dof"] = None if ns.t_dof.lower() == "gaussian" else float(ns.t_dof)
    if ns.refine_t_dof is not None:
        choice = ns.refine_t_dof.lower()
        update["refine_t_dof"] = None if choice == "none" else choice if choice == "gaussian" else float(choice)
    cfg = None
    if update:
        base = load_config(None)
        cfg = base.model_copy(update={"subtype": base.subtype.model_copy(update=update)})
    ratios = []
    for seed in parse_seeds(ns.seeds):
        r = subtype_recovery(seed, n_patients=ns.n_patients, scenario=ns.scenario, cfg=cfg)
        ratios.append(r.ratio)
        print(f"{ns.scenario} seed {seed}: K = {r.k}, ARI = {r.ari:.3f}, ceiling = {r.ceiling:.3f} "
              f"(QDA reg_param {r.reg_param:g}), ratio = {r.ratio:.2f}; subtype changes without LCN2 / NfL: "
              + " / ".join(f"{100 * v:.1f} %" for v in (r.changed_without or {}).values())
              + f"  [{r.selection}]", flush=True)
    print(f"worst ratio {min(ratios):.2f}, median {statistics.median(ratios):.2f} over {len(ratios)} seeds")


if __name__ == "__main__":
    main()
