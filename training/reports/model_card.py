"""The model card of a training run, as Markdown and as one self-contained HTML page.

This module owns the wording of the card: which TRIPOD+AI items it covers (:data:`TRIPOD_SECTIONS`), the standing
statements every card carries (LCN2 in humans is an unvalidated hypothesis; what the test metrics can and cannot
say, worded for the data source: synthetic data or internal validation on real data; research use only), and how
the LCN2 ablation result is put into words (:func:`lcn2_added_value_sentence`). The training job fills a
:class:`ModelCardContext` and calls :func:`render_model_card`; nothing here reads files, models or MLflow.

Both outputs are rendered from one list of sections (:mod:`training.reports.document`) by the templates
``model_card.md`` and ``model_card.html``, so they cannot drift apart; numbers are formatted by the templates'
filters (:mod:`training.reports.formatting`). Every value is escaped: by Jinja's autoescaping in HTML, and with
backslash escapes in Markdown (so a value such as ``<script>`` is shown, never run, by a Markdown viewer that allows
inline HTML). The HTML page has inline CSS and no external resources; figures, when given, are embedded as base64
``data:`` PNGs with their captions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from training.evaluation.sample_size import (
    EPP_REFERENCE,
    MIN_EVENTS_PER_PREDICTOR,
    MIN_SUBGROUP_PATIENTS,
    events_per_predictor,
    events_per_predictor_warning,
    subgroup_flag,
)
from training.reports.document import Block, Bullets, Figure, Para, Section, render, table
from training.reports.formatting import DIGITS, Interval, number

MetricValue = float | tuple[float, float, float]
"""A metric as a bare value, or ``(estimate, ci_low, ci_high)`` when a confidence interval was computed."""

TRIPOD_SECTIONS: tuple[str, ...] = (
    "Summary (TRIPOD+AI 1, 2, 4)",
    "Healthcare context and existing models (TRIPOD+AI 3a)",
    "Target population, intended use and users (TRIPOD+AI 3b)",
    "Health inequalities and fairness (TRIPOD+AI 3c, 14)",
    "Data sources and representativeness (TRIPOD+AI 5a)",
    "Data dates and follow-up (TRIPOD+AI 5b)",
    "Setting, eligibility and treatments (TRIPOD+AI 6a-6c)",
    "Data preparation (TRIPOD+AI 7)",
    "Outcomes (TRIPOD+AI 8a-8c)",
    "Predictors (TRIPOD+AI 9a-9c)",
    "Sample size (TRIPOD+AI 10)",
    "Missing data (TRIPOD+AI 11)",
    "Analytical methods (TRIPOD+AI 12a-12g, 13, 16)",
    "Model output (TRIPOD+AI 15)",
    "Ethics, open science and patient involvement (TRIPOD+AI 17-19)",
    "Participants and outcome events (TRIPOD+AI 20a-20c)",
    "Model specification and subtypes (TRIPOD+AI 21, 22)",
    "Model performance and baselines (TRIPOD+AI 23a)",
    "Calibration (TRIPOD+AI 12e, 23a)",
    "Performance by subgroup (TRIPOD+AI 23b)",
    "Added value of LCN2 (TRIPOD+AI 23a, 25)",
    "Model updating and monitoring (TRIPOD+AI 24)",
    "Limitations and known risks (TRIPOD+AI 26)",
    "Usability in current care and out-of-scope uses (TRIPOD+AI 27a-27c)",
)
"""Section headings of every card, in order (item numbers of the TRIPOD+AI 2024 checklist)."""

LCN2_STATEMENT = (
    "LCN2 (lipocalin-2) effects on ALS progression in humans are an unvalidated hypothesis. Any LCN2 effect this "
    "model has learned, and every LCN2 effect in the built-in simulator, is an assumption to be tested, not an "
    "established fact."
)
SYNTHETIC_STATEMENT = (
    "Metrics computed on synthetic data say nothing about how the model performs in real patients: they only show "
    "how well the pipeline recovers what the simulator planted."
)
REAL_DATA_STATEMENT = (
    "These metrics come from an internal hold-out of one data source; they say nothing about how the model performs "
    "in real patients of other sources, centres or periods until it has been validated externally."
)
"""The non-synthetic counterpart of :data:`SYNTHETIC_STATEMENT` (native, PRO-ACT and DREAM-2012 data)."""
RESEARCH_USE_STATEMENT = (
    "Research use only (trial enrichment and stratification research). Not for individual clinical decisions."
)

DEFAULT_OUTCOMES: tuple[tuple[str, str], ...] = (
    ("alsfrs_r_slope_3_12", "ALSFRS-R slope (points/month): ordinary least-squares slope of the ALSFRS-R total "
     "over the visits with day in (91, 365] after day 0; needs at least 2 visits spanning at least 90 days, "
     "otherwise missing (the patient is then excluded from the slope model, never imputed)."),
    ("time_to_event_months, event_observed", "Event-free survival (months): from day 0 to the first of death, "
     "tracheostomy or permanent ventilation (NIV more than 23 h/day); censored at the last contact day."),
)
DEFAULT_MISSING_DATA = (
    "Every biomarker is optional: a missing value is passed to the fitted pipeline as an explicit missing value "
    "(never as zero) and handled inside the pipeline, identically in training and scoring, so a patient with missing "
    "biomarkers still receives a prediction. Patients without a slope outcome are excluded from the slope model and "
    "its evaluation (the outcome is never imputed). Values are assumed missing at random given the observed data."
)
DEFAULT_INTENDED_USE = (
    "Stratification and prognostic enrichment research for ALS clinical trials: describing and comparing expected "
    "progression in screening or enrolled populations, stratified randomisation (tertile strata of the prognostic "
    "score), covariate adjustment (PROCOVA) and sample-size planning with `alsstrat trial plan` / `POST /trial/plan`, "
    "checked by virtual trials (`alsstrat trial simulate`), under a protocol that fixes the model version."
)
DEFAULT_INTENDED_USERS = (
    "Trial statisticians and trial-design teams; data scientists retraining and comparing models; auditors."
)
DEFAULT_TARGET_POPULATION = (
    "Adults with ALS screened for or enrolled in clinical trials, described by the data available at the model's "
    "landmark (at screening: the scoring visit, day 0, with measurements from the 91 days before it)."
)
DEFAULT_OUT_OF_SCOPE: tuple[str, ...] = (
    "Individual clinical decisions: diagnosis, prognosis communicated to a patient, treatment choice, or care "
    "planning.",
    "Excluding an individual from a trial without a protocol-specified, pre-registered rule and model version.",
    "Any use as evidence that LCN2 drives ALS progression in humans.",
    "Populations unlike the training data (e.g. other motor neuron diseases, paediatric patients, non-trial "
    "registries) without re-evaluation.",
    "Use as a medical device: the model is not validated or certified for clinical use.",
)
DEFAULT_LIMITATIONS: tuple[str, ...] = (
    "Internal validation only: the test set is a patient-level hold-out from the same source as the training data; "
    "there is no external or temporal validation.",
    "Biomarker values from different assays and platforms (e.g. Simoa, Ella, ELISA) are converted to common units "
    "but not harmonised; assay shifts move predictions.",
    "Subtypes are data-driven strata of baseline features, not established biological disease entities.",
    "Confidence intervals come from bootstrapping test patients with the fitted model held fixed; they ignore "
    "model-fitting variability.",
)
DEFAULT_MODEL_DESCRIPTION = (
    "One fitted pipeline computes derived features and preprocessing inside the model. Subtypes: unsupervised "
    "mixture model on standardised baseline features, number of subtypes chosen by BIC and bootstrap stability, with "
    "soft membership probabilities. ALSFRS-R slope: XGBoost quantile regression (10th, 50th and 90th percentile). "
    "Survival: XGBoost survival model (AFT or Cox). Baselines trained beside them: a linear model on the pre-baseline "
    "slope (slope) and a clinical-only Cox model / ENCALS-style linear predictor (survival)."
)
DEFAULT_UPDATING = (
    "Every retraining creates a new registered model version with its own run, data content hash and model card. "
    "The serving alias (champion) moves only through an explicit promotion with a named approver and reason, or an "
    "automatic gate that must beat the current champion on the same evaluation data; every move is appended to a "
    "promotion history that is never rewritten. Performance drift on new cohorts must be checked by re-evaluation "
    "before a model is used on them."
)
SYNTHETIC_ETHICS = "Synthetic data need no ethical approval: no data of real patients were used."
DEFAULT_ETHICS = (
    "Ethical approval and data-use agreements for these data are the responsibility of the data provider and must "
    "be cited here; none was recorded for this run."
)

HEALTHCARE_CONTEXT = (
    "ALS progresses at very different speeds, and this heterogeneity reduces the power of clinical trials. "
    "Existing prognostic models include the ENCALS survival model (Westeneng et al., Lancet Neurology 2018), "
    "the TRICALS risk profile used as a trial-eligibility window, and neurofilament-based slope models. "
    "This model adds LCN2 and data-driven subtypes, and is always compared with clinical baselines."
)
DATA_PREPARATION = (
    "Raw longitudinal tables (patients, visits, biomarkers, events) are validated against contracts (every "
    "violation reported, nothing loaded partially) and assembled into one row per patient at day 0. Only "
    "data on or before day 91 feed baseline fields; outcomes come only from after it. Units are converted "
    "to canonical units at import (NfL and pNfH pg/mL, LCN2 ng/mL, FVC % predicted); an unknown unit is an "
    "error. Derived features are computed inside the fitted pipeline, so training and scoring cannot drift."
)
MODEL_OUTPUT = (
    "Per patient: a subtype with membership probabilities; the predicted ALSFRS-R slope (median with 10th "
    "and 90th percentile, points/month); a survival curve, the median survival (months) and a risk group; "
    "and the model version. The model has no decision threshold: any enrichment window is a protocol "
    "choice."
)


@dataclass(frozen=True)
class ModelCardContext:
    """Everything the model card states about one training run.

    Attributes
    ----------
    model_name, model_version, run_id : str
        Registered model name, its version (None before registration) and the MLflow run id.
    data_source : str
        Source kind and location, e.g. ``"synthetic (scenario default, seed 7)"`` or ``"proact: /data/export"``.
        A value starting with ``"synthetic"`` marks the card as synthetic-data-only.
    data_content_hash : str
        Content hash of the whole cohort table.
    n_train, n_test : int
        Patients in the training and test split.
    n_train_slope, n_test_slope : int
        Of those, patients with a slope outcome.
    n_train_events, n_test_events : int
        Of those, patients with an observed survival endpoint.
    predictors : sequence of (name, unit, description)
        Model input fields (from ``features.spec``); unit ``""`` for unit-free fields.
    generated_at : datetime
        Generation time of the card (UTC when naive).
    git_commit : str or None
        Code version.
    alsfrs_scale : int
        ALSFRS scale maximum of the source (48 for ALSFRS-R, 40 for legacy ALSFRS).
    follow_up_months : (median, max) or None
        Follow-up of all patients, months.
    outcomes : sequence of (name, definition)
    missing_data, eligibility, model_description, intended_use, intended_users, target_population, updating,
    ethics, funding : str
        Narrative text; defaults describe the design of this project and must be overridden when a run deviates.
        ``ethics`` defaults (None) to :data:`SYNTHETIC_ETHICS` or :data:`DEFAULT_ETHICS` by source.
    metrics : mapping of str to float or (estimate, ci_low, ci_high)
        Overall test metrics of the model (e.g. ``test_cindex``). Intervals logged as separate ``<name>_ci_low`` /
        ``<name>_ci_high`` entries are folded into their metric's row (:func:`fold_intervals`).
    baselines : mapping of str to mapping
        Baseline model name → its test metrics (same names as ``metrics`` where comparable).
    subgroup_metrics : mapping of str to float
        Output of :func:`training.evaluation.metrics.subgroup_metrics` (possibly several calls merged).
    subgroup_min_size : int
        The ``min_size`` used there (NaN metrics of smaller subgroups are shown as not evaluated).
    calibration : mapping of str to float or (estimate, ci_low, ci_high)
        Calibration summary numbers, e.g. slope-model and 12-month survival calibration slope/intercept, with their
        intervals when computed.
    calibration_note : str
        Free text, e.g. the calibration time and grouping.
    subtypes : sequence of (name, size, description)
    lcn2_added_cindex, lcn2_added_slope_rmse : (estimate, ci_low, ci_high) or None
        LCN2 added-value test (the models refitted with and without LCN2, i.e. on NfL and clinical data only, in
        every fold of a repeated cross-validation on the training patients; corrected resampled t interval,
        :mod:`training.fit.lcn2_test`), signed so that positive = LCN2 helped:
        ``lcn2_added_cindex`` = C-index(with) − C-index(without); ``lcn2_added_slope_rmse`` = slope RMSE(without) −
        RMSE(with), points/month. These are the run metrics of the same names. None when not run.
    lcn2_confidence : float
        Confidence level of those intervals.
    metrics_confidence : float
        Confidence level of the intervals in ``metrics``.
    out_of_scope, limitations : sequence of str
        Out-of-scope uses; limitations. The standing statements (LCN2; synthetic data or internal validation, by
        source; research use) are always added and cannot be removed.
    environment : mapping of str to str
        Package versions etc.
    figures : mapping of str to bytes
        Figure caption (words, not a file name) → PNG bytes, embedded in the HTML (listed by caption in the
        Markdown).
    owner, license : str
    survival_model : bool, default True
        Whether the model has a survival part; without one (no survival outcome in the source) there is no
        events-per-predictor warning.
    """

    model_name: str
    model_version: str | None
    run_id: str
    data_source: str
    data_content_hash: str
    n_train: int
    n_test: int
    n_train_slope: int
    n_test_slope: int
    n_train_events: int
    n_test_events: int
    predictors: Sequence[tuple[str, str, str]]
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    git_commit: str | None = None
    alsfrs_scale: int = 48
    follow_up_months: tuple[float, float] | None = None
    outcomes: Sequence[tuple[str, str]] = DEFAULT_OUTCOMES
    missing_data: str = DEFAULT_MISSING_DATA
    eligibility: str = ""
    model_description: str = DEFAULT_MODEL_DESCRIPTION
    metrics: Mapping[str, MetricValue] = field(default_factory=dict)
    baselines: Mapping[str, Mapping[str, MetricValue]] = field(default_factory=dict)
    subgroup_metrics: Mapping[str, float] = field(default_factory=dict)
    subgroup_min_size: int = 20
    calibration: Mapping[str, MetricValue] = field(default_factory=dict)
    calibration_note: str = ""
    subtypes: Sequence[tuple[str, int, str]] = ()
    lcn2_added_cindex: tuple[float, float, float] | None = None
    lcn2_added_slope_rmse: tuple[float, float, float] | None = None
    lcn2_confidence: float = 0.95
    subtype_sensitivity: Mapping[str, float] = field(default_factory=dict)
    """Share (0-1) of test patients whose subtype changes when a biomarker is blanked, keyed by analyte
    (``lcn2``, ``nfl``): the run metrics ``test_subtype_changed_without_<analyte>``. Empty: not measured."""
    metrics_confidence: float = 0.95
    intended_use: str = DEFAULT_INTENDED_USE
    intended_users: str = DEFAULT_INTENDED_USERS
    target_population: str = DEFAULT_TARGET_POPULATION
    out_of_scope: Sequence[str] = DEFAULT_OUT_OF_SCOPE
    limitations: Sequence[str] = DEFAULT_LIMITATIONS
    updating: str = DEFAULT_UPDATING
    ethics: str | None = None
    funding: str = "Not recorded for this run."
    environment: Mapping[str, str] = field(default_factory=dict)
    figures: Mapping[str, bytes] = field(default_factory=dict)
    owner: str = "alsstrat maintainers"
    license: str = "Apache-2.0"
    survival_model: bool = True

    def __post_init__(self) -> None:
        counts = {name: getattr(self, name) for name in ("n_train", "n_test", "n_train_slope", "n_test_slope",
                                                         "n_train_events", "n_test_events")}
        negative = {k: v for k, v in counts.items() if v < 0}
        if negative:
            raise ValueError(f"patient counts must be >= 0, got {negative}")
        for split in ("train", "test"):
            total = counts[f"n_{split}"]
            for part in ("slope", "events"):
                if counts[f"n_{split}_{part}"] > total:
                    raise ValueError(f"n_{split}_{part}={counts[f'n_{split}_{part}']} exceeds n_{split}={total}")
        for name, png in self.figures.items():
            Figure(name, png)  # refuses a non-PNG image or a file name as caption

    @property
    def synthetic(self) -> bool:
        """True when the data source is the built-in simulator."""
        return self.data_source.strip().lower().startswith("synthetic")


# ----------------------------------------------------------------------------------------------------------------
# Wording
# ----------------------------------------------------------------------------------------------------------------
def _signed(v: float) -> str:
    return f"{v:+.3f}"


def lcn2_added_value_sentence(metric: Literal["cindex", "slope_rmse"], added: tuple[float, float, float] | None, *,
                              confidence: float = 0.95, synthetic: bool = False) -> str:
    """State the LCN2 ablation result in words.

    Parameters
    ----------
    metric : {"cindex", "slope_rmse"}
        Which ablation result ``added`` holds.
    added : (estimate, ci_low, ci_high) or None
        Added value of LCN2, signed so that positive = LCN2 helped: for ``"cindex"`` C-index(with LCN2) −
        C-index(without); for ``"slope_rmse"`` slope RMSE(without LCN2) − RMSE(with), in points/month. "Without"
        is the model refitted on NfL and clinical data only, scored on the same held-out folds of the
        cross-validation on the training patients.
    confidence : float, default 0.95
        Confidence level of the interval.
    synthetic : bool, default False
        Add that on synthetic data the result reflects the simulator's assumptions.

    Returns
    -------
    str
        The change in the metric when LCN2 is added (for the RMSE: −``added``, so a negative change is an
        improvement), its interval, and the conclusion: e.g. "Adding LCN2 changed the cross-validated C-index by
        +0.031 (95 % CI
        +0.012 to +0.050): in this cohort LCN2 carried prognostic information beyond NfL and clinical data (higher
        C-index with LCN2)." An interval that includes 0 (bounds inclusive) is reported as no evidence of added value.

    Examples
    --------
    >>> lcn2_added_value_sentence("cindex", (0.01, -0.005, 0.02))[:64]
    'Adding LCN2 changed the cross-validated C-index by +0.010 (95 % CI'
    """
    label, unit = {"cindex": ("cross-validated C-index", ""),
                   "slope_rmse": ("cross-validated RMSE of the ALSFRS-R slope", " points/month")}[metric]
    if added is None:
        return f"The LCN2 ablation for the {label} was not run for this model."
    est, lo, hi = (float(v) for v in added)
    if metric == "slope_rmse":
        # Report the change in RMSE itself (with − without), so the sentence reads like the C-index one.
        est, lo, hi = -est, -hi, -lo
    level = f"{100 * confidence:g} %"
    if not all(math.isfinite(v) for v in (est, lo, hi)):
        return (f"The change in the {label} from adding LCN2 could not be estimated (the interval is "
                "undefined), so there is no evidence either way.")
    change = (f"Adding LCN2 changed the {label} by {_signed(est)}{unit} "
              f"({level} CI {_signed(lo)} to {_signed(hi)}{unit})")
    # Lower bound of the improvement: C-index up is better, RMSE down is better.
    helped_lo = lo if metric == "cindex" else -hi
    if lo <= 0.0 <= hi:
        text = (f"{change}: the CI includes 0, so in this cohort there is no evidence that LCN2 adds value beyond "
                "NfL and clinical data.")
    elif helped_lo > 0.0:
        better = "higher C-index" if metric == "cindex" else "lower error"
        text = (f"{change}: in this cohort LCN2 carried prognostic information beyond NfL and clinical data "
                f"({better} with LCN2).")
    else:
        text = (f"{change}: in this cohort adding LCN2 made the prediction worse; there is no evidence that LCN2 adds "
                "value beyond NfL and clinical data.")
    if synthetic:
        text += " On synthetic data this reflects the simulator's LCN2 assumptions, not human biology."
    return text


def fold_intervals(metrics: Mapping[str, MetricValue]) -> dict[str, MetricValue]:
    """Fold interval bounds logged as separate metrics into their metric.

    Parameters
    ----------
    metrics : mapping of str to float or (estimate, ci_low, ci_high)
        E.g. ``{"lcn2_added_cindex": 0.03, "lcn2_added_cindex_ci_low": 0.01, "lcn2_added_cindex_ci_high": 0.05}``,
        the way MLflow stores an interval.

    Returns
    -------
    dict
        Same order, with ``<name>_ci_low`` / ``<name>_ci_high`` removed wherever ``<name>`` is present and
        ``<name>`` mapped to ``(estimate, ci_low, ci_high)``; bounds without their metric are kept as they are.
    """
    out: dict[str, MetricValue] = {}
    for name, value in metrics.items():
        base = name.removesuffix("_ci_low").removesuffix("_ci_high")
        if base != name and base in metrics:
            continue
        low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
        if not isinstance(value, tuple) and isinstance(low, int | float) and isinstance(high, int | float):
            out[name] = (float(value), float(low), float(high))
        else:
            out[name] = value
    return out


def _estimate_and_interval(value: MetricValue) -> tuple[float, Interval | None]:
    if isinstance(value, tuple):
        est, lo, hi = value
        return est, Interval(lo, hi)
    return value, None


def interval_cell(value: MetricValue) -> Interval | str:
    """The CI cell of a metric row: the interval, or why there is none, in words (never an empty cell).

    Examples
    --------
    >>> interval_cell((0.7, 0.65, 0.75))
    Interval(low=0.65, high=0.75)
    >>> interval_cell(float("nan"))
    'none: the metric is undefined on this test set'
    """
    if isinstance(value, tuple):
        est, lo, hi = (float(v) for v in value)
        if math.isfinite(lo) and math.isfinite(hi):
            return Interval(lo, hi)
        if not math.isfinite(est):
            return "none: the metric is undefined on this test set"
        return "none: the metric was undefined on every bootstrap resample"
    if not math.isfinite(float(value)):
        return "none: the metric is undefined on this test set"
    return "none: this run logged no interval for this metric"


_METRIC_HELP: tuple[tuple[str, str], ...] = (
    ("lcn2_added_cindex_p", "two-sided p-value of the LCN2 added C-index (corrected resampled t)"),
    ("lcn2_added_slope_rmse_p", "two-sided p-value of the LCN2 added slope RMSE reduction (corrected resampled t)"),
    ("lcn2_added", "added value of LCN2 over NfL and clinical data (positive = LCN2 helped)"),
    ("oracle_slope_rmse", "noise floor: RMSE of the planted slope against the observed slope (points/month)"),
    ("oracle_survival_cindex", "ceiling: Harrell's C-index of the planted hazard (0.5 = random, 1 = perfect)"),
    ("subtype_changed_without", "share of test patients whose subtype changes when the biomarker is blanked"),
    ("subtype_ari_ceiling_ratio", "subtype ARI / supervised ceiling (target >= 0.85)"),
    ("subtype_ari_ceiling", "ARI of a QDA fitted with the planted subtypes on the same inputs (supervised ceiling)"),
    ("subtype_ari_truth", "adjusted Rand index of the subtypes against the planted ones (simulated data)"),
    ("subtype_champion", "agreement of the subtypes with the champion's on the test patients"),
    ("tau_months", "truncation time tau of the Uno C-index (months)"),
    ("ibs_time", "end of the integrated-Brier-score time grid (months)"),
    ("cindex_uno", "Uno's IPCW C-index, truncated at tau (0.5 = random, 1 = perfect)"),
    ("cindex", "Harrell's C-index of the risk score (0.5 = random, 1 = perfect)"),
    ("ibs", "integrated Brier score of the survival curve (0 = perfect)"),
    ("auc_", "cumulative/dynamic AUC at the given month"),
    ("rmse", "root mean squared error of the slope (points/month)"),
    ("mae", "mean absolute error of the slope (points/month)"),
    ("pearson_r", "Pearson correlation of predicted and observed slope"),
    ("interval_coverage_80", "share of observed slopes inside the 80 % interval (nominal 0.80)"),
    ("interval_width_80", "mean width of the 80 % interval (points/month)"),
    ("calibration_slope", "calibration slope (ideal 1)"),
    ("calibration_intercept", "calibration intercept (ideal 0)"),
)


def _describe(name: str) -> str:
    for key, text in _METRIC_HELP:
        if key in name:
            return text
    return ""


# ----------------------------------------------------------------------------------------------------------------
# Intermediate document
# ----------------------------------------------------------------------------------------------------------------
def _subgroup_table(values: Mapping[str, float], min_size: int) -> Block:
    columns: list[str] = []
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for key, value in values.items():
        parts = key.split(".", 2)
        if len(parts) != 3:
            continue
        metric, factor, label = parts
        if metric not in columns:
            columns.append(metric)
        cells.setdefault((factor, label), {})[metric] = value
    if not cells:
        return Para("No subgroup metrics were computed for this run.")
    def flag(factor: str, label: str) -> str:
        sizes = [v for m, v in cells[(factor, label)].items() if m.endswith("_n")]
        return subgroup_flag(min(sizes) if sizes else None, min_evaluated=min_size)

    rows = [[factor, label, *(cells[(factor, label)].get(m, math.nan) for m in columns), flag(factor, label)]
            for factor, label in cells]
    return table("Test metrics by subgroup (columns ending in _n are patient counts)",
                 ["factor", "group", *columns, "size caution"], rows)


def _sections(ctx: ModelCardContext) -> list[Section]:
    version = ctx.model_version if ctx.model_version is not None else "unregistered"
    generated = ctx.generated_at if ctx.generated_at.tzinfo else ctx.generated_at.replace(tzinfo=UTC)
    stamp = generated.astimezone(UTC).isoformat(timespec="seconds")
    lcn2 = [lcn2_added_value_sentence("cindex", ctx.lcn2_added_cindex, confidence=ctx.lcn2_confidence,
                                      synthetic=ctx.synthetic),
            lcn2_added_value_sentence("slope_rmse", ctx.lcn2_added_slope_rmse, confidence=ctx.lcn2_confidence,
                                      synthetic=ctx.synthetic)]
    # The data statement is worded for the source: a card of a real cohort must not talk about synthetic data.
    data_statement = SYNTHETIC_STATEMENT if ctx.synthetic else REAL_DATA_STATEMENT
    standing = [Para(LCN2_STATEMENT, kind="strong"), Para(data_statement, kind="strong"),
                Para(RESEARCH_USE_STATEMENT, kind="strong")]
    if ctx.synthetic:
        standing.insert(0, Para("This model was trained and evaluated on synthetic (simulated) patients only.",
                                 kind="strong"))
    n_all = ctx.n_train + ctx.n_test
    events_all = ctx.n_train_events + ctx.n_test_events
    epp = events_per_predictor(ctx.n_train_events, len(ctx.predictors))
    epp_warning = (events_per_predictor_warning(ctx.n_train_events, len(ctx.predictors))
                   if ctx.survival_model else None)
    if epp_warning is not None:
        standing.append(Para(epp_warning, kind="strong"))
    metrics = fold_intervals(ctx.metrics)
    ethics = ctx.ethics if ctx.ethics is not None else (SYNTHETIC_ETHICS if ctx.synthetic else DEFAULT_ETHICS)

    sections: dict[str, list[Block]] = {h: [] for h in TRIPOD_SECTIONS}
    s = list(TRIPOD_SECTIONS)

    sections[s[0]] = [
        *standing,
        Para(f"{ctx.model_name} version {version} predicts, from baseline blood/CSF biomarkers (LCN2, neurofilaments) "
             "and clinical data, an ALS progression subtype with membership probabilities, the ALSFRS-R slope with "
             "an 80 % interval, and event-free survival. This card documents the development of this version and "
             "its internal evaluation on a held-out test split."),
        table("This model version", ["item", "value"], [
            ["model", ctx.model_name], ["version", version], ["MLflow run id", ctx.run_id],
            ["code version (git commit)", ctx.git_commit or "not recorded"], ["data source", ctx.data_source],
            ["data content hash", ctx.data_content_hash], ["card generated (UTC)", stamp], ["owner", ctx.owner],
            ["license", ctx.license]]),
        Bullets(tuple(lcn2)),
    ]
    sections[s[1]] = [Para(HEALTHCARE_CONTEXT)]
    sections[s[2]] = [
        Para(f"Target population: {ctx.target_population}"),
        Para(f"Intended use: {ctx.intended_use}"),
        Para(f"Intended users: {ctx.intended_users}"),
        Para(RESEARCH_USE_STATEMENT, kind="strong"),
    ]
    sections[s[3]] = [
        Para("Progression and survival differ by sex, site of onset and age at onset, and these groups are unevenly "
             "represented in trial cohorts (older and bulbar-onset patients are under-represented). Performance is "
             "therefore reported separately by sex, onset site and age at onset (<50, 50-64, >=65 years), with a "
             f"'missing' group where the variable is unknown. Subgroups with fewer than {ctx.subgroup_min_size} test "
             "patients are not evaluated. Ethnicity and socioeconomic status are not recorded in the de-identified "
             "data, so performance across them cannot be assessed. No fairness mitigation was applied."),
    ]
    representativeness = (
        "The data are simulated by a literature-grounded generator; they represent no real population."
        if ctx.synthetic else
        "Representativeness for the target population must be judged for this source: trial-derived cohorts "
        "(e.g. PRO-ACT) select younger, slower, limb-onset patients compared with population registries.")
    sections[s[4]] = [
        Para(f"Source: {ctx.data_source}. ALSFRS scale: 0-{ctx.alsfrs_scale}. Content hash of the whole cohort "
             f"table: {ctx.data_content_hash}."),
        Para(representativeness),
    ]
    follow = ("Follow-up was not summarised for this run." if ctx.follow_up_months is None else
              f"Follow-up: median {number(ctx.follow_up_months[0])} months, maximum "
              f"{number(ctx.follow_up_months[1])} "
              "months.")
    sections[s[5]] = [
        Para("No calendar dates are stored (de-identified by design): all times are days relative to the index day 0 "
             "(native data: the baseline visit; PRO-ACT: trial day 0), and months are days / 30.4375. Accrual "
             f"periods are those of the source. {follow} Card generated {stamp} (UTC)."),
    ]
    sections[s[6]] = [
        Para(ctx.eligibility or
             "One row per patient with a baseline (day 0) record. Slope model: patients with a slope outcome (see "
             "Outcomes). Survival model: all patients with follow-up. Setting and centres are those of the source. "
             "Riluzole use is recorded as a predictor; trial treatment arms of the source are not modelled."),
    ]
    sections[s[7]] = [Para(DATA_PREPARATION)]
    sections[s[8]] = [
        table("Outcome definitions", ["outcome", "definition"], [list(o) for o in ctx.outcomes]),
        Para("Outcome assessment was not blinded to the predictors in the source data (registry or trial records)."),
    ]
    sections[s[9]] = [
        Para("All predictors are baseline values (measurements from days 0-91; history fields such as onset may "
             "precede day 0). Every biomarker is optional."),
        table("Predictors (baseline fields)", ["predictor", "unit", "description"],
              [[n, u or "-", d] for n, u, d in ctx.predictors])
        if ctx.predictors else Para("No predictor list was given."),
    ]
    sections[s[10]] = [
        Para(f"No formal sample-size calculation: the size is that of the available cohort ({number(n_all)} "
             f"patients, {number(events_all)} observed endpoints). Training events per predictor: "
             f"{number(epp, 1)} ({number(ctx.n_train_events)} events, {number(len(ctx.predictors))} predictors; "
             f"the reports warn below {MIN_EVENTS_PER_PREDICTOR:g}, {EPP_REFERENCE}). Subgroup rows with fewer "
             f"than {MIN_SUBGROUP_PATIENTS} patients with the outcome are flagged as small."),
        *([Para(epp_warning, kind="strong")] if epp_warning is not None else []),
    ]
    sections[s[11]] = [Para(ctx.missing_data)]
    sections[s[12]] = [
        Para(ctx.model_description),
        Para("Data use: a patient-level split into training and test sets (no patient in both). All reported metrics "
             "are on the test set. Confidence intervals: percentile bootstrap over test patients, paired (same "
             "resamples) for differences between models."),
        Para("Performance measures: slope - RMSE, MAE, Pearson r, 80 % interval coverage and width, calibration "
             "slope and intercept; survival - Harrell's and Uno's C-index (Uno truncated at tau, the 90th percentile "
             "of training follow-up), integrated Brier score on a grid inside the test follow-up and below tau, "
             "time-dependent AUC at 12 and 24 months, and calibration of predicted survival by risk group against "
             "Kaplan-Meier estimates."),
        Para("Class imbalance (item 13): not applicable; there is no classification outcome, and censoring is "
             "handled by survival methods and inverse-probability-of-censoring weights. Training versus evaluation "
             "(item 16): the test split comes from the same source as the training split (internal validation)."),
    ]
    sections[s[13]] = [Para(MODEL_OUTPUT)]
    sections[s[14]] = [
        Para(f"Ethical approval: {ethics}"),
        Para(f"Code: open source ({ctx.license}), commit {ctx.git_commit or 'not recorded'}. Data: {ctx.data_source}, "
             f"content hash {ctx.data_content_hash}. Funding and conflicts of interest: {ctx.funding}"),
        Para("Patient and public involvement: none in the development of this model version."),
    ]
    sections[s[15]] = [
        table("Patients and outcome events by split", ["split", "patients", "with slope outcome",
                                                        "observed endpoints"], [
            ["train", ctx.n_train, ctx.n_train_slope, ctx.n_train_events],
            ["test", ctx.n_test, ctx.n_test_slope, ctx.n_test_events],
            ["total", n_all, ctx.n_train_slope + ctx.n_test_slope, events_all]]),
    ]
    spec: list[Block] = [Para("The complete fitted pipeline (preprocessing and models) and its hyper-parameters are "
                                "logged with the MLflow run and can be reloaded to reproduce every prediction.")]
    if ctx.subtypes:
        spec.append(table("Subtypes", ["subtype", "size (patients)", "description"], [list(t) for t in ctx.subtypes]))
    else:
        spec.append(Para("No subtype table was given."))
    spec.extend(_subtype_sensitivity_blocks(ctx.subtype_sensitivity))
    if ctx.environment:
        spec.append(table("Software environment", ["component", "version"], sorted(ctx.environment.items())))
    sections[s[16]] = spec
    perf: list[Block] = []
    level = f"{100 * ctx.metrics_confidence:g} %"
    if metrics:
        perf.append(table(f"Test metrics with {level} confidence intervals",
                          ["metric", "value", f"{level} CI", "meaning"],
                          [[name, _estimate_and_interval(v)[0], interval_cell(v), _describe(name)]
                           for name, v in metrics.items()]))
        perf.append(Para(f"Numbers are rounded to {DIGITS} decimals. Intervals are percentile-bootstrap intervals "
                         "over test patients (the model held fixed), except the lcn2_added rows (cross-validated on "
                         "the training patients with a corrected resampled t interval) and the interval coverages "
                         "(shares of patients inside their 80 % interval), whose intervals are Wilson score intervals "
                         "for a binomial proportion. Where a metric has no interval the cell says why.", kind="note"))
    else:
        perf.append(Para("No overall metrics were given."))
    if ctx.baselines:
        names = list(metrics) + [m for b in ctx.baselines.values() for m in b if m not in metrics]
        rows = [[m, _estimate_and_interval(metrics[m])[0] if m in metrics else None,
                 *(_estimate_and_interval(b[m])[0] if m in b else None for b in ctx.baselines.values())]
                for m in dict.fromkeys(names)]
        perf.append(table("The model against its baselines (test set)", ["metric", ctx.model_name, *ctx.baselines],
                          rows))
    else:
        perf.append(Para("No baseline metrics were given."))
    sections[s[17]] = perf
    cal: list[Block] = []
    if ctx.calibration_note:
        cal.append(Para(ctx.calibration_note))
    cal.append(table("Calibration summary (test set)", ["quantity", "value", f"{level} CI"],
                     [[k, _estimate_and_interval(v)[0], interval_cell(v)] for k, v in ctx.calibration.items()])
               if ctx.calibration
               else Para("No calibration summary was given."))
    sections[s[18]] = cal
    sections[s[19]] = [
        Para(f"Metric names read <metric>.<factor>.<group>; 'n/a' marks a subgroup with fewer than "
             f"{ctx.subgroup_min_size} patients (not evaluated) or an undefined metric."),
        _subgroup_table(ctx.subgroup_metrics, ctx.subgroup_min_size),
        Para(f"Size caution: a row whose smallest group has fewer than {MIN_SUBGROUP_PATIENTS} patients with the "
             "outcome is flagged 'small' (its metric is too uncertain to read on its own). Multiple comparisons: "
             "each subgroup metric is a separate estimate with no correction for multiple comparisons; with many "
             "rows, some will differ from the overall metric by chance alone, so read differences between "
             "subgroups as leads to check, not as findings.", kind="note"),
    ]
    sections[s[20]] = [
        Para("The model was refitted without LCN2 (NfL and clinical data only) and both were evaluated on the same "
             "test patients; the changes below are with-LCN2 minus without-LCN2, with paired bootstrap "
             "intervals."),
        Bullets(tuple(lcn2)),
        Para(LCN2_STATEMENT, kind="strong"),
    ]
    sections[s[21]] = [Para(ctx.updating)]
    mandatory = [LCN2_STATEMENT, data_statement]
    sections[s[22]] = [Bullets(tuple(mandatory + [x for x in ctx.limitations if x not in mandatory]))]
    sections[s[23]] = [
        Para(RESEARCH_USE_STATEMENT, kind="strong"),
        Para("Out-of-scope uses:"),
        Bullets(tuple(ctx.out_of_scope)),
    ]
    out = [Section(h, tuple(sections[h])) for h in TRIPOD_SECTIONS]
    if ctx.figures:
        out.append(Section("Figures", tuple(Figure(caption, png) for caption, png in ctx.figures.items())))
    return out


def _subtype_sensitivity_blocks(shares: Mapping[str, float]) -> list[Block]:
    """One self-contained block: how often a test patient's subtype changes when a biomarker is missing."""
    if not shares:
        return []
    names = {"lcn2": "LCN2 (plasma, serum and CSF)", "nfl": "NfL (serum, plasma and CSF)"}
    return [
        table("Subtype sensitivity to a missing biomarker (test patients)",
              ["biomarker blanked", "share of patients whose subtype changes"],
              [[names.get(k, k), v] for k, v in shares.items()]),
        Para("Each biomarker was set to missing for every test patient and the subtype recomputed (missing values "
             "are marginalised out of the mixture, as for a candidate without that measurement). Patients who had no "
             "such measurement cannot change. A subtype that moves when LCN2 is missing rests on LCN2, whose effects "
             "in humans are an unvalidated hypothesis.", kind="note"),
    ]


def render_model_card(ctx: ModelCardContext) -> tuple[str, str]:
    """Render the model card.

    Parameters
    ----------
    ctx : ModelCardContext
        Everything the card states about the run.

    Returns
    -------
    tuple of str
        ``(markdown, html)``: the same content as Markdown and as one self-contained HTML page (inline CSS, no
        external resources, figures embedded as base64 PNG). Every section of :data:`TRIPOD_SECTIONS` is present,
        and the LCN2, data-source (:data:`SYNTHETIC_STATEMENT` or :data:`REAL_DATA_STATEMENT`) and research-use
        statements are always included.
    """
    version = ctx.model_version if ctx.model_version is not None else "unregistered"
    title = f"Model card: {ctx.model_name} version {version}"
    sections = _sections(ctx)
    return (render("model_card.md", title=title, sections=sections).rstrip() + "\n",
            render("model_card.html", title=title, sections=sections))
