"""What a subtype model is judged against and how fragile its assignments are.

* :func:`supervised_ceiling` -- the adjusted Rand index a *supervised* classifier reaches on the same inputs: a
  quadratic discriminant (one Gaussian per planted subtype, ``sklearn`` QDA with ``reg_param`` chosen by 5-fold
  cross-validation on the training split only) fitted with the planted labels on exactly the clustering features
  the mixture sees, with missing values handled as the mixture handles them (marginalised out of each class's
  Gaussian, or filled with the training median for a median-filling model), scored on the test split. An
  unsupervised model cannot be expected to beat it: it is the ceiling ``test_subtype_ari_truth`` is read against.
* :func:`changed_without` -- the share of patients whose subtype changes when a biomarker is blanked (as if it
  had not been measured), e.g. LCN2, whose effects in humans are unvalidated hypotheses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from features import spec as S
from features.model.mixture import component_log_densities
from training.evaluation import bootstrap as B
from training.evaluation import metrics as E
from training.fit.sparsity import blank_columns

if TYPE_CHECKING:
    from features.model.bundle import StratifierModel, SubtypeComponent
    from features.model.derive import BaselineFeatures

REG_PARAM_GRID = (0.0, 0.01, 0.03, 0.1, 0.3, 0.6, 0.9)
"""QDA shrinkage values tried (0 = the class covariances as estimated, 1 = identity on standardised features)."""


def supervised_ceiling(component: SubtypeComponent, z_train: np.ndarray, planted_train: np.ndarray,
                       z_test: np.ndarray, planted_test: np.ndarray, *, seed: int = 0) -> tuple[float, float]:
    """Test-set ARI of a QDA fitted with the planted labels on the clustering features (the supervised ceiling).

    See :func:`ceiling_assignments` for the parameters.

    Returns
    -------
    (ari, reg_param)
        ARI of the QDA's test assignments against the planted labels, and the chosen shrinkage.
    """
    predicted, reg_param = ceiling_assignments(component, z_train, planted_train, z_test, seed=seed)
    return float(adjusted_rand_score(planted_test, predicted)), reg_param


def ceiling_assignments(component: SubtypeComponent, z_train: np.ndarray, planted_train: np.ndarray,
                        z_test: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, float]:
    """Test assignments of a QDA fitted with the planted labels on the clustering features.

    Parameters
    ----------
    component : SubtypeComponent
        The fitted subtype model: its feature columns, transforms, standardisation and missing-value handling are
        reused, so the ceiling sees exactly the mixture's inputs.
    z_train, z_test : ndarray
        Derived-feature matrices of the training and test patients.
    planted_train : ndarray
        Planted subtype labels of the training patients.
    seed : int, default 0
        Seed of the cross-validation folds that choose ``reg_param``.

    Returns
    -------
    (labels, reg_param)
        The QDA's planted-label assignment of each test patient, and the chosen shrinkage.
    """
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    x_train, x_test = component.standardise(z_train), component.standardise(z_test)
    complete = ~np.isnan(x_train).any(axis=1)  # class Gaussians from patients with every feature (missing at random)
    search = GridSearchCV(QuadraticDiscriminantAnalysis(), {"reg_param": list(REG_PARAM_GRID)},
                          cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=seed))
    search.fit(x_train[complete], planted_train[complete])
    qda = search.best_estimator_
    covariances = np.stack([(r * s) @ r.T for r, s in zip(qda.rotations_, qda.scalings_, strict=True)])
    log_p = component_log_densities(x_test, qda.priors_, qda.means_, covariances)
    predicted = qda.classes_[np.argmax(log_p, axis=1)]
    return predicted, float(search.best_params_["reg_param"])


BLANKED_FIELDS: dict[str, tuple[str, ...]] = {
    "lcn2": tuple(f.name for f in S.BIOMARKER_FIELDS if f.analyte == "lcn2"),
    "nfl": tuple(f.name for f in S.BIOMARKER_FIELDS if f.analyte == "nfl"),
}
"""Baseline fields blanked for each sensitivity metric (every matrix of the analyte)."""


def changed_without(features: BaselineFeatures, subtype: SubtypeComponent, table: pd.DataFrame,
                    fields: Sequence[str]) -> float:
    """Share of patients (0-1) whose subtype changes when ``fields`` are blanked (set missing).

    Parameters
    ----------
    features : BaselineFeatures
        The model's fitted feature transformer.
    subtype : SubtypeComponent
        The model's subtype component.
    table : DataFrame
        Cohort rows with every baseline field.
    fields : sequence of str
        Baseline fields to blank.

    Returns
    -------
    float
        NaN for an empty table.
    """
    if len(table) == 0:
        return float("nan")
    x = table[list(S.BASELINE_NAMES)]
    blanked = blank_columns(x, fields)
    before = np.argmax(subtype.probabilities(features.transform(x)), axis=1)
    after = np.argmax(subtype.probabilities(features.transform(blanked)), axis=1)
    return float(np.mean(before != after))


def sensitivity_metrics(model: StratifierModel, test: pd.DataFrame) -> dict[str, float]:
    """``test_subtype_changed_without_lcn2`` and ``test_subtype_changed_without_nfl`` (shares, 0-1), each with its
    Wilson score interval (``_ci_low``/``_ci_high``, a binomial proportion of the test patients)."""
    out: dict[str, float] = {}
    for analyte, fields in BLANKED_FIELDS.items():
        key = f"test_subtype_changed_without_{analyte}"
        share = changed_without(model.features, model.subtype, test, fields)
        out[key] = share
        if len(test):
            changed = int(round(share * len(test)))
            out[f"{key}_ci_low"], out[f"{key}_ci_high"] = E.wilson_interval(changed, len(test))
    return out


def truth_ceiling_metrics(component: SubtypeComponent, truth: pd.DataFrame | None, z_train: np.ndarray,
                          train: pd.DataFrame, z_test: np.ndarray, test: pd.DataFrame, *,
                          seed: int, n_resamples: int = 200) -> dict[str, float]:
    """``test_subtype_ari_ceiling`` (the supervised ceiling) and ``test_subtype_ari_ceiling_ratio`` (the model's
    ``test_subtype_ari_truth`` is computed by the evaluation layer); nothing without planted truth (real data)."""
    if truth is None:
        return {}
    planted = truth["subtype"]
    y_train = planted.reindex(train["patient_id"].to_numpy()).to_numpy()
    y_test = planted.reindex(test["patient_id"].to_numpy()).to_numpy()
    qda_labels, _ = ceiling_assignments(component, z_train, y_train, z_test, seed=seed)
    ceiling = float(adjusted_rand_score(y_test, qda_labels))
    labels = np.array([s.label for s in component.subtypes])
    chosen = labels[np.argmax(component.probabilities(z_test), axis=1)]
    ari = float(adjusted_rand_score(y_test, chosen))

    def ratio(idx: np.ndarray) -> float:
        top = adjusted_rand_score(y_test[idx], qda_labels[idx])
        return float(adjusted_rand_score(y_test[idx], chosen[idx]) / top) if top > 0 else float("nan")

    # Percentile bootstrap over the test patients, both partitions held fixed (as for every other test metric).
    top = B.interval(lambda idx: float(adjusted_rand_score(y_test[idx], qda_labels[idx])), len(y_test),
                     n_resamples=n_resamples, seed=seed)
    rel = B.interval(ratio, len(y_test), n_resamples=n_resamples, seed=seed)
    return {"test_subtype_ari_ceiling": ceiling, "test_subtype_ari_ceiling_ci_low": top.ci_low,
            "test_subtype_ari_ceiling_ci_high": top.ci_high,
            "test_subtype_ari_ceiling_ratio": ari / ceiling if ceiling > 0 else float("nan"),
            "test_subtype_ari_ceiling_ratio_ci_low": rel.ci_low, "test_subtype_ari_ceiling_ratio_ci_high": rel.ci_high}
