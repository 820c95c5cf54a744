"""The cross-fitted LCN2 added-value test: does adding the LCN2 features to NfL and clinical data improve the
progression models on patients the models never saw?

Repeated K-fold cross-validation on the **training patients** (``lcn2_test.repeats`` x ``lcn2_test.folds``, 3 x 5
by default). In every fold, for each of the two feature sets (with and without every LCN2-derived feature,
``BaselineFeatures(include_lcn2=...)`` fitted on the fold's training part) and each endpoint, the number of
boosting rounds is tuned **inside the fold** on a pre-registered grid, the model is refitted on the fold's
training part and scored on the fold's held-out part:

- survival: Harrell C-index of the AFT booster's margin; the fold difference is C(with) - C(without);
- slope: RMSE (points/month) of the point booster; the fold difference is RMSE(without) - RMSE(with).

Positive differences mean LCN2 helped. The ``J = repeats x folds`` paired differences go through the corrected
resampled t-test (:mod:`training.evaluation.corrected_t`; Nadeau & Bengio 2003, Bouckaert & Frank 2004). The
decision "LCN2 adds value" for an endpoint is the two-sided 95 % interval's lower bound > 0 (a one-sided test at
2.5 %); the combined decision is "for either endpoint" (at most 5 % false positives by Bonferroni).

Tuning inside the fold
----------------------
The grid is the number of boosting rounds, 50 to ``tuning.max_trees`` in steps of 50, with the other booster
parameters at the configured base values (``slope.params`` / ``survival.params``), the same for both feature sets.
A share ``lcn2_test.inner_fraction`` of the fold's training patients (stratified by endpoint and onset site) is
held out; one booster with the most rounds is fitted on the rest and scored at every grid value (XGBoost's
``iteration_range``, so the grid costs one fit), the best count (validation RMSE, or C-index for survival; ties to
fewer rounds) is refitted on the whole fold. The job's own Optuna-tuned parameters are not used: they were tuned
on all training patients, held-out folds included, and with LCN2 present. Neither the grid nor the base
parameters look at any ablation result.

LCN2 effects in humans are unvalidated hypotheses: on simulated data this test measures the simulator's planted
assumption, on real data it is evidence about that cohort only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from features import spec as S
from features.model.derive import BaselineFeatures
from training.config import BoosterParams, TrainConfig
from training.data.splits import repeated_cv_folds, strata
from training.evaluation import metrics as E
from training.evaluation.bootstrap import quiet
from training.evaluation.corrected_t import CorrectedT, corrected_resampled_t
from training.evaluation.outcomes import Outcomes
from training.fit.progression import train_point_booster, train_survival_booster

ROUNDS_STEP = 50
"""Step (and smallest value) of the boosting-rounds grid tuned inside each fold."""

MIN_FOLD_EVENTS = 2
"""Fewest endpoints among a fold's held-out patients for its C-index difference to count (else left out)."""


@dataclass(frozen=True)
class Lcn2Test:
    """The result of :func:`lcn2_crossfit_test`.

    Attributes
    ----------
    cindex : CorrectedT or None
        Added C-index, C(with LCN2) - C(without); None when the cohort has no survival outcome.
    slope : CorrectedT
        Added slope accuracy, RMSE(without) - RMSE(with), points/month.
    folds : DataFrame
        One row per fold: repeat, fold, patients, the scores with and without LCN2 and the tuned rounds
        (aggregates only; no patient-level data).
    repeats, n_splits : int
        The CV design (``repeats`` x ``n_splits`` folds).
    seconds : float
        Wall time of the test.
    """

    cindex: CorrectedT | None
    slope: CorrectedT
    folds: pd.DataFrame
    repeats: int
    n_splits: int
    seconds: float

    @property
    def method(self) -> str:
        """The method in one line (logged as the run's ``lcn2_test_method`` tag)."""
        return (f"cross-fitted {self.repeats}x{self.n_splits}-fold CV on the training patients, rounds tuned in "
                f"each fold; corrected resampled t (Nadeau & Bengio 2003), 95 % two-sided")

    @property
    def adds_value(self) -> bool:
        """The combined decision: either endpoint's 95 % interval lies above 0."""
        return self.slope.lower_bound_above_zero or (self.cindex is not None and self.cindex.lower_bound_above_zero)

    def metrics(self) -> dict[str, float]:
        """The logged metrics: ``lcn2_added_cindex`` / ``lcn2_added_slope_rmse`` with ``_ci_low``, ``_ci_high``,
        ``_p``; ``lcn2_test_folds`` (J) and ``lcn2_adds_value`` (1 = yes, 0 = no)."""
        out: dict[str, float] = {}
        for name, r in (("lcn2_added_cindex", self.cindex), ("lcn2_added_slope_rmse", self.slope)):
            if r is None:
                continue
            out.update({name: r.estimate, f"{name}_ci_low": r.ci_low, f"{name}_ci_high": r.ci_high,
                        f"{name}_p": r.p_value})
        out["lcn2_test_folds"] = float(self.repeats * self.n_splits)
        out["lcn2_adds_value"] = float(self.adds_value)
        return out


def rounds_grid(max_trees: int) -> list[int]:
    """The pre-registered boosting-rounds grid: 50, 100, ... up to ``max_trees`` (and ``max_trees`` itself)."""
    grid = list(range(ROUNDS_STEP, max_trees + 1, ROUNDS_STEP))
    return grid if grid and grid[-1] == max_trees else [*grid, max_trees]


def _inner_split(rows: pd.DataFrame, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(rows))
    fit, held = train_test_split(positions, test_size=fraction, random_state=seed,
                                 stratify=strata(rows, min_size=4).to_numpy())
    return np.sort(fit), np.sort(held)


def _tuned_slope(z: np.ndarray, y: np.ndarray, rows: pd.DataFrame, cfg: TrainConfig, grid: list[int],
                 seed: int) -> tuple[xgb.Booster, int]:
    """Point booster with the rounds chosen on an inner hold-out, refitted on all of ``z``."""
    base: BoosterParams = cfg.slope.params
    fit, held = _inner_split(rows, cfg.lcn2_test.inner_fraction, seed)
    booster = train_point_booster(z[fit], y[fit], base.model_copy(update={"n_estimators": grid[-1]}),
                                  cfg.slope.point, cfg.split.seed)
    dm = xgb.DMatrix(z[held], missing=np.nan, nthread=1)
    errors = [E.rmse(np.asarray(booster.predict(dm, iteration_range=(0, g))).reshape(-1), y[held]) for g in grid]
    rounds = grid[int(np.argmin(errors))]
    return train_point_booster(z, y, base.model_copy(update={"n_estimators": rounds}), cfg.slope.point,
                               cfg.split.seed), rounds


def _tuned_survival(z: np.ndarray, t: np.ndarray, e: np.ndarray, rows: pd.DataFrame, cfg: TrainConfig,
                    grid: list[int], seed: int) -> tuple[xgb.Booster, int]:
    """AFT booster with the rounds chosen by inner hold-out C-index, refitted on all of ``z``."""
    base: BoosterParams = cfg.survival.params
    fit, held = _inner_split(rows, cfg.lcn2_test.inner_fraction, seed)
    booster = train_survival_booster(z[fit], t[fit], e[fit], base.model_copy(update={"n_estimators": grid[-1]}),
                                     cfg.survival, cfg.split.seed)
    dm = xgb.DMatrix(z[held], missing=np.nan, nthread=1)
    scores = np.array([E.cindex(t[held], e[held], -np.asarray(booster.predict(dm, iteration_range=(0, g),
                                                                                output_margin=True)))
                       for g in grid])
    rounds = grid[int(np.nanargmax(scores))] if np.isfinite(scores).any() else base.n_estimators
    return train_survival_booster(z, t, e, base.model_copy(update={"n_estimators": rounds}), cfg.survival,
                                  cfg.split.seed), rounds


def lcn2_crossfit_test(train: pd.DataFrame, *, alsfrs_scale: float, cfg: TrainConfig,
                       survival: bool = True) -> Lcn2Test:
    """Run the cross-fitted LCN2 added-value test on the training patients.

    Parameters
    ----------
    train : DataFrame
        The training patients' cohort table (one row per patient; baseline fields and outcome columns). The
        held-out test patients must not be in it.
    alsfrs_scale : float
        Maximum of the ALSFRS scale (48 for ALSFRS-R), for the derived features.
    cfg : TrainConfig
        ``lcn2_test`` (design), ``slope`` / ``survival`` (base booster parameters), ``tuning.max_trees`` (the
        rounds grid's end) and ``split.seed`` (booster seed).
    survival : bool, default True
        Test the survival endpoint too (False for a cohort without survival outcome).

    Returns
    -------
    Lcn2Test
    """
    started = time.perf_counter()
    design = cfg.lcn2_test
    table = train.reset_index(drop=True)
    x = table[list(S.BASELINE_NAMES)]
    out = Outcomes.from_table(table)
    grid = rounds_grid(cfg.tuning.max_trees)
    folds = repeated_cv_folds(table, n_repeats=design.repeats, n_folds=design.folds, seed=design.seed)
    records: list[dict[str, Any]] = []
    with quiet():
        for j, (tr, te) in enumerate(folds):
            rec: dict[str, Any] = {"repeat": j // design.folds + 1, "fold": j % design.folds + 1,
                                   "n_train": len(tr), "n_test": len(te)}
            s_tr, s_te = out.has_slope[tr], out.has_slope[te]
            f_tr, f_te = out.has_followup[tr], out.has_followup[te]
            rec.update({"n_train_slope": int(s_tr.sum()), "n_test_slope": int(s_te.sum()),
                        "n_train_followup": int(f_tr.sum()), "n_test_followup": int(f_te.sum()),
                        "n_test_events": int(out.event[te][f_te].sum())})
            inner_seed = design.seed + j
            for tag, include in (("with", True), ("without", False)):
                deriver = BaselineFeatures(alsfrs_scale_max=alsfrs_scale, include_lcn2=include).fit(x.iloc[tr])
                z_tr, z_te = deriver.transform(x.iloc[tr]), deriver.transform(x.iloc[te])
                booster, rounds = _tuned_slope(z_tr[s_tr], out.slope[tr][s_tr],
                                               table.iloc[tr][s_tr].reset_index(drop=True), cfg, grid, inner_seed)
                pred = np.asarray(booster.predict(xgb.DMatrix(z_te[s_te], missing=np.nan, nthread=1))).reshape(-1)
                rec[f"slope_rmse_{tag}"] = E.rmse(pred, out.slope[te][s_te])
                rec[f"slope_rounds_{tag}"] = rounds
                if not survival:
                    continue
                booster, rounds = _tuned_survival(z_tr[f_tr], out.time[tr][f_tr], out.event[tr][f_tr],
                                                  table.iloc[tr][f_tr].reset_index(drop=True), cfg, grid,
                                                  inner_seed)
                mu = np.asarray(booster.predict(xgb.DMatrix(z_te[f_te], missing=np.nan, nthread=1),
                                                output_margin=True), dtype=float)
                enough = rec["n_test_events"] >= MIN_FOLD_EVENTS
                rec[f"cindex_{tag}"] = (E.cindex(out.time[te][f_te], out.event[te][f_te], -mu) if enough
                                        else float("nan"))
                rec[f"survival_rounds_{tag}"] = rounds
            records.append(rec)
    frame = pd.DataFrame.from_records(records)
    slope_diff = (frame["slope_rmse_without"] - frame["slope_rmse_with"]).to_numpy(dtype=float)
    slope = corrected_resampled_t(slope_diff, test_train_ratio=float(np.mean(frame["n_test_slope"]
                                                                              / frame["n_train_slope"])))
    cindex: CorrectedT | None = None
    if survival:
        c_diff = (frame["cindex_with"] - frame["cindex_without"]).to_numpy(dtype=float)
        cindex = corrected_resampled_t(c_diff, test_train_ratio=float(np.mean(frame["n_test_followup"]
                                                                               / frame["n_train_followup"])))
    return Lcn2Test(cindex=cindex, slope=slope, folds=frame, repeats=design.repeats, n_splits=design.folds,
                    seconds=time.perf_counter() - started)
