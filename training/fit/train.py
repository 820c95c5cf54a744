"""The training job: cohort -> split -> features -> subtype + progression models -> evaluation -> one MLflow run
and one registered bundle (``als-stratifier``).

``run_training(cfg)`` is the importable entry point; ``alsstrat train`` is a thin CLI over it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd

from features import spec as S
from features.errors import UserInputError
from features.model.bundle import StratifierModel, SurvivalComponent
from features.model.derive import BaselineFeatures
from features.model.heldout import (
    HORIZONS_MONTHS,
    HeldOutSummary,
    summarise_outcome_share,
    summarise_slopes,
    summarise_survival,
)
from training.config import TrainConfig
from training.data.load import TrainingData, load_training_data
from training.data.splits import Split, cv_folds, holdout_split
from training.evaluation import bootstrap as B
from training.evaluation import metrics as E
from training.evaluation.outcomes import Outcomes
from training.evaluation.sample_size import events_per_predictor, events_per_predictor_warning
from training.evaluation.scoring import CI_HIGH, CI_LOW, TEST_PREFIX, evaluate_model, metric_intervals
from training.fit.baselines import SlopeBaseline, SurvivalBaseline
from training.fit.lcn2_test import lcn2_crossfit_test
from training.fit.progression import (
    slope_cv_rmse,
    survival_cv_cindex,
    tune,
)
from training.fit.sparsity import fit_slope_on_sparse_copies, fit_survival_on_sparse_copies
from training.fit.subtype import KSelection, agreement_with_truth, clustering_features, fit_subtypes
from training.fit.subtype_checks import sensitivity_metrics, truth_ceiling_metrics

if TYPE_CHECKING:
    from training.fit.champion_match import Champion

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

Stage = Callable[[str], None]


@dataclass
class TrainResult:
    """What a training run produced (printed by ``alsstrat train --json``)."""

    run_id: str
    model_name: str
    model_version: str
    data_hash: str
    metrics: dict[str, float]
    model_uri: str
    experiment: str
    details: dict[str, Any] = field(default_factory=dict)
    landmark: str = S.DEFAULT_LANDMARK
    biomarkers_measured: list[str] = field(default_factory=list)
    lcn2_ablation: str = "not requested"

    def to_json_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "model_name": self.model_name, "model_version": self.model_version,
                "data_hash": self.data_hash, "landmark": self.landmark,
                "biomarkers_measured": self.biomarkers_measured, "lcn2_ablation": self.lcn2_ablation,
                # JSON has no NaN: an undefined metric (e.g. a survival metric without survival data) is null
                "metrics": {k: (float(v) if np.isfinite(v) else None) for k, v in self.metrics.items()}}


@dataclass
class Fitted:
    """Everything fitted and evaluated, before logging."""

    model: StratifierModel
    metrics: dict[str, float]
    selection: KSelection
    split: Split
    tables: dict[str, pd.DataFrame]
    figures: dict[str, Any]
    tuned: dict[str, dict[str, Any]]
    counts: dict[str, int]


def fit_and_evaluate(cfg: TrainConfig, data: TrainingData, *, stage: Stage | None = None,
                     on_trial: Callable[[str, int, dict[str, Any], float], None] | None = None,
                     champion: Champion | None = None) -> Fitted:
    """Fit every model on the training patients and evaluate on the held-out patients (no MLflow here).

    With a ``champion``, the new subtypes take the champion's labels and names where they match
    (:mod:`training.fit.champion_match`).
    """
    say = stage or (lambda s: None)
    table = data.cohort.table.reset_index(drop=True)
    scale = data.cohort.alsfrs_scale
    split = holdout_split(table, test_fraction=cfg.split.test_fraction, seed=cfg.split.seed)
    train, test = table.iloc[split.train].reset_index(drop=True), table.iloc[split.test].reset_index(drop=True)
    x_train, x_test = train[list(S.BASELINE_NAMES)], test[list(S.BASELINE_NAMES)]
    # Refuse a cohort too small for the models before fitting anything (exit 2 naming the minimum and the count).
    check_enough(int(train["alsfrs_r_slope_3_12"].notna().sum()), MIN_SLOPE_PATIENTS,
                 "training patients with a slope outcome", "the slope model")

    say("features")
    deriver = BaselineFeatures(alsfrs_scale_max=scale).fit(x_train)
    z_train, z_test = deriver.transform(x_train), deriver.transform(x_test)
    names = [str(n) for n in deriver.get_feature_names_out()]

    say("subtypes")
    subtype, selection = fit_subtypes(z_train, names, train, cfg.subtype)
    champion_match = None
    if champion is not None:
        from training.fit.champion_match import incompatibility, match_to_champion

        why_not = incompatibility(champion, alsfrs_scale=scale, landmark=data.cohort.landmark)
        if why_not is None:
            subtype, champion_match = match_to_champion(subtype, champion, z_train, train, z_test, test)
        else:
            logger.warning("subtypes not matched to the champion: %s", why_not)

    # Outcomes (slope target; survival time/event among patients with follow-up) come from the evaluation layer.
    out_train, out_test = Outcomes.from_table(train), Outcomes.from_table(test)
    y_train, y_test = out_train.slope, out_test.slope
    has_y, has_y_test = out_train.has_slope, out_test.has_slope
    slope_rows = train.loc[has_y].reset_index(drop=True)
    slope_folds = cv_folds(slope_rows, n_folds=cfg.split.cv_folds, seed=cfg.split.seed)
    zs, ys = z_train[has_y], y_train[has_y]
    say("tuning slope model")
    slope_params = tune("slope", lambda p: slope_cv_rmse(zs, ys, p, slope_folds, cfg.split.seed, cfg.slope.point),
                        cfg.slope.params, cfg.tuning, "minimize", on_trial)
    say("fitting slope model")
    fitted_slope = fit_slope_on_sparse_copies(deriver, x_train.loc[has_y], ys, cfg.slope, slope_params,
                                              slope_folds, cfg.sparsity, cfg.split.seed)
    slope = fitted_slope.component

    # Survival: patients with follow-up after the landmark. A source without any survival outcome (DREAM-2012)
    # gives a model without a survival part, and says so; a source with too few events is refused.
    ok_train, ok_test = out_train.has_followup, out_test.has_followup
    zt = z_train[ok_train]
    tt, et = out_train.followup()
    survival: SurvivalComponent | None = None
    surv_params: Any = None
    survival_note = "trained"
    if not table["time_to_event_months"].notna().any():
        survival_note = f"not trained: the {data.cohort.source} cohort has no survival outcome"
    else:
        check_enough(int(et.sum()), MIN_SURVIVAL_EVENTS, "endpoints among the training patients",
                     "the survival model")
        surv_rows = train.loc[ok_train].reset_index(drop=True)
        surv_folds = cv_folds(surv_rows, n_folds=cfg.split.cv_folds, seed=cfg.split.seed)
        say("tuning survival model")
        surv_params = tune("survival", lambda p: survival_cv_cindex(zt, tt, et, p, cfg.survival, surv_folds,
                                                                     cfg.split.seed),
                           cfg.survival.params, cfg.tuning, "maximize", on_trial)
        say("fitting survival model")
        survival = fit_survival_on_sparse_copies(deriver, x_train.loc[ok_train], tt, et, cfg.survival, surv_params,
                                                 cfg.sparsity, cfg.split.seed)

    model = StratifierModel(features=deriver, subtype=subtype, slope=slope, survival=survival,
                            metadata={"model_name": cfg.model_name, "alsfrs_scale": scale, "spec_hash": S.spec_hash(),
                                      "data_hash": data.cohort.content_hash, "source": data.cohort.source,
                                      "landmark": data.cohort.landmark,
                                      "biomarkers_measured": biomarkers_measured(train),
                                      "subtype_features": clustering_features(subtype, names),
                                      "survival_model": survival_note,
                                      **({"subtype_champion_match": champion_match.to_dict()}
                                         if champion_match is not None else {})},
                            top_features=cfg.evaluation.top_features)

    say("evaluating")
    # Every test metric comes from the evaluation layer's scoring of the bundle, the function the gate, run
    # comparison and rescoring call too: rescoring this run's model on these patients reproduces these numbers.
    pred = model.predict_arrays(z_test)
    scored = evaluate_model(model, test, train_table=train, truth=data.truth,
                            subgroup_min_size=cfg.evaluation.min_subgroup_size)
    metrics: dict[str, float] = dict(scored.metrics)
    calib = scored.calibration
    # An interval for every headline test metric (bootstrap over test patients; Wilson for coverages), logged as
    # <metric>_ci_low / _ci_high like the LCN2 ablation's, so the card has no interval cell left empty.
    ev = cfg.evaluation
    bounds = metric_intervals(scored.predictions, scored.outcomes, n_resamples=ev.n_bootstrap, seed=ev.seed,
                              train_followup=out_train.followup())
    metrics.update({f"{TEST_PREFIX}{k}": v for k, v in bounds.items()})

    model.held_out = held_out_summary(model, pred, out_test,
                                      out_of_fold=None if fitted_slope.out_of_fold_point is None
                                      else (fitted_slope.out_of_fold_point, ys))
    metrics.update(sensitivity_metrics(model, test))
    metrics.update(truth_ceiling_metrics(subtype, data.truth, z_train, train, z_test, test, seed=cfg.split.seed,
                                         n_resamples=ev.n_bootstrap))
    if champion_match is not None:
        metrics.update(champion_match.metrics())

    say("baselines")
    t_test, e_test = out_test.time, out_test.event
    base_slope = SlopeBaseline(scale).fit(train.loc[has_y], ys)
    base_pred = base_slope.predict(test.loc[has_y_test])
    metrics["baseline_slope_rmse"] = E.rmse(base_pred, y_test[has_y_test])
    if survival is not None:
        base_surv = SurvivalBaseline(scale).fit(train.loc[ok_train], tt, et)
        base_risk = base_surv.risk(test.loc[ok_test])
        metrics["baseline_survival_cindex"] = E.cindex(t_test[ok_test], e_test[ok_test], base_risk)

    tables: dict[str, pd.DataFrame] = {"subtype_selection": selection.table, "survival_calibration_24m": calib,
                                       "subtypes": model.subtype_table()}
    if data.truth is not None:
        truth = data.truth.reindex(test["patient_id"].to_numpy())
        planted = truth["subtype"].to_numpy()
        # test_subtype_ari_truth is among the scored metrics; the contingency table is an artefact.
        tables["subtype_vs_truth"] = agreement_with_truth(pred["chosen"], planted)[1].reset_index()
        true_slope = truth["true_slope_points_per_month"].to_numpy(dtype=float)
        # Coverage for the patients a trial worries about most: planted fast progressors (<= -1 point/month).
        fast = has_y_test & (true_slope <= -1.0)
        if fast.sum() >= 5:
            inside = (pred["p10"][fast] <= y_test[fast]) & (y_test[fast] <= pred["p90"][fast])
            key = "test_slope_interval_coverage_80_true_fast"
            metrics[key] = float(inside.mean())
            metrics[f"{key}{CI_LOW}"], metrics[f"{key}{CI_HIGH}"] = E.wilson_interval(int(inside.sum()),
                                                                                      int(fast.sum()))
        # The planted hazard multiplier ranks the held-out patients as well as anything could from baseline data:
        # the ceiling a survival model's C-index is judged against (the simulator's noise sets it, not the model).
        planted_risk = truth["hazard_multiplier"].to_numpy(dtype=float)
        metrics.update(oracle_metrics(true_slope[has_y_test], y_test[has_y_test],
                                      (t_test[ok_test], e_test[ok_test], planted_risk[ok_test])
                                      if survival is not None else None, ev.n_bootstrap, ev.seed))

    lcn2_measured = any(name in model.metadata["biomarkers_measured"] for name in S.LCN2_FIELDS)
    model.metadata["lcn2_ablation"] = ("evaluated" if cfg.lcn2_ablation and lcn2_measured else
                                       "not evaluable: LCN2 not measured" if cfg.lcn2_ablation else "not requested")
    if cfg.lcn2_ablation and lcn2_measured:
        say("LCN2 added-value test")
        # Cross-fitted on the training patients only (training.fit.lcn2_test); the test patients play no part.
        lcn2 = lcn2_crossfit_test(train, alsfrs_scale=scale, cfg=cfg, survival=survival is not None)
        metrics.update(lcn2.metrics())
        model.metadata["lcn2_test_method"] = lcn2.method
        tables["lcn2_test_folds"] = lcn2.folds

    say("figures")
    figures = make_figures(model, names, z_train, test, pred, has_y_test, ok_test, calib)
    counts = {
        "n_patients": len(table), "n_train": len(train), "n_test": len(test),
        "n_train_with_slope": int(has_y.sum()), "n_test_with_slope": int(has_y_test.sum()),
        "n_train_with_followup": int(ok_train.sum()), "n_test_with_followup": int(ok_test.sum()),
        "n_train_events": int(et.sum()), "n_test_events": int(e_test[ok_test].sum()),
        "n_model_inputs": len(model.landmark.fields),
    }
    if survival is not None:
        # Events per predictor: the sample-size flag the card, the run's tags and the CLI summary show (below 10).
        metrics["train_events_per_predictor"] = events_per_predictor(counts["n_train_events"],
                                                                     counts["n_model_inputs"])
    model.metadata.update({"counts": counts, "metrics": {k: float(v) for k, v in metrics.items()}})
    # a model without a survival part records no survival parameters
    tuned = {"slope": slope_params.model_dump(), **({"survival": surv_params.model_dump()} if surv_params else {})}
    return Fitted(model=model, metrics=metrics, selection=selection, split=split, tables=tables, figures=figures,
                  tuned=tuned, counts=counts)


def oracle_metrics(true_slope: np.ndarray, observed: np.ndarray,
                   survival: tuple[np.ndarray, np.ndarray, np.ndarray] | None, n_resamples: int,
                   seed: int) -> dict[str, float]:
    """The simulator's noise floors on the test patients, with bootstrap intervals (planted truth only).

    ``oracle_slope_rmse``: RMSE (points/month) of the planted slope against the observed one;
    ``oracle_survival_cindex``: Harrell's C-index of the planted hazard multiplier (``survival`` = time in months,
    event, planted risk), when the model has a survival part.
    """
    out: dict[str, float] = {}
    parts: list[tuple[str, int, Callable[[np.ndarray], float]]] = [
        ("oracle_slope_rmse", len(observed), lambda idx: E.rmse(true_slope[idx], observed[idx]))]
    if survival is not None:
        t, e, risk = survival
        parts.append(("oracle_survival_cindex", len(t), lambda idx: E.cindex(t[idx], e[idx], risk[idx])))
    for name, n, fn in parts:
        if n < 2:
            continue
        iv = B.interval(fn, n, n_resamples=n_resamples, seed=seed)
        out.update({name: iv.estimate, f"{name}{CI_LOW}": iv.ci_low, f"{name}{CI_HIGH}": iv.ci_high})
    return out


def held_out_summary(model: StratifierModel, pred: dict[str, Any], out_test: Outcomes,
                     out_of_fold: tuple[np.ndarray, np.ndarray] | None = None) -> HeldOutSummary:
    """The aggregate summary of the held-out patients that trial planning reads from the bundle (binned sums of
    predicted and observed slope, survival calibration by predicted risk; bins of at least 10 patients).

    Parameters
    ----------
    model : StratifierModel
    pred : dict
        The model's predictions for the test split (``p50`` slope in points/month, ``mu`` log months).
    out_test : Outcomes
        The test split's outcomes.
    out_of_fold : (predicted, observed) or None
        Training patients' slopes (points/month) predicted by the cross-validation fold model that did not see
        them, and observed. Pooled with the test split's: the planner's residual variance and rho then rest on
        every patient some model of the run never saw (~5x the test split), not on a few hundred, whose sampling
        error alone moved planned power by 3-5 points. A fold model saw 80 % of the training patients, so its
        errors are, if anything, slightly larger than the final model's: the pooled spread errs conservative.
    """
    has_y = out_test.has_slope
    pred_slope, obs_slope = pred["p50"][has_y], out_test.slope[has_y]
    n_oof = 0
    if out_of_fold is not None:
        n_oof = len(out_of_fold[0])
        pred_slope = np.concatenate([pred_slope, out_of_fold[0]])
        obs_slope = np.concatenate([obs_slope, out_of_fold[1]])
    slope_bins = summarise_slopes(pred_slope, obs_slope)
    share_bins = summarise_outcome_share(pred["p50"], has_y)
    survival_bins: tuple[Any, ...] = ()
    if model.survival is not None:
        ok = out_test.has_followup
        t, e = out_test.followup()
        mu = pred["mu"][ok]
        survival_bins = summarise_survival(mu, model.survival.survival_at(mu, HORIZONS_MONTHS), t, e)
    return HeldOutSummary(slope_bins=slope_bins, survival_bins=survival_bins, slope_out_of_fold=n_oof,
                          outcome_share_bins=share_bins)


MIN_SLOPE_PATIENTS = 50
"""Fewest training patients with a slope outcome for a slope model (and its 5-fold tuning) to mean anything."""

MIN_SURVIVAL_EVENTS = 20
"""Fewest training endpoints for the survival model: with 10-20 events per predictor the usual floor for a
handful of strong predictors, below it the curves and risk groups are noise."""


class TooFewPatients(UserInputError):
    """The cohort is too small for a model: the message names what is counted, the count and the minimum."""


def check_enough(count: int, minimum: int, what: str, model: str) -> None:
    """Refuse to fit ``model`` on fewer than ``minimum`` ``what`` (exit 2 from the CLI, never an internal error).

    Raises
    ------
    TooFewPatients
        ``"too few training patients with a slope outcome for the slope model: 3 (minimum 50)"``.
    """
    if count < minimum:
        raise TooFewPatients(f"too few {what} for {model}: {count} (minimum {minimum})")


def make_figures(model: StratifierModel, names: list[str], z_train: np.ndarray, test: pd.DataFrame,
                 pred: dict[str, Any], has_y_test: np.ndarray, ok_test: np.ndarray,
                 calib: pd.DataFrame) -> dict[str, Any]:
    """The run's plots (matplotlib Figures), keyed by artifact file name."""
    from training.reports import plots as P

    out = Outcomes.from_table(test)
    y = out.slope
    t, e = out.followup()
    name_of = {s.label: s.name for s in model.subtype.subtypes}
    subtype_names = pd.Series([name_of[int(k)] for k in pred["chosen"][ok_test]])
    risk_names = pd.Series([f"risk group {int(g)}" for g in pred["risk_group"][ok_test]])
    import xgboost as xgb

    contrib = model.slope.contributions(xgb.DMatrix(z_train, missing=np.nan, nthread=1))[:, :-1]
    profile = model.subtype_table().set_index("name")
    numeric = profile.select_dtypes("number").drop(columns=["label"], errors="ignore")
    figures = {
        "slope_calibration.png": P.slope_calibration_plot(pred["p50"][has_y_test], y[has_y_test]),
        "subtype_profiles.png": P.subtype_profile_plot(numeric),
        "feature_importance.png": P.importance_plot(names, np.abs(contrib).mean(axis=0)),
    }
    if model.survival is not None:  # a model without survival outcomes has no curves to draw
        figures.update({
            "survival_calibration_24m.png": P.survival_calibration_plot(calib, 24.0),
            "km_by_subtype.png": P.km_plot(t, e, subtype_names, "Kaplan-Meier by subtype (test patients)",
                                           time_origin=model.landmark.time_origin),
            "km_by_risk_group.png": P.km_plot(t, e, risk_names, "Kaplan-Meier by risk group (test patients)",
                                              time_origin=model.landmark.time_origin),
        })
    return figures


def run_training(cfg: TrainConfig, *, stage: Stage | None = None) -> TrainResult:
    """Fit, evaluate, log one MLflow run (nested runs for tuning trials) and register the bundle.

    Returns
    -------
    TrainResult
        Run id, registered version, data hash and the metrics.
    """
    import mlflow

    from training import tracking as T
    from training.reports.run_report import log_run_artifacts

    say = stage or (lambda s: None)
    T.configure_tracking()
    say("loading data")
    started = time.perf_counter()
    data = load_training_data(cfg.data)
    experiment_id = T.ensure_experiment(cfg.experiment)
    cohort = data.cohort
    simulated = cfg.data.source == "synthetic" and cfg.data.input is None
    simulator_seed = cfg.data.simulate.seed if simulated else None
    # stdout is the command's (--json); MLflow's "View run" lines against a server go to stderr instead.
    name = T.run_name(cohort.source, cohort.landmark, cfg.split.seed, simulator_seed)
    with T.stdout_to_stderr(), mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
        run_id = run.info.run_id
        mlflow.set_tags({"data_hash": data.cohort.content_hash, "source": data.cohort.source,
                         "landmark": data.cohort.landmark,
                         "spec_hash": S.spec_hash(), "n_patients": str(len(data.cohort.table)),
                         "alsfrs_scale": str(data.cohort.alsfrs_scale), "data_description": data.description,
                         **T.git_state()})
        mlflow.log_params({k: str(v)[:6000] for k, v in T.flatten("", cfg.model_dump(mode="json")).items()})
        mlflow.log_dict(cfg.model_dump(mode="json"), "config.yaml")
        mlflow.log_dict(T.package_versions(), "environment.json")
        T.log_training_dataset(cohort.table, content_hash=cohort.content_hash, source=cohort.source,
                               landmark=cohort.landmark, description=data.description, path=cfg.data.input)

        def on_trial(kind: str, number: int, params: dict[str, Any], value: float) -> None:
            with mlflow.start_run(experiment_id=experiment_id, nested=True, run_name=f"{kind}-trial-{number}"):
                mlflow.log_params({f"{kind}.{k}": v for k, v in params.items()})
                mlflow.log_metric(f"cv_{'rmse' if kind == 'slope' else 'cindex'}", value)

        from training.fit.champion_match import champion_tags, load_champion

        fitted = fit_and_evaluate(cfg, data, stage=say, on_trial=on_trial, champion=load_champion(cfg.model_name))
        fitted.model.metadata["run_id"] = run_id
        measured = fitted.model.metadata["biomarkers_measured"]
        epp_warning = events_per_predictor_warning(fitted.counts["n_train_events"], fitted.counts["n_model_inputs"])
        if epp_warning is not None and fitted.model.survival is not None:
            mlflow.set_tag("warning.events_per_predictor", epp_warning)
        mlflow.set_tags({"biomarkers_measured": ", ".join(measured) or "none",
                         "lcn2_ablation": fitted.model.metadata["lcn2_ablation"],
                         **({"lcn2_test_method": fitted.model.metadata["lcn2_test_method"]}
                            if "lcn2_test_method" in fitted.model.metadata else {}),
                         "subtype_features": ", ".join(fitted.model.metadata["subtype_features"]),
                         **champion_tags(fitted.model.metadata)})
        fitted.metrics["train_seconds"] = time.perf_counter() - started
        mlflow.log_metrics({k: float(v) for k, v in fitted.metrics.items() if np.isfinite(v)})
        say("logging model")
        info = log_model(fitted.model, cfg)
        version = register(info.model_uri, cfg, data, fitted.metrics)
        mlflow.MlflowClient().update_model_version(cfg.model_name, version, description=T.version_description(
            run_id=run_id, source=cohort.source, landmark=cohort.landmark, n_patients=len(cohort.table),
            content_hash=cohort.content_hash, metrics=fitted.metrics))
        fitted.model.model_version = version
        log_run_artifacts(fitted, cfg, data, run_id=run_id, model_version=version)
    return TrainResult(run_id=run_id, model_name=cfg.model_name, model_version=version,
                       data_hash=data.cohort.content_hash, metrics=fitted.metrics, model_uri=info.model_uri,
                       experiment=cfg.experiment, details={"counts": fitted.counts, "tuned": fitted.tuned},
                       landmark=data.cohort.landmark, biomarkers_measured=list(measured),
                       lcn2_ablation=str(fitted.model.metadata["lcn2_ablation"]))


def biomarkers_measured(table: pd.DataFrame) -> list[str]:
    """Biomarker fields with at least one measured value in ``table`` (empty: "biomarkers measured: none")."""
    return [f.name for f in S.BIOMARKER_FIELDS if f.name in table.columns and table[f.name].notna().any()]


def log_model(model: StratifierModel, cfg: TrainConfig) -> Any:
    """Log the bundle as one pyfunc model (joblib artifact + thin wrapper), signature generated from the spec."""
    import mlflow

    from features.model.pyfunc import BUNDLE_ARTIFACT
    from training import tracking as T

    example = pd.DataFrame(T.input_example())
    output = model.predict_frame(example)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stratifier.joblib"
        joblib.dump(model, path)
        return mlflow.pyfunc.log_model(
            name="model", python_model=_entry_point_path(), artifacts={BUNDLE_ARTIFACT: str(path)},
            signature=T.model_signature(output, model.landmark), input_example=example,
            pip_requirements=T.model_requirements(),
            # Declared so loaders may pass the registry version (unknown at logging time) as model_config.
            model_config={"model_version": "unregistered"},
        )


def _entry_point_path() -> str:
    """File of the models-from-code entry point (found, not imported: importing it registers the model)."""
    from importlib.util import find_spec

    spec = find_spec("features.model.pyfunc_entry")
    if spec is None or spec.origin is None:
        raise RuntimeError("features.model.pyfunc_entry is not importable: is the project installed?")
    return spec.origin


def register(model_uri: str, cfg: TrainConfig, data: TrainingData, metrics: dict[str, float]) -> str:
    """Register a new version of ``cfg.model_name`` tagged with the data hash and key metrics."""
    import mlflow

    key = ("test_slope_rmse", "test_survival_cindex", "test_slope_interval_coverage_80")
    tags = {"data_hash": data.cohort.content_hash, "source": data.cohort.source,
            **{k: f"{metrics[k]:.4f}" for k in key if k in metrics}}
    mv = mlflow.register_model(model_uri, cfg.model_name, tags=tags)
    return str(mv.version)
