"""Train on what screening candidates actually send: copies of the training patients with optional fields blanked.

Trial teams score candidates seen once at screening, often with a handful of fields. A booster trained only on
complete-ish cohort rows sends a row with many missing fields down whatever default branch its few training rows
with that field missing chose; measured on seed 107 (2,000 simulated patients), the typical screening candidate
(7 fields) was predicted a median survival of 29 months while the same look-alike patients with all their fields
were predicted 20.5 and observed (Kaplan-Meier) 17.8. Missing at random in training, missing by choice at scoring.

The remedy is missingness augmentation: each training patient appears once as recorded and ``copies`` more times
with whole *units* of optional fields blanked at random (a unit is what a site measures or skips together: the
twelve ALSFRS-R items, one analyte in blood, the respiratory block…). The booster then learns what a blank means
when the field was simply not sent. Copies of one patient always share a cross-validation fold (the folds are
grouped by the returned ``origin``), so no patient is scored by a model that saw a copy of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import spec as S
from features.model.bundle import SurvivalComponent
from features.model.derive import BaselineFeatures
from training.config import BoosterParams, SlopeConfig, SparsityConfig, SurvivalConfig
from training.fit.progression import FittedSlope, Folds, fit_slope, fit_survival

MASKING_UNITS: dict[str, tuple[str, ...]] = {
    "diagnostic delay": ("diagnostic_delay_months",),
    "ALSFRS-R items": tuple(f"alsfrs_q{i}" for i in range(1, 13)),
    "ALSFRS-R lead-in slope": ("alsfrs_r_slope_baseline",),
    "respiratory": ("fvc_pct_pred", "fvc_slope_baseline", "fvc_change_pct"),
    "anthropometric": ("bmi", "weight_change_pct", "weight_slope_baseline"),
    "NfL blood": ("nfl_serum_pg_ml", "nfl_plasma_pg_ml"),
    "NfL CSF": ("nfl_csf_pg_ml",),
    "pNfH": ("pnfh_serum_pg_ml", "pnfh_csf_pg_ml"),
    "LCN2 blood": ("lcn2_plasma_ng_ml", "lcn2_serum_ng_ml"),
    "LCN2 CSF": ("lcn2_csf_ng_ml",),
    "C9orf72": ("c9orf72",),
    "El Escorial": ("el_escorial",),
    "FTD": ("ftd",),
    "riluzole": ("riluzole",),
}
"""Optional baseline fields blanked together (each unit independently). Every optional field of the spec is in
exactly one unit; the required ones (``spec.REQUIRED_FOR_SCORING``) never are (a test checks both)."""


@dataclass(frozen=True)
class Augmented:
    """Training rows with their blanked copies: ``rows`` (baseline fields) and ``origin`` (position of the source
    patient in the input, the same for every copy of one patient)."""

    rows: pd.DataFrame
    origin: np.ndarray


def with_blanked_copies(x: pd.DataFrame, *, copies: int, blank_probability: float, seed: int) -> Augmented:
    """The input rows followed by ``copies`` copies in which each masking unit is blanked with a probability.

    Parameters
    ----------
    x : DataFrame
        Baseline fields of the training patients (``spec.BASELINE_NAMES``), one row per patient.
    copies : int
        Blanked copies per patient (0 returns the input unchanged).
    blank_probability : float
        Probability (0-1) that one unit is blanked in one copy, independently per unit and copy.
    seed : int
        Seed of the blanking draws.

    Returns
    -------
    Augmented
        ``len(x) * (copies + 1)`` rows; the first ``len(x)`` are the input as recorded.
    """
    if copies < 0 or not 0.0 <= blank_probability <= 1.0:
        raise ValueError(f"copies must be >= 0 and blank_probability in [0, 1], got {copies}, {blank_probability}")
    base = x.reset_index(drop=True)
    frames = [base]
    rng = np.random.default_rng(seed)
    units = [[c for c in fields if c in base.columns] for fields in MASKING_UNITS.values()]
    for _ in range(copies):
        copy = base.copy()
        for fields in units:
            if fields:
                blank = rng.random(len(copy)) < blank_probability
                copy.loc[blank, fields] = None  # NaN in float columns, NA/NaN in boolean and categorical ones
        frames.append(copy)
    origin = np.tile(np.arange(len(base)), copies + 1)
    return Augmented(rows=pd.concat(frames, ignore_index=True), origin=origin)


def blank_columns(frame: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """A copy of ``frame`` with the columns ``names`` missing in every row, each keeping its dtype.

    Parameters
    ----------
    frame : DataFrame
        Rows of baseline fields.
    names : iterable of str
        Columns of ``frame`` to blank.

    Returns
    -------
    DataFrame
    """
    out = frame.copy()
    for name in names:
        out[name] = pd.Series([None] * len(out), index=out.index, dtype=frame[name].dtype)
    return out


def optional_fields_without_unit() -> list[str]:
    """Optional baseline fields that no masking unit covers (should be empty; a spec change must extend the units)."""
    covered = {c for fields in MASKING_UNITS.values() for c in fields}
    return [n for n in S.BASELINE_NAMES if n not in S.REQUIRED_FOR_SCORING and n not in covered]


def fit_survival_on_sparse_copies(deriver: BaselineFeatures, x: pd.DataFrame, time: np.ndarray, event: np.ndarray,
                                  cfg: SurvivalConfig, params: BoosterParams, sparsity: SparsityConfig,
                                  seed: int) -> SurvivalComponent:
    """Fit the survival model on the training patients plus their blanked copies.

    Parameters
    ----------
    deriver : BaselineFeatures
        The fitted feature transformer (fitted on the patients as recorded, never on the copies).
    x : DataFrame
        Baseline fields of the training patients with a survival outcome, in the order of ``time``/``event``.
    time : ndarray
        Months from the landmark to the endpoint or censoring (> 0).
    event : ndarray of bool
    cfg, params, seed
        As :func:`training.fit.progression.fit_survival`.
    sparsity : SparsityConfig
        Copies per patient and the blanking probability.

    Returns
    -------
    SurvivalComponent
    """
    z, origin = _derived_with_copies(deriver, x, sparsity, seed)
    return fit_survival(z, time[origin], event[origin], cfg, params, seed,
                        origin=origin if sparsity.blanked_copies else None)


def fit_slope_on_sparse_copies(deriver: BaselineFeatures, x: pd.DataFrame, y: np.ndarray, cfg: SlopeConfig,
                               params: BoosterParams, folds: Folds, sparsity: SparsityConfig,
                               seed: int) -> FittedSlope:
    """Fit the slope model on the training patients plus their blanked copies.

    The conformal calibration keeps the patients' folds: a copy is scored out of fold exactly when its source
    patient is, so the interval corrections come from rows no model saw in any form, recorded or blanked.

    Parameters
    ----------
    deriver : BaselineFeatures
        The fitted feature transformer.
    x : DataFrame
        Baseline fields of the training patients with a slope outcome, in the order of ``y``.
    y : ndarray
        Observed ALSFRS-R slope, months 3-12 after the landmark, points/month.
    folds : list of (train, validation) positions into ``x``
    cfg, params, seed
        As :func:`training.fit.progression.fit_slope`.
    sparsity : SparsityConfig

    Returns
    -------
    FittedSlope
        Its out-of-fold predictions are those of the patients as recorded (the first ``len(x)`` rows), in the
        order of ``y``; the blanked copies' are dropped.
    """
    z, origin = _derived_with_copies(deriver, x, sparsity, seed)
    fitted = fit_slope(z, y[origin], cfg, params, copies_follow_folds(origin, folds), seed)
    oof = fitted.out_of_fold_point
    return FittedSlope(component=fitted.component, out_of_fold_point=None if oof is None else oof[: len(x)])


def _derived_with_copies(deriver: BaselineFeatures, x: pd.DataFrame, sparsity: SparsityConfig,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix of the patients and their blanked copies, and each row's source patient."""
    augmented = with_blanked_copies(x, copies=sparsity.blanked_copies,
                                    blank_probability=sparsity.blank_probability, seed=seed)
    return deriver.transform(augmented.rows), augmented.origin


def copies_follow_folds(origin: np.ndarray, folds: Folds) -> Folds:
    """Patient folds turned into row folds over the augmented rows: every copy sits where its patient sits.

    Parameters
    ----------
    origin : ndarray of int
        Source patient position of each augmented row.
    folds : list of (train, validation) positions of patients

    Returns
    -------
    list of (train, validation) positions of augmented rows
    """
    return [(np.flatnonzero(np.isin(origin, tr)), np.flatnonzero(np.isin(origin, va))) for tr, va in folds]
