"""Log a training run's evidence to MLflow: figures, tables, the model card (Markdown + HTML), subtype profiles.

Nothing here contains patient-level data: tables are aggregates (per subtype, per risk group, per K).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np

from features import spec as S
from features.model.mixture import is_t
from training.reports import plots as P
from training.reports.model_card import ModelCardContext, fold_intervals, render_model_card
from training.tracking import git_state, package_versions

if TYPE_CHECKING:
    from training.config import TrainConfig
    from training.data.load import TrainingData
    from training.fit.train import Fitted


FIGURE_CAPTIONS: dict[str, str] = {
    "slope_calibration.png": "Observed against predicted ALSFRS-R slope on the test patients, with the identity and "
                             "the calibration line",
    "survival_calibration_24m.png": "Observed (Kaplan-Meier) against predicted event-free survival at 24 months, by "
                                    "predicted-risk group",
    "km_by_subtype.png": "Kaplan-Meier curves of event-free survival by subtype (test patients)",
    "km_by_risk_group.png": "Kaplan-Meier curves of event-free survival by predicted risk group (test patients)",
    "subtype_profiles.png": "Median baseline features per subtype (colour: standardised across subtypes)",
    "feature_importance.png": "Features with the largest mean absolute contribution to the slope model",
}
"""Caption (in words) of each figure the training job logs, by its artifact file name."""


def figure_caption(name: str) -> str:
    """The caption of a logged figure: from :data:`FIGURE_CAPTIONS`, else its file name turned into words.

    Examples
    --------
    >>> figure_caption("km_by_subtype.png")
    'Kaplan-Meier curves of event-free survival by subtype (test patients)'
    >>> figure_caption("residuals_by_site.png")
    'Residuals by site'
    """
    if name in FIGURE_CAPTIONS:
        return FIGURE_CAPTIONS[name]
    words = name.rsplit(".", 1)[0].replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:]) if " " in words else f"Figure: {words}"


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _triple(metrics: dict[str, float], key: str) -> tuple[float, float, float] | None:
    if key not in metrics:
        return None
    return metrics[key], metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"]


def model_card_context(fitted: Fitted, cfg: TrainConfig, data: TrainingData, *, run_id: str,
                       model_version: str | None, figures: dict[str, bytes]) -> ModelCardContext:
    """Assemble the model card's facts from the fitted run."""
    m = fitted.metrics
    c = fitted.counts
    table = data.cohort.table
    time = table["time_to_event_months"].to_numpy(dtype=float)
    follow = (float(np.nanmedian(time)), float(np.nanmax(time))) if np.isfinite(time).any() else None
    # The LCN2 ablation metrics belong in the table too: their *_ci_low/_ci_high bounds are its only logged
    # intervals, folded into the rows' CI column below.
    main_keys = [k for k in m if k.startswith(("test_", "oracle_", "lcn2_added_")) and "." not in k]
    subgroup = {k: v for k, v in m.items() if "." in k}
    source = data.cohort.source
    meta = fitted.model.metadata
    lm = fitted.model.landmark
    measured = list(meta.get("biomarkers_measured", []))
    description = f"synthetic ({data.description})" if source == "synthetic" else f"{source}: {data.description}"
    return ModelCardContext(
        model_name=cfg.model_name, model_version=model_version, run_id=run_id, data_source=description,
        data_content_hash=data.cohort.content_hash, n_train=c["n_train"], n_test=c["n_test"],
        n_train_slope=c["n_train_with_slope"], n_test_slope=c["n_test_with_slope"],
        n_train_events=c["n_train_events"], n_test_events=c["n_test_events"],
        # The model's inputs at its landmark: the count events per predictor is computed from.
        predictors=[(f.name, f.unit or "", f.description) for f in fitted.model.landmark.fields],
        survival_model=fitted.model.survival is not None,
        git_commit=git_state()["git_commit"], alsfrs_scale=data.cohort.alsfrs_scale, follow_up_months=follow,
        metrics=fold_intervals({k: m[k] for k in main_keys}),
        baselines={name: {metric: m[key]} for name, metric, key in (
            ("pre-slope linear regression (slope)", "test_slope_rmse", "baseline_slope_rmse"),
            ("ENCALS-predictor Cox model (survival)", "test_survival_cindex", "baseline_survival_cindex"),
        ) if key in m},
        outcomes=landmark_outcomes(lm),
        eligibility=(
            f"Prediction landmark: {lm.name} (L = day {lm.day}), {lm.description}. Every survival figure is in "
            f"{lm.time_origin}. One row per patient; the slope model uses patients with a slope outcome, the "
            f"survival model patients with an endpoint or follow-up after the landmark (patients whose endpoint or "
            f"censoring falls at or before it have no survival outcome there). Biomarkers measured in the training "
            f"data: {', '.join(measured) or 'none'}. Subtype model clusters on: "
            f"{', '.join(meta.get('subtype_features', [])) or 'none'}. Survival model: {meta.get('survival_model')}. "
            f"LCN2 ablation: {meta.get('lcn2_ablation')}. Setting and centres are those of the source; trial "
            "treatment arms of the source are not modelled."),
        subgroup_metrics=subgroup, subgroup_min_size=cfg.evaluation.min_subgroup_size,
        calibration=fold_intervals({k.removeprefix("test_"): m[k] for k in m if "calibration" in k}),
        calibration_note="Slope: OLS of observed on predicted median (test patients with an outcome). Survival: "
                         "predicted vs Kaplan-Meier observed survival at 24 months in 5 predicted-risk groups.",
        subtypes=[(s.name, int(s.profile.get("n", 0)), s.description) for s in fitted.model.subtype.subtypes],
        lcn2_added_cindex=_triple(m, "lcn2_added_cindex"), lcn2_added_slope_rmse=_triple(m, "lcn2_added_slope_rmse"),
        subtype_sensitivity={k.removeprefix("test_subtype_changed_without_"): _with_interval(m, k) for k in m
                             if k.startswith("test_subtype_changed_without_") and "_ci_" not in k},
        environment=package_versions(), figures=figures,
        model_description=(
            "Subtype: "
            + _mixture_words(cfg.subtype.t_dof, fitted.model.subtype.dof)
            + " on standardised baseline features (missing values marginalised out), number "
            "of subtypes chosen by BIC among bootstrap-stable solutions, the smallest within "
            f"{cfg.subtype.bic_margin:g} BIC units of the "
            f"best (chosen K = {fitted.selection.k}). Slope: XGBoost point prediction (the "
            f"conditional {fitted.model.slope.point}) with an 80 % interval from quantile boosters (p10, p90) and a "
            "split-conformal correction. Survival: "
            + (f"XGBoost accelerated failure time model, its location, slope and scale recalibrated out of fold "
               f"({fitted.model.survival.distribution} errors chosen by out-of-fold likelihood), giving a survival "
               f"curve, median survival and {cfg.survival.risk_groups} risk groups cut at training-set quantiles"
               if fitted.model.survival is not None else str(meta.get("survival_model")))
            + ". Hyper-parameters by Optuna (grouped cross-validation inside the training patients)."),
    )


def landmark_outcomes(lm: S.Landmark) -> list[tuple[str, str]]:
    """The outcome definitions at the model's landmark, in words (the card's Outcomes section)."""
    window = lm.slope_window_text()
    return [
        ("alsfrs_r_slope_3_12", "ALSFRS-R slope (points/month): ordinary least-squares slope of the ALSFRS-R total "
         f"over the visits with day in {window}; needs at least 2 visits spanning at least 90 days, otherwise "
         "missing (the patient is then excluded from the slope model, never imputed)."),
        ("time_to_event_months, event_observed", f"Event-free survival ({lm.time_origin}): to the first of death, "
         "tracheostomy or permanent ventilation (NIV more than 23 h/day); censored at the last contact day; no "
         "outcome for a patient whose endpoint or censoring falls at or before the landmark."),
    ]


def log_run_artifacts(fitted: Fitted, cfg: TrainConfig, data: TrainingData, *, run_id: str,
                      model_version: str | None) -> dict[str, str]:
    """Log figures, aggregate tables, subtype profiles and the model card to the active run.

    Returns
    -------
    dict
        Artifact names of the model card files.
    """
    pngs: dict[str, bytes] = {}
    for name, fig in fitted.figures.items():
        mlflow.log_figure(fig, f"figures/{name}")
        pngs[figure_caption(name)] = P.figure_png(fig)
    for name, frame in fitted.tables.items():
        mlflow.log_text(frame.to_csv(index=False), f"tables/{name}.csv")
    profiles = [{"label": s.label, "name": s.name, "description": s.description,
                 "profile": {k: _finite_or_none(v) for k, v in s.profile.items()}}
                for s in fitted.model.subtype.subtypes]
    mlflow.log_text(json.dumps(profiles, indent=2), "subtypes.json")
    mlflow.log_text(json.dumps(fitted.tuned, indent=2), "tuned_params.json")
    mlflow.log_text(json.dumps(fitted.counts, indent=2), "counts.json")
    ctx = model_card_context(fitted, cfg, data, run_id=run_id, model_version=model_version, figures=pngs)
    markdown, html = render_model_card(ctx)
    mlflow.log_text(markdown, "model_card.md")
    mlflow.log_text(html, "model_card.html")
    return {"markdown": "model_card.md", "html": "model_card.html"}


def _with_interval(metrics: Mapping[str, float], name: str) -> float | tuple[float, float, float]:
    """A metric with its logged ``_ci_low``/``_ci_high`` as (estimate, low, high), or the bare estimate."""
    low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
    return (metrics[name], low, high) if low is not None and high is not None else metrics[name]


def _family(dof: float | None) -> str:
    return f"multivariate t ({dof:g} degrees of freedom)" if is_t(dof) else "Gaussian"


def _mixture_words(selection_dof: float | None, final_dof: float | None) -> str:
    """How the subtype mixture was fitted: the component family K was chosen with, and the served one."""
    if _family(selection_dof) == _family(final_dof):
        return f"{_family(final_dof)} mixture"
    return (f"{_family(final_dof)} mixture, refitted from the {_family(selection_dof)} mixture with which the "
            "number of subtypes was chosen,")
