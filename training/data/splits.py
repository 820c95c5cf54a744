"""Patient-level splits: one hold-out test set fixed by seed, and grouped CV folds inside the training part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split


@dataclass(frozen=True)
class Split:
    """Row positions (into the cohort table) of the training and test patients."""

    train: np.ndarray
    test: np.ndarray


def strata(cohort: pd.DataFrame, min_size: int = 4) -> pd.Series:
    """Stratification label: endpoint observed x onset site (so both sets see events and bulbar onsets)."""
    event = cohort["event_observed"].astype("boolean").fillna(False).astype(bool).map({True: "event", False: "cens"})
    site = cohort["onset_site"].astype("string").fillna("missing")
    label = event.astype(str) + "|" + site.astype(str)
    # Merge strata too small to be split (one member per fold at least) into one "rare" stratum.
    counts = label.value_counts()
    label = label.where(label.map(counts) >= min_size, "rare")
    if 0 < (label == "rare").sum() < min_size:
        label = label.where(label != "rare", str(label.value_counts().idxmax()))
    return label


OFFICIAL_SPLIT_COLUMN = "split"
"""A cohort column naming each patient's official role (``train``/``test``), e.g. DREAM-2012's."""


def holdout_split(cohort: pd.DataFrame, *, test_fraction: float, seed: int) -> Split:
    """Hold out ``test_fraction`` of the patients, stratified by event and onset site, or the official split.

    When the cohort carries :data:`OFFICIAL_SPLIT_COLUMN` (DREAM-2012), its ``test`` patients are the hold-out and
    ``test_fraction``/``seed`` are not used.

    The cohort has one row per patient, so a row split is a patient split; :func:`assert_no_patient_overlap`
    checks it anyway, because a second row of the same patient would leak.
    """
    positions = np.arange(len(cohort))
    if OFFICIAL_SPLIT_COLUMN in cohort.columns:
        # A source with an official hold-out (DREAM-2012's 625 test patients) is scored on it, never re-split.
        official = cohort[OFFICIAL_SPLIT_COLUMN].astype("string")
        unknown = sorted(set(official.dropna().unique()) - {"train", "test"})
        if unknown or official.isna().any():
            raise ValueError(f"column {OFFICIAL_SPLIT_COLUMN!r} must hold 'train' or 'test' for every patient, got "
                             f"{unknown or 'missing values'}")
        split = Split(positions[(official == "train").to_numpy()], positions[(official == "test").to_numpy()])
        assert_no_patient_overlap(cohort, split)
        return split
    train, test = train_test_split(positions, test_size=test_fraction, random_state=seed,
                                   stratify=strata(cohort).to_numpy())
    split = Split(np.sort(train), np.sort(test))
    assert_no_patient_overlap(cohort, split)
    return split


def assert_no_patient_overlap(cohort: pd.DataFrame, split: Split) -> None:
    """Raise AssertionError if any patient_id appears in both the training and the test rows."""
    ids = cohort["patient_id"].to_numpy()
    shared = set(ids[split.train]) & set(ids[split.test])
    if shared:
        raise AssertionError(f"{len(shared)} patients are in both train and test, e.g. {sorted(shared)[:3]}")


def cv_folds(cohort: pd.DataFrame, *, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped, stratified K-fold positions within ``cohort`` (groups = patient_id)."""
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    labels = strata(cohort, min_size=n_folds).to_numpy()
    groups = cohort["patient_id"].to_numpy()
    return [(tr, va) for tr, va in splitter.split(np.zeros(len(cohort)), labels, groups)]


def repeated_cv_folds(cohort: pd.DataFrame, *, n_repeats: int, n_folds: int,
                      seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Repeated stratified K-fold positions within ``cohort``: ``n_repeats`` shuffles (seeds ``seed``,
    ``seed + 1``, ...) of ``n_folds`` folds each, in that order (repetition-major).

    The cohort has one row per patient (checked), so a row fold is a patient fold; stratified by endpoint and
    onset site as :func:`strata`. A plain ``StratifiedKFold`` is used because ``StratifiedGroupKFold`` costs about
    a second per call on a thousand one-row groups and gives the same folds' balance here.

    Raises
    ------
    ValueError
        If a ``patient_id`` occurs on more than one row.
    """
    from sklearn.model_selection import StratifiedKFold

    ids = cohort["patient_id"]
    if ids.duplicated().any():
        raise ValueError(f"patient_id must be unique per row for patient-level folds, got "
                         f"{int(ids.duplicated().sum())} repeated, e.g. {ids[ids.duplicated()].iloc[0]!r}")
    labels = strata(cohort, min_size=n_folds).to_numpy()
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for r in range(n_repeats):
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed + r)
        out += [(tr, va) for tr, va in splitter.split(np.zeros(len(cohort)), labels)]
    return out
