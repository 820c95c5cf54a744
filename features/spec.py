"""The feature spec: the single source of truth for every raw and cohort field.

Every other description of the data is generated from this module: the raw-table contracts
(:mod:`features.contracts`), the cohort-table schema, the model's input columns, the MLflow
signature and the HTTP request schema. Change a field here and all of them follow.

Time is in days relative to the index day 0 (native: the baseline visit; PRO-ACT: trial day 0);
months are days / 30.4375. Canonical units: NfL and pNfH pg/mL, LCN2 ng/mL, FVC % predicted,
weight kg, height cm, ALSFRS-R 0–48 (12 items 0–4).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 30.4375
"""Days in an average Gregorian month; months = days / DAYS_PER_MONTH everywhere."""

BASELINE_WINDOW_END_DAY = 91
"""Length of the lead-in window, days: the ``lead-in`` landmark is day 91 and its series fields use days [0, 91]."""

SLOPE_WINDOW_END_DAY = 365
"""Last day (inclusive) of the slope-outcome window of every landmark."""

MEASUREMENT_LOOKBACK_DAYS = 91
"""At the ``screening`` landmark, a measurement may come from up to this many days before day 0 (the value
nearest day 0 is used): a screening visit's labs are often drawn a few weeks before the visit itself."""

SLOPE_MIN_VISITS = 2
SLOPE_MIN_SPAN_DAYS = 90

Kind = Literal["id", "numeric", "integer", "categorical", "boolean", "text"]
Group = Literal["id", "clinical", "functional", "respiratory", "anthropometric", "biomarker", "genetic", "outcome",
                "history", "truth"]


@dataclass(frozen=True)
class FieldSpec:
    """One field of a raw table or of the cohort table.

    Attributes
    ----------
    name : str
        Column name (lower_snake; the unit is in the name where two units could be confused).
    kind : {"id", "numeric", "integer", "categorical", "boolean", "text"}
        Logical type. ``integer`` values must be whole numbers; ``numeric`` values are floats.
    description : str
        What the field means, its unit and the source of its definition or bounds.
    unit : str or None
        Canonical unit, e.g. ``"pg/mL"``; None for unit-free fields.
    lower, upper : float or None
        Inclusive plausibility bounds in the canonical unit.
    categories : tuple of str or None
        Allowed values of a categorical field.
    required : bool
        The column must exist and every value must be present (non-null).
    group : str
        Clinical grouping, used for documentation and for the LCN2 ablation.
    """

    name: str
    kind: Kind
    description: str
    unit: str | None = None
    lower: float | None = None
    upper: float | None = None
    categories: tuple[str, ...] | None = None
    required: bool = False
    group: Group = "clinical"

    def bounds_text(self) -> str:
        """Human-readable rule text, e.g. ``within [0, 48] (points)``."""
        if self.categories is not None:
            return "one of " + ", ".join(self.categories)
        if self.lower is not None and self.upper is not None:
            unit = f" ({self.unit})" if self.unit else ""
            return f"within [{_num(self.lower)}, {_num(self.upper)}]{unit}"
        if self.lower is not None:
            return f">= {_num(self.lower)}"
        if self.upper is not None:
            return f"<= {_num(self.upper)}"
        return ""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class TableSpec:
    """A raw table: its fields and the columns that must be unique together."""

    name: str
    description: str
    fields: tuple[FieldSpec, ...]
    key: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec:
        """Return the field called ``name`` (KeyError naming the table otherwise)."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"table {self.name!r} has no field {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


# --------------------------------------------------------------------------------------------------------------------
# Shared vocabularies
# --------------------------------------------------------------------------------------------------------------------
SEX = ("female", "male")
ONSET_SITE = ("bulbar", "limb", "respiratory", "other")
EL_ESCORIAL = ("definite", "probable", "probable_lab", "possible", "unknown")
C9ORF72 = ("positive", "negative", "unknown")
FTD = ("yes", "no", "unknown")
ANALYTES = ("nfl", "pnfh", "lcn2")
MATRICES = ("serum", "plasma", "csf")
EVENTS = ("death", "tracheostomy", "permanent_niv")

ALSFRS_ITEMS = tuple(f"alsfrs_q{i}" for i in range(1, 13))
"""ALSFRS-R items in questionnaire order (Cedarbaum 1999): Q1 speech, Q2 salivation, Q3 swallowing, Q4 handwriting,
Q5 cutting food (5a without / 5b with gastrostomy), Q6 dressing and hygiene, Q7 turning in bed, Q8 walking,
Q9 climbing stairs, Q10 dyspnoea (R1), Q11 orthopnoea (R2), Q12 respiratory insufficiency (R3)."""

ALSFRS_ITEM_LABELS = (
    "speech", "salivation", "swallowing", "handwriting", "cutting food", "dressing and hygiene", "turning in bed",
    "walking", "climbing stairs", "dyspnoea", "orthopnoea", "respiratory insufficiency",
)

ALSFRS_DOMAINS: dict[str, tuple[str, ...]] = {
    "bulbar": ALSFRS_ITEMS[0:3],
    "fine_motor": ALSFRS_ITEMS[3:6],
    "gross_motor": ALSFRS_ITEMS[6:9],
    "respiratory": ALSFRS_ITEMS[9:12],
}
"""ALSFRS-R domain subscores (each 0–12), the grouping used by Franchignoni et al. 2013 (Rasch analysis)."""

DAY_LIMIT = 36_525  # 100 years in days: anything beyond is a data error, not a patient history

# Units accepted per analyte and their factor to the canonical unit. Sources: SI identities
# (1 ng/L = 1 pg/mL; 1 µg/L = 1 ng/mL). Anything else is refused with the value named.
CANONICAL_UNIT = {"nfl": "pg/mL", "pnfh": "pg/mL", "lcn2": "ng/mL"}
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "nfl": {"pg/ml": 1.0, "ng/l": 1.0, "ng/ml": 1000.0},
    "pnfh": {"pg/ml": 1.0, "ng/l": 1.0, "ng/ml": 1000.0},
    "lcn2": {"ng/ml": 1.0, "µg/l": 1.0, "ug/l": 1.0, "pg/ml": 0.001, "µg/ml": 1000.0, "ug/ml": 1000.0, "mg/l": 1000.0},
}


def _unit_key(unit: str) -> str:
    return unit.strip().lower().replace(" ", "").replace("mcg", "µg").replace("μ", "µ")


def unit_factors(analytes: pd.Series, units: pd.Series) -> pd.Series:
    """Vectorised :func:`unit_factor`: the factor per row, NaN where the analyte or unit is unknown or missing."""
    keys = units.astype("string").str.strip().str.lower().str.replace(" ", "", regex=False)
    keys = keys.str.replace("mcg", "µg", regex=False).str.replace("μ", "µ", regex=False)
    out = pd.Series(np.nan, index=units.index, dtype="float64")
    for analyte, table in UNIT_FACTORS.items():
        rows = (analytes == analyte).fillna(False).to_numpy(dtype=bool)
        out[rows] = keys[rows].map(table).astype("float64")
    return out


def unit_factor(analyte: str, unit: str) -> float:
    """Factor that converts a value in ``unit`` to the analyte's canonical unit.

    Parameters
    ----------
    analyte : {"nfl", "pnfh", "lcn2"}
    unit : str
        Unit as written in the raw data; matched case-insensitively, spaces ignored, "mcg" read as "µg".

    Returns
    -------
    float
        Multiply the raw value by this factor to get pg/mL (NfL, pNfH) or ng/mL (LCN2).

    Raises
    ------
    KeyError
        For an unknown analyte or unit; the message names the value and the accepted units.
    """
    key = _unit_key(unit)
    factors = UNIT_FACTORS[analyte]
    if key not in factors:
        raise KeyError(f"unknown unit {unit!r} for analyte {analyte!r} (accepted: {', '.join(factors)})")
    return factors[key]


# --------------------------------------------------------------------------------------------------------------------
# Raw tables (native source: one CSV or Parquet file each)
# --------------------------------------------------------------------------------------------------------------------
_PID = FieldSpec("patient_id", "id", "De-identified patient identifier (no names, no dates of birth).",
                 required=True, group="id")
_DAY = FieldSpec("day", "integer", "Day relative to the index day 0 (native: baseline visit; PRO-ACT: trial day 0).",
                 unit="days", lower=-DAY_LIMIT, upper=DAY_LIMIT, required=True, group="id")

PATIENTS = TableSpec(
    "patients",
    "One row per patient: demographics, disease history and genetics.",
    (
        _PID,
        FieldSpec("sex", "categorical", "Sex recorded at enrolment.", categories=SEX),
        FieldSpec("age_at_onset_years", "numeric", "Age at first weakness or bulbar symptom, years.", unit="years",
                  lower=10, upper=100, required=True),
        FieldSpec("onset_site", "categorical", "Region of first symptoms (El Escorial regions; 'respiratory' onset is "
                  "rare, ~1-3 %).", categories=ONSET_SITE, required=True),
        FieldSpec("onset_day", "integer", "Day of symptom onset relative to day 0 (negative: before the index day).",
                  unit="days", lower=-DAY_LIMIT, upper=0, required=True, group="history"),
        FieldSpec("diagnosis_day", "integer", "Day of ALS diagnosis relative to day 0.", unit="days",
                  lower=-DAY_LIMIT, upper=DAY_LIMIT, group="history"),
        FieldSpec("el_escorial", "categorical", "Revised El Escorial category at diagnosis (Brooks 2000).",
                  categories=EL_ESCORIAL),
        FieldSpec("c9orf72", "categorical", "C9orf72 hexanucleotide repeat expansion status.", categories=C9ORF72,
                  group="genetic"),
        FieldSpec("ftd", "categorical", "Frontotemporal dementia diagnosed (Strong 2017 criteria).", categories=FTD),
        FieldSpec("riluzole", "boolean", "Taking riluzole at baseline."),
        FieldSpec("height_cm", "numeric", "Standing height, cm.", unit="cm", lower=100, upper=230,
                  group="anthropometric"),
        FieldSpec("last_contact_day", "integer", "Last day the patient was known alive and event-free "
                  "(censoring day when no event).", unit="days", lower=0, upper=DAY_LIMIT, required=True,
                  group="history"),
    ),
    key=("patient_id",),
)

VISITS = TableSpec(
    "visits",
    "One row per clinic visit: ALSFRS-R (total and/or the 12 items), FVC and weight.",
    (
        _PID,
        _DAY,
        FieldSpec("alsfrs_r_total", "integer", "ALSFRS-R total score (Cedarbaum 1999), 0-48, higher is better; when "
                  "absent it is the sum of the 12 items.", unit="points", lower=0, upper=48, group="functional"),
        *(
            FieldSpec(item, "integer", f"ALSFRS-R item {i + 1} ({label}), 0-4, 4 = normal.", unit="points",
                      lower=0, upper=4, group="functional")
            for i, (item, label) in enumerate(zip(ALSFRS_ITEMS, ALSFRS_ITEM_LABELS, strict=True))
        ),
        FieldSpec("fvc_pct_pred", "numeric", "Forced vital capacity, % of predicted (best of up to 3 trials).",
                  unit="% predicted", lower=0, upper=200, group="respiratory"),
        FieldSpec("weight_kg", "numeric", "Body weight, kg.", unit="kg", lower=25, upper=250,
                  group="anthropometric"),
    ),
    key=("patient_id", "day"),
)

BIOMARKERS = TableSpec(
    "biomarkers",
    "One row per biomarker measurement (long format), value in the unit given by `unit`.",
    (
        _PID,
        _DAY,
        FieldSpec("analyte", "categorical", "Analyte: neurofilament light (nfl), phosphorylated neurofilament heavy "
                  "(pnfh), lipocalin-2 (lcn2).", categories=ANALYTES, required=True, group="biomarker"),
        FieldSpec("matrix", "categorical", "Sample matrix.", categories=MATRICES, required=True, group="biomarker"),
        FieldSpec("value", "numeric", "Measured concentration in `unit`; must be positive (below-LLOQ values are "
                  "reported at the LLOQ by the lab, never as 0).", lower=1e-6, upper=1e9, required=True,
                  group="biomarker"),
        FieldSpec("unit", "text", "Unit of `value`; converted to pg/mL (NfL, pNfH) or ng/mL (LCN2). Unknown units are "
                  "refused.", required=True, group="biomarker"),
        FieldSpec("assay", "text", "Assay platform, free text (e.g. simoa, ella, elisa); recorded for provenance.",
                  group="biomarker"),
    ),
)

EVENTS_TABLE = TableSpec(
    "events",
    "Survival endpoints: death, tracheostomy, permanent non-invasive ventilation (NIV > 23 h/day).",
    (
        _PID,
        FieldSpec("event", "categorical", "Endpoint type (ENCALS composite, Westeneng 2018).", categories=EVENTS,
                  required=True, group="outcome"),
        _DAY,
    ),
    key=("patient_id", "event"),
)

TRUTH = TableSpec(
    "truth",
    "Synthetic source only: the planted latent truth, so tests can measure recovery.",
    (
        _PID,
        FieldSpec("subtype", "integer", "Planted latent subtype index.", lower=0, upper=99, required=True,
                  group="truth"),
        FieldSpec("subtype_name", "text", "Planted latent subtype name.", required=True, group="truth"),
        FieldSpec("true_slope_points_per_month", "numeric", "Planted ALSFRS-R slope, points/month (negative = "
                  "decline).", unit="points/month", lower=-20, upper=5, required=True, group="truth"),
        FieldSpec("hazard_multiplier", "numeric", "Planted multiplier of the baseline hazard (1 = reference).",
                  lower=0, upper=1000, required=True, group="truth"),
    ),
    key=("patient_id",),
)

RAW_TABLES: dict[str, TableSpec] = {t.name: t for t in (PATIENTS, VISITS, BIOMARKERS, EVENTS_TABLE)}
"""The native raw tables every source is mapped into."""

SYNTHETIC_TABLES: dict[str, TableSpec] = {**RAW_TABLES, "truth": TRUTH}


# --------------------------------------------------------------------------------------------------------------------
# Landmarks: the prediction time L and what is known at it
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Landmark:
    """A prediction time L (days after day 0): features use data at or before L, outcomes are counted from L.

    Attributes
    ----------
    name : str
        ``screening`` or ``lead-in``.
    day : int
        L, days after the index day 0.
    measurement_window : (int, int)
        Inclusive days whose records give the "value nearest day 0" fields (ALSFRS-R, FVC, weight, biomarkers).
    series_window : (int, int) or None
        Inclusive days whose records give the series fields (baseline slopes and changes); None when the landmark
        has a single visit, so no series field exists there.
    slope_after_day : int
        The slope outcome uses visits with day > this and <= :data:`SLOPE_WINDOW_END_DAY`.
    description : str
        What a prediction at this landmark means, in words.
    time_origin : str
        The time origin of every survival figure at this landmark, in words (shown with every answer).
    """

    name: str
    day: int
    measurement_window: tuple[int, int]
    series_window: tuple[int, int] | None
    slope_after_day: int
    description: str
    time_origin: str

    @property
    def fields(self) -> tuple[BaselineField, ...]:
        """The baseline fields usable at this landmark (the model's inputs and the request schema)."""
        return tuple(f for f in BASELINE_FIELDS if not f.series or self.series_window is not None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def slope_window_text(self) -> str:
        start = "[0" if self.slope_after_day < 0 else f"({self.slope_after_day}"
        return f"{start}, {SLOPE_WINDOW_END_DAY}]"


LANDMARKS: dict[str, Landmark] = {
    "screening": Landmark(
        "screening", 0, (-MEASUREMENT_LOOKBACK_DAYS, 0), None, -1,
        "at the screening visit (day 0): the visit's measurements and the history before it; what a trial team "
        "has when it decides whom to enrol",
        "months from the scoring visit (day 0)"),
    "lead-in": Landmark(
        "lead-in", BASELINE_WINDOW_END_DAY, (0, BASELINE_WINDOW_END_DAY), (0, BASELINE_WINDOW_END_DAY),
        BASELINE_WINDOW_END_DAY,
        f"after a {BASELINE_WINDOW_END_DAY}-day lead-in (DREAM-2012 style): the first visit's measurements plus "
        f"slopes and changes over days 0-{BASELINE_WINDOW_END_DAY}",
        f"months from the end of the lead-in (day {BASELINE_WINDOW_END_DAY})"),
}
"""The landmarks a model can be trained at (architecture: "Time and units")."""

DEFAULT_LANDMARK = "screening"
"""Default for the champion, the demo and the HTTP service."""


def landmark(name: str) -> Landmark:
    """The landmark called ``name`` (ValueError naming the known ones otherwise)."""
    try:
        return LANDMARKS[name]
    except KeyError:
        raise ValueError(f"unknown landmark {name!r}: use one of {', '.join(LANDMARKS)}") from None


# --------------------------------------------------------------------------------------------------------------------
# The cohort table (one row per patient): baseline fields (the model's input) + outcomes
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BaselineField(FieldSpec):
    """A cohort baseline field: the model input and the HTTP request field.

    ``required_for_scoring`` marks the fields a screening visit must supply to be scored. The rule: a field is
    required only when every cohort row has it (the cohort builder never leaves it missing); a field the training
    data may lack is optional, as the model was trained with it missing, so every row the model was trained on can
    also be scored. The candidate schema, the MLflow signature and the HTTP schema all follow this flag.
    ``analyte``/``matrix`` link biomarker fields back to the raw biomarker table.
    ``series`` marks fields computed from several visits of a lead-in window (slopes, changes): they exist only
    at a landmark with a series window (``lead-in``), never at ``screening``.
    """

    required_for_scoring: bool = False
    analyte: str | None = None
    matrix: str | None = None
    series: bool = False


def _biomarker(analyte: str, matrix: str, label: str, upper: float, source: str) -> BaselineField:
    unit = CANONICAL_UNIT[analyte]
    unit_name = unit.replace("/", "_").lower()
    return BaselineField(
        f"{analyte}_{matrix}_{unit_name}", "numeric",
        f"{label} in {matrix}, {unit}, value nearest day 0 within the landmark's measurement window; optional "
        f"(missing is not zero). {source}",
        unit=unit, lower=0.01, upper=upper, group="biomarker", analyte=analyte, matrix=matrix,
    )


_NFL_SRC = "Prognostic in ALS: Lu 2015 (blood ~4x controls), Verde 2019, Vacchiano 2021."
_PNFH_SRC = "Diagnostic CSF marker (Poesen 2017, cut-off 768 pg/mL); prognostic value modest."
_LCN2_SRC = ("HYPOTHESIS: raised in ALS blood/tissue (reviews 2025); no validated human effect on progression or "
             "survival.")

BASELINE_FIELDS: tuple[BaselineField, ...] = (
    BaselineField("age_at_onset_years", "numeric", "Age at symptom onset, years.", unit="years", lower=10, upper=100,
                  required_for_scoring=True),
    BaselineField("sex", "categorical", "Sex.", categories=SEX, required_for_scoring=True),
    BaselineField("onset_site", "categorical", "Region of first symptoms.", categories=ONSET_SITE,
                  required_for_scoring=True),
    BaselineField("months_since_onset", "numeric", "Symptom duration at the index visit (day 0): (0 - onset_day) / "
                  "30.4375, months.",
                  unit="months", lower=0, upper=600, required_for_scoring=True, group="history"),
    BaselineField("diagnostic_delay_months", "numeric", "Onset to diagnosis: (diagnosis_day - onset_day) / 30.4375, "
                  "months (ENCALS predictor, Westeneng 2018); optional: a patient not yet diagnosed at the "
                  "landmark has none, the cohort keeps such patients and the model reads missing natively.",
                  unit="months", lower=0, upper=600, group="history"),
    BaselineField("alsfrs_r_total", "numeric", "ALSFRS-R total at the visit nearest day 0 within the landmark's "
                  "measurement window (0-48 points; 0-40 for a legacy-ALSFRS dataset, see its alsfrs_scale).",
                  unit="points", lower=0, upper=48, required_for_scoring=True, group="functional"),
    *(
        BaselineField(item, "numeric", f"ALSFRS-R item {i + 1} ({label}) at the baseline visit, 0-4 points.",
                      unit="points", lower=0, upper=4, group="functional")
        for i, (item, label) in enumerate(zip(ALSFRS_ITEMS, ALSFRS_ITEM_LABELS, strict=True))
    ),
    BaselineField("alsfrs_r_slope_baseline", "numeric", "OLS slope of ALSFRS-R total over the lead-in visits "
                  "(days 0-91, >= 2 visits), points/month; lead-in landmark only.", unit="points/month", lower=-48,
                  upper=48, group="functional", series=True),
    BaselineField("fvc_pct_pred", "numeric", "FVC at the visit nearest day 0 within the landmark's measurement "
                  "window, % predicted.",
                  unit="% predicted", lower=0, upper=200, group="respiratory"),
    BaselineField("fvc_slope_baseline", "numeric", "OLS slope of FVC over the lead-in visits (>= 2 visits), "
                  "% predicted per month; lead-in landmark only.", unit="% predicted/month", lower=-200, upper=200,
                  group="respiratory", series=True),
    BaselineField("fvc_change_pct", "numeric", "FVC change over the lead-in: 100 * (last - first) / first, % "
                  "(>= 2 FVC measurements on different days; lead-in landmark only). Unit-free: the same from % "
                  "predicted or from litres (DREAM-2012), as the predicted value does not move within the window.",
                  unit="%", lower=-100, upper=200, group="respiratory", series=True),
    BaselineField("bmi", "numeric", "Body-mass index at the landmark visit: weight_kg / (height_cm/100)^2, kg/m^2 "
                  "(higher BMI -> longer survival, Atassi 2014).", unit="kg/m^2", lower=10, upper=70,
                  group="anthropometric"),
    BaselineField("weight_change_pct", "numeric", "Weight change over the lead-in: 100 * (last - first) / "
                  "first, % (>= 2 weights; lead-in landmark only).", unit="%", lower=-60, upper=60,
                  group="anthropometric", series=True),
    BaselineField("weight_slope_baseline", "numeric", "OLS slope of weight over the lead-in visits "
                  "(>= 2 visits), kg/month; lead-in landmark only.", unit="kg/month", lower=-50, upper=50,
                  group="anthropometric", series=True),
    _biomarker("nfl", "serum", "Neurofilament light chain", 1e5, _NFL_SRC),
    _biomarker("nfl", "plasma", "Neurofilament light chain", 1e5, _NFL_SRC),
    _biomarker("nfl", "csf", "Neurofilament light chain", 1e6, _NFL_SRC),
    _biomarker("pnfh", "serum", "Phosphorylated neurofilament heavy chain", 1e5, _PNFH_SRC),
    _biomarker("pnfh", "csf", "Phosphorylated neurofilament heavy chain", 1e6, _PNFH_SRC),
    _biomarker("lcn2", "plasma", "Lipocalin-2 (NGAL)", 1e5, _LCN2_SRC),
    _biomarker("lcn2", "serum", "Lipocalin-2 (NGAL)", 1e5, _LCN2_SRC),
    _biomarker("lcn2", "csf", "Lipocalin-2 (NGAL)", 1e5, _LCN2_SRC),
    BaselineField("c9orf72", "categorical", "C9orf72 repeat expansion status (ENCALS predictor).", categories=C9ORF72,
                  group="genetic"),
    BaselineField("el_escorial", "categorical", "Revised El Escorial category.", categories=EL_ESCORIAL),
    BaselineField("ftd", "categorical", "Frontotemporal dementia.", categories=FTD),
    BaselineField("riluzole", "boolean", "Taking riluzole at baseline."),
)
"""Cohort baseline fields of every landmark (a model uses :attr:`Landmark.fields` of its own landmark)."""

OUTCOME_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("alsfrs_r_slope_3_12", "numeric", "Outcome: OLS slope of ALSFRS-R total over the visits of the "
              "landmark's slope window (screening: days [0, 365]; lead-in: (91, 365]), >= 2 visits spanning >= 90 "
              "days, points/month; missing otherwise (never imputed).",
              unit="points/month", lower=-48, upper=48, group="outcome"),
    FieldSpec("time_to_event_months", "numeric", "Outcome: months from the landmark L to the first of death, "
              "tracheostomy or permanent ventilation; else to the last contact (censored); missing when the endpoint "
              "or censoring falls at or before L.", unit="months", lower=0, upper=1200,
              group="outcome"),
    FieldSpec("event_observed", "boolean", "Outcome: True if the composite endpoint was observed, False if censored.",
              group="outcome"),
)

COHORT_ID = FieldSpec("patient_id", "id", "De-identified patient identifier.", required=True, group="id")

COHORT_FIELDS: tuple[FieldSpec, ...] = (COHORT_ID, *BASELINE_FIELDS, *OUTCOME_FIELDS)

BASELINE_NAMES: tuple[str, ...] = tuple(f.name for f in BASELINE_FIELDS)
OUTCOME_NAMES: tuple[str, ...] = tuple(f.name for f in OUTCOME_FIELDS)
REQUIRED_FOR_SCORING: tuple[str, ...] = tuple(f.name for f in BASELINE_FIELDS if f.required_for_scoring)
LCN2_FIELDS: tuple[str, ...] = tuple(f.name for f in BASELINE_FIELDS if f.analyte == "lcn2")
BIOMARKER_FIELDS: tuple[BaselineField, ...] = tuple(f for f in BASELINE_FIELDS if f.analyte is not None)


def baseline_field(name: str) -> BaselineField:
    """Return the baseline field called ``name`` (KeyError naming it otherwise)."""
    for spec in BASELINE_FIELDS:
        if spec.name == name:
            return spec
    raise KeyError(f"no baseline field {name!r}")


def biomarker_field_name(analyte: str, matrix: str) -> str | None:
    """Cohort column for an analyte/matrix pair, or None when the spec has no such field."""
    for spec in BIOMARKER_FIELDS:
        if spec.analyte == analyte and spec.matrix == matrix:
            return spec.name
    return None


def spec_hash() -> str:
    """SHA-256 (hex, first 16 characters) of the whole spec: recorded with every run and model."""
    payload = {
        "raw": {name: [asdict(f) for f in t.fields] for name, t in SYNTHETIC_TABLES.items()},
        "cohort": [asdict(f) for f in COHORT_FIELDS],
        "constants": [DAYS_PER_MONTH, BASELINE_WINDOW_END_DAY, SLOPE_WINDOW_END_DAY, SLOPE_MIN_VISITS,
                      SLOPE_MIN_SPAN_DAYS, MEASUREMENT_LOOKBACK_DAYS],
        "landmarks": [asdict(lm) for lm in LANDMARKS.values()],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ====================================================================================================================
# Plausibility rules: declared once here, applied to the raw tables (features.contracts) and to candidates sent over
# HTTP or in a batch file (features.candidates) alike. A field's bounds above say what the field can hold at all;
# these rules say what a real patient's value can be, given its other values. A value outside a plausible range is
# almost always a unit mistake (NfL in ng/mL, FVC in litres), so the message says which unit it looks like.
# They are not part of spec_hash: a rule refuses values but never changes how an accepted value is read, so a model
# trained before a rule existed reads its inputs exactly as before.
# ====================================================================================================================
@dataclass(frozen=True)
class PlausibleRange:
    """The range a real measurement of ``field`` falls in (canonical unit), narrower than the field's bounds.

    Attributes
    ----------
    field : str
        Baseline field name; the raw tables apply it to the column of that name, or for a biomarker field to the
        ``value`` of the biomarker rows of its analyte and matrix (after unit conversion).
    lower, upper : float
        Inclusive plausible range in ``unit``.
    unit : str
    below_hint, above_hint : str
        What a value below / above the range most likely is.
    source : str
        Where the range comes from.
    """

    field: str
    lower: float
    upper: float
    unit: str
    below_hint: str
    above_hint: str
    source: str

    def range_text(self) -> str:
        """``plausible: 2-10000 pg/mL``."""
        return f"plausible: {_num(self.lower)}-{_num(self.upper)} {self.unit}"

    def problem(self, value: float) -> str | None:
        """None when ``value`` is plausible, else the message (value, range, and the likely mistake)."""
        if self.lower <= value <= self.upper:
            return None
        hint = self.below_hint if value < self.lower else self.above_hint
        return f"{_num(value)} {self.unit} is implausible ({self.range_text()}): {hint}"


_PG_LOW = "looks like ng/mL; this field is in pg/mL (1 ng/mL = 1000 pg/mL)"
_PG_HIGH = "looks like a unit mix-up (pg/mL values labelled ng/mL?); this field is in pg/mL"
_NG_LOW = "looks like µg/mL or mg/L; this field is in ng/mL (1 µg/mL = 1000 ng/mL)"
_NG_HIGH = "looks like pg/mL; this field is in ng/mL (1000 pg/mL = 1 ng/mL)"
_RANGE_SRC = ("A margin of at least 10x around published ALS and control values (NfL: Lu 2015, Verde 2019; pNfH: "
              "Poesen 2017; LCN2: reviews 2025) and the simulator's extremes; a factor of 1000 lands outside.")


def _assay_range(analyte: str, matrix: str, lower: float, upper: float) -> PlausibleRange:
    name = biomarker_field_name(analyte, matrix)
    assert name is not None, (analyte, matrix)
    unit = CANONICAL_UNIT[analyte]
    low, high = (_PG_LOW, _PG_HIGH) if unit == "pg/mL" else (_NG_LOW, _NG_HIGH)
    return PlausibleRange(name, lower, upper, unit, low, high, _RANGE_SRC)


PLAUSIBLE_RANGES: tuple[PlausibleRange, ...] = (
    _assay_range("nfl", "serum", 0.5, 10_000),
    _assay_range("nfl", "plasma", 0.5, 10_000),
    _assay_range("nfl", "csf", 50, 200_000),
    _assay_range("pnfh", "serum", 0.5, 20_000),
    _assay_range("pnfh", "csf", 20, 500_000),
    _assay_range("lcn2", "plasma", 2, 5_000),
    _assay_range("lcn2", "serum", 2, 5_000),
    _assay_range("lcn2", "csf", 0.2, 1_000),
    PlausibleRange("fvc_pct_pred", 5, 200, "% predicted",
                   "looks like litres; this field is FVC in % of the predicted value",
                   "check the unit: this field is FVC in % of the predicted value",
                   "Below 5 % predicted unassisted breathing is not possible (the simulator floors FVC at 5 %); "
                   "FVC in litres is 0.5-6."),
)
"""Plausible ranges, in each field's canonical unit."""


@dataclass(frozen=True)
class AtMost:
    """A cross-field rule: ``field`` must not exceed ``limit_field`` (both in the same unit), plus, when
    ``landmark_months`` is set, the months from day 0 to the landmark (what may happen between the index visit
    and the prediction time, e.g. a diagnosis during a lead-in)."""

    field: str
    limit_field: str
    reason: str
    landmark_months: bool = False

    def problem(self, value: float, limit: float, landmark_day: int = 0) -> str | None:
        """None when ``value`` <= ``limit`` (+ the landmark's months), else the message naming both values and why."""
        allowed = limit + (landmark_day / DAYS_PER_MONTH if self.landmark_months else 0.0)
        if value <= allowed:
            return None
        extra = f" + {_num(round(landmark_day / DAYS_PER_MONTH, 2))} months to the landmark" \
            if self.landmark_months and landmark_day else ""
        return f"must be <= {self.limit_field}{extra} ({_num(round(allowed, 4))}), got {_num(value)}: {self.reason}"


CROSS_FIELD_RULES: tuple[AtMost, ...] = (
    AtMost("diagnostic_delay_months", "months_since_onset",
           "the diagnosis cannot come after the landmark, so onset-to-diagnosis cannot exceed onset-to-landmark",
           landmark_months=True),
)
"""Rules between the fields of one candidate (the raw tables state the same as diagnosis_day >= onset_day)."""

WHOLE_NUMBER_FIELDS: tuple[str, ...] = ("alsfrs_r_total", *ALSFRS_ITEMS)
"""Baseline fields that only take whole numbers: ALSFRS-R totals and items are sums of 0-4 item scores."""
