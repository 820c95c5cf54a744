"""DREAM-2012 importer: the 1,822 x 371 DREAM ALS Prediction feature table mapped straight into cohort fields.

DREAM-2012 is a feature-level source (architecture: it enters at the cohort table, not as raw tables). The table
holds summary statistics of the first 3 months of trial data (Fang & Mackey features; Küffner et al., Nat Biotechnol
2015) on the legacy ALSFRS (0-40), the official split (``testset``) and the outcome ``dFRS``. Every column decision
is in ``docs/dream2012.md``; the load-bearing ones, each checked against the data:

* **Time.** ``Onset.Delta`` is days from onset to trial day 0 (negative), so ``months_since_onset`` =
  -Onset.Delta / 30.4375 (the spec's month). DREAM's own slopes use a 30.43667-day month (365.24 / 12; the ratio
  slope / (change per day) is 30.436667 in every patient with two visits) and are converted to the spec's month.
* **Slopes are end-point slopes**, not OLS: ``<x>.slope`` = (last - first) / (last date - first date) per DREAM
  month, verified in every patient with three visits (to 3e-6, the round-off of the check). This recovers the
  **first visit** of the window exactly: first = last - slope * (last date - first date) / 30.43667; for ALSFRS
  totals and items the result is an integer to 1e-13 in every patient (checked on every import).
* **Baseline = the first visit of the window** (the visit nearest day 0), as the spec defines ``alsfrs_r_total``
  and the items for every other source. "last" would carry information from up to day 91 that no other source puts
  into the baseline level, and it would pair a day-~80 score with the day-0 disease duration in the ΔFRS
  pre-slope; "max" is a noisy proxy for the first score. The window's change stays in the slope fields.
* **Imputed values are reverted to missing.** DREAM fills absent data with the cohort median and flags it
  (``no.<x>.data``, ``lessthan2.<x>``); e.g. all 170 patients without FVC carry the same median values. We map the
  flagged values to NaN (missing is not a value).
* **FVC is in litres**, so the spec's % predicted level and slope stay missing; the unit-free change over the
  window (``fvc_change_pct``, first FVC recovered like the ALSFRS) is mapped, as for every other source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import spec as S
from features.cohort.table import Cohort, ImportReport, cohort_dtype
from features.errors import FeatureDataError, Violation

DREAM_FILE = "als_dream2012.csv.gz"

DREAM_LANDMARK = "lead-in"
"""DREAM-2012 features summarise the first 3 months and its outcome is the slope over months 3-12: lead-in."""
"""File name of the feature table inside the DREAM-2012 folder."""

DREAM_DAYS_PER_MONTH = 365.24 / 12
"""Month length (days) behind DREAM's slope features, 30.43667 (verified from the data, see the module docstring)."""

ALSFRS_SCALE = 40
"""DREAM-2012 uses the legacy ALSFRS (10 items, 0-40)."""

ITEM_COLUMNS: dict[str, str] = {
    "alsfrs_q1": "speech", "alsfrs_q2": "salivation", "alsfrs_q3": "swallowing", "alsfrs_q4": "handwriting",
    "alsfrs_q5": "cutting", "alsfrs_q6": "dressing", "alsfrs_q7": "turning", "alsfrs_q8": "walking",
    "alsfrs_q9": "climbing.stairs",
}
"""Cohort item -> DREAM item stem. Items 1-9 are worded identically in ALSFRS and ALSFRS-R (Cedarbaum 1999); the
legacy respiratory item (Q10) is not in the table and ALSFRS-R R1-R3 do not exist on the legacy scale."""

SPLIT_COLUMN = "split"
"""Extra column after the spec's columns: the official split, "train" (1,197) or "test" (625, the validation set)."""

_SEX_COLUMNS = {"female": "Sex.Female", "male": "Sex.Male"}
_ONSET_COLUMNS = {
    "bulbar": "Site.of.Onset.Onset..Bulbar",
    "limb": "Site.of.Onset.Onset..Limb",
    "limb_and_bulbar": "Site.of.Onset.Onset..Limb.and.Bulbar",
}
_FLAG_COLUMNS = (
    "no.alsfrs.score.data", "lessthan2.alsfrs.score", "lessthan2.weight", "no.height.data", "no.fvc.liters.data",
    "lessthan2.fvc.liters",
    *_SEX_COLUMNS.values(), *_ONSET_COLUMNS.values(),
)
_ALSFRS_COLUMNS = (
    "last.alsfrs.score", "alsfrs.score.slope", "first.alsfrs.score.date", "last.alsfrs.score.date",
    *(f"last.{stem}" for stem in ITEM_COLUMNS.values()), *(f"{stem}.slope" for stem in ITEM_COLUMNS.values()),
)
_WEIGHT_COLUMNS = ("last.weight", "weight.slope", "first.weight.date", "last.weight.date")
_FVC_COLUMNS = ("last.fvc.liters", "fvc.liters.slope", "first.fvc.liters.date", "last.fvc.liters.date")
REQUIRED_COLUMNS: tuple[str, ...] = (
    "testset", "dFRS", "Onset.Delta", "Age", "mean.height", *_FLAG_COLUMNS, *_ALSFRS_COLUMNS, *_WEIGHT_COLUMNS,
    *_FVC_COLUMNS,
)
"""Every DREAM column the importer reads."""

_INTEGER_TOLERANCE = 1e-6  # reconstructed ALSFRS scores are integers to ~1e-13; anything worse means a wrong premise

FloatArray = npt.NDArray[np.float64]


def resolve_dream_file(path: str | Path) -> Path:
    """The feature table: ``path`` itself when it is a file, else ``path / als_dream2012.csv.gz``.

    Raises
    ------
    FeatureDataError
        When the file does not exist.
    """
    path = Path(path)
    file = path / DREAM_FILE if path.is_dir() else path
    if not file.is_file():
        raise FeatureDataError([Violation(str(file), None, None, f"DREAM-2012 feature table not found (expected "
                                          f"the folder holding {DREAM_FILE}, or the file itself)")],
                               context=f"DREAM-2012 import from {path}")
    return file


def load_dream2012(path: str | Path) -> Cohort:
    """Read the DREAM-2012 feature table into a cohort table on the legacy 0-40 ALSFRS scale.

    Parameters
    ----------
    path : path
        The DREAM-2012 folder (e.g. ``../shared/data/dream2012/``) or the ``als_dream2012.csv.gz`` file itself.
        The data are read in place, never copied.

    Returns
    -------
    Cohort
        One row per patient (``patient_id`` = "dream-<1-based row number>"), every spec cohort column with its
        cohort dtype (NaN where DREAM has nothing), then the extra column ``split`` ("train"/"test");
        ``alsfrs_scale=40``, ``source="dream2012"``, and an import report whose notes say what was set missing.

    Raises
    ------
    FeatureDataError
        Listing every problem at once: missing columns, flags that are not 0/1, contradictory one-hot groups,
        first-visit scores that do not reconstruct to integers, or mapped values outside the spec's bounds.
    """
    file = resolve_dream_file(path)
    context = f"DREAM-2012 import from {file}"
    raw = pd.read_csv(file)
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise FeatureDataError([Violation(file.name, None, c, "required DREAM-2012 column is missing")
                                for c in missing], context=context)
    violations: list[Violation] = []
    _check_flags(raw, file.name, violations)
    if violations:  # the mapping below relies on clean 0/1 flags
        raise FeatureDataError(violations, context=context)
    columns, notes = _map_columns(raw, file.name, violations)
    table = _cohort_frame(columns, len(raw))
    table[SPLIT_COLUMN] = pd.Series(np.where(raw["testset"].to_numpy(dtype=bool), "test", "train"),
                                    dtype=pd.StringDtype(na_value=np.nan))
    _check_bounds(table, violations)
    if violations:
        raise FeatureDataError(violations, context=context)
    n_test = int((table[SPLIT_COLUMN] == "test").sum())
    report = ImportReport(
        source="dream2012",
        counts={"patients": len(table), "train": len(table) - n_test, "test": n_test},
        notes=notes,
    )
    return Cohort(table=table, source="dream2012", alsfrs_scale=ALSFRS_SCALE, report=report,
                  landmark=DREAM_LANDMARK)


# --------------------------------------------------------------------------------------------------------------------
# Checks on the raw table
# --------------------------------------------------------------------------------------------------------------------
def _violations_where(mask: npt.NDArray[np.bool_], values: pd.Series, table: str, column: str, rule: str,
                      out: list[Violation]) -> None:
    out.extend(Violation(table, int(i) + 1, column, rule, _plain(values.iloc[i])) for i in np.flatnonzero(mask))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _check_flags(raw: pd.DataFrame, table: str, out: list[Violation]) -> None:
    """0/1 indicator columns must hold 0 or 1; a patient has at most one sex and at most one onset site."""
    for column in _FLAG_COLUMNS:
        values = raw[column]
        _violations_where(~values.isin([0, 1]).to_numpy(), values, table, column, "must be 0 or 1", out)
    if raw["testset"].dtype != bool:
        values = raw["testset"]
        _violations_where(~values.isin([True, False]).to_numpy(), values, table, "testset", "must be TRUE or FALSE",
                          out)
    for group in (_SEX_COLUMNS, _ONSET_COLUMNS):
        hot = raw[list(group.values())].fillna(0).sum(axis=1)
        _violations_where((hot > 1).to_numpy(), hot, table, "/".join(group.values()),
                          "more than one category set", out)
    for column in ("Onset.Delta", "Age", "dFRS"):
        values = raw[column]
        _violations_where(values.isna().to_numpy(), values, table, column, "must not be missing", out)


# --------------------------------------------------------------------------------------------------------------------
# The mapping
# --------------------------------------------------------------------------------------------------------------------
def _first_visit(raw: pd.DataFrame, last: str, slope: str, first_date: str, last_date: str) -> FloatArray:
    """Value at the window's first visit, recovered from DREAM's end-point slope (exact, see the module docstring).

    first = last - slope * (last_date - first_date) / DREAM month. With one visit the span is 0 and first = last.
    """
    span_days = (raw[last_date] - raw[first_date]).to_numpy(dtype=np.float64)
    return raw[last].to_numpy(dtype=np.float64) - raw[slope].to_numpy(dtype=np.float64) * span_days / (
        DREAM_DAYS_PER_MONTH
    )


def _integer_scores(values: FloatArray, present: npt.NDArray[np.bool_], table: str, column: str,
                    out: list[Violation]) -> FloatArray:
    """Round reconstructed ALSFRS scores, refusing any that are not integers (the premise would be broken)."""
    off = present & ~(np.abs(values - np.round(values)) <= _INTEGER_TOLERANCE)
    _violations_where(off, pd.Series(values), table, column,
                      "first-visit score does not reconstruct to an integer (DREAM slope definition changed?)", out)
    return np.where(present, np.round(values), np.nan)


def _map_columns(raw: pd.DataFrame, table: str, out: list[Violation]) -> tuple[dict[str, Any], list[str]]:
    """Cohort columns (by spec name) from the DREAM table, plus report notes saying what was set missing."""
    n = len(raw)
    to_spec_month = S.DAYS_PER_MONTH / DREAM_DAYS_PER_MONTH  # DREAM per-month slopes -> spec per-month slopes
    flag = {c: raw[c].to_numpy(dtype=np.float64) == 1 for c in _FLAG_COLUMNS}
    col: dict[str, Any] = {"patient_id": [f"dream-{i}" for i in range(1, n + 1)]}
    notes: list[str] = []

    months = -raw["Onset.Delta"].to_numpy(dtype=np.float64) / S.DAYS_PER_MONTH
    col["months_since_onset"] = months
    # Age is age at trial day 0 (PRO-ACT demographics: Age = -Date_of_Birth / 365.25 days); whole years
    col["age_at_onset_years"] = raw["Age"].to_numpy(dtype=np.float64) - months / 12.0

    sex = np.full(n, None, dtype=object)
    for value, column in _SEX_COLUMNS.items():
        sex[flag[column]] = value
    col["sex"] = sex
    onset = np.full(n, None, dtype=object)
    onset[flag[_ONSET_COLUMNS["limb"]]] = "limb"
    # "Limb and Bulbar": bulbar involvement at onset drives prognosis, so it is grouped with bulbar (as the PRO-ACT
    # importer does)
    onset[flag[_ONSET_COLUMNS["bulbar"]] | flag[_ONSET_COLUMNS["limb_and_bulbar"]]] = "bulbar"
    col["onset_site"] = onset

    # ALSFRS (legacy, 0-40): the first visit of the window, total and items 1-9
    has_alsfrs = ~flag["no.alsfrs.score.data"]
    has_alsfrs_slope = has_alsfrs & ~flag["lessthan2.alsfrs.score"]
    dates = ("first.alsfrs.score.date", "last.alsfrs.score.date")
    total = _first_visit(raw, "last.alsfrs.score", "alsfrs.score.slope", *dates)
    col["alsfrs_r_total"] = _integer_scores(total, has_alsfrs, table, "last.alsfrs.score", out)
    for item, stem in ITEM_COLUMNS.items():
        # the items are asked at the same visits as the total, so they share its dates
        values = _first_visit(raw, f"last.{stem}", f"{stem}.slope", *dates)
        col[item] = _integer_scores(values, has_alsfrs, table, f"last.{stem}", out)
    col["alsfrs_r_slope_baseline"] = np.where(
        has_alsfrs_slope, raw["alsfrs.score.slope"].to_numpy(dtype=np.float64) * to_spec_month, np.nan)

    # Weight (kg) and height (cm): first weight of the window; slope and change need >= 2 weights
    has_weight_slope = ~flag["lessthan2.weight"]
    first_weight = _first_visit(raw, "last.weight", "weight.slope", "first.weight.date", "last.weight.date")
    last_weight = raw["last.weight"].to_numpy(dtype=np.float64)
    col["weight_slope_baseline"] = np.where(
        has_weight_slope, raw["weight.slope"].to_numpy(dtype=np.float64) * to_spec_month, np.nan)
    col["weight_change_pct"] = np.where(has_weight_slope, 100.0 * (last_weight - first_weight) / first_weight, np.nan)
    height_m = np.where(flag["no.height.data"], np.nan, raw["mean.height"].to_numpy(dtype=np.float64) / 100.0)
    col["bmi"] = first_weight / height_m**2

    # FVC: DREAM has litres only, so the level and the % predicted slope stay missing; the relative change over the
    # window is unit-free (the spec's fvc_change_pct) and needs >= 2 FVC measurements
    has_fvc_change = ~flag["no.fvc.liters.data"] & ~flag["lessthan2.fvc.liters"]
    first_fvc = _first_visit(raw, *_FVC_COLUMNS)
    last_fvc = raw["last.fvc.liters"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero first FVC would be out of bounds anyway
        fvc_change = 100.0 * (last_fvc - first_fvc) / first_fvc
    col["fvc_change_pct"] = np.where(has_fvc_change, fvc_change, np.nan)

    col["alsfrs_r_slope_3_12"] = raw["dFRS"].to_numpy(dtype=np.float64)

    def count(mask: npt.NDArray[np.bool_]) -> int:
        return int(np.count_nonzero(mask))

    notes += [
        f"{count(~has_alsfrs)} patient(s) without ALSFRS data: DREAM's median-imputed ALSFRS total, items and slope "
        "set to missing",
        f"{count(has_alsfrs & ~has_alsfrs_slope)} patient(s) with one ALSFRS visit: DREAM's imputed slope set to "
        "missing",
        f"{count(~has_weight_slope)} patient(s) with one weight: weight slope and weight change set to missing",
        f"{count(flag['no.height.data'])} patient(s) without height: DREAM's imputed height (170 cm) ignored, bmi "
        "missing",
        f"{count(pd.isna(sex))} patient(s) without recorded sex: sex missing",
        f"{count(flag[_ONSET_COLUMNS['limb_and_bulbar']])} patient(s) with 'Limb and Bulbar' onset mapped to "
        "onset_site bulbar",
        "ALSFRS on the legacy 0-40 scale: items 1-9 mapped, the legacy respiratory item (total minus items 1-9) and "
        "ALSFRS-R R1-R3 (alsfrs_q10-q12) left missing",
        "ALSFRS total, items and weight are the window's first visit, recovered exactly from DREAM's end-point slopes",
        f"{count(~has_fvc_change)} patient(s) without FVC or with one FVC: DREAM's imputed FVC ignored, "
        "fvc_change_pct missing",
        "FVC is in litres in DREAM, not % predicted: fvc_pct_pred and fvc_slope_baseline left missing; "
        "fvc_change_pct (unit-free) = 100 x (last - first) / first litres of the window",
        "Not in DREAM, left missing: diagnostic_delay_months, all biomarkers, c9orf72, el_escorial, ftd, riluzole, "
        "time_to_event_months, event_observed",
    ]
    return col, notes


def _cohort_frame(columns: dict[str, Any], n: int) -> pd.DataFrame:
    """All spec cohort columns in spec order with their cohort dtypes; fields DREAM lacks are all-missing."""
    data: dict[str, pd.Series] = {}
    for f in S.COHORT_FIELDS:
        values = columns.get(f.name, [None] * n)
        if f.kind in ("id", "text", "categorical"):
            values = [np.nan if v is None else v for v in values]
        data[f.name] = pd.Series(values, dtype=cohort_dtype(f))
    return pd.DataFrame(data)


def _check_bounds(table: pd.DataFrame, out: list[Violation]) -> None:
    """Every mapped value within the spec's bounds and categories (all violations listed)."""
    for f in S.COHORT_FIELDS:
        values = table[f.name]
        present = values.notna().to_numpy()
        if f.categories is not None:
            bad = present & ~values.isin(f.categories).to_numpy()
            _violations_where(bad, values, "cohort", f.name, f"must be {f.bounds_text()}", out)
            continue
        if f.kind not in ("numeric", "integer"):
            continue
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.zeros(len(values), dtype=bool)
        if f.lower is not None:
            bad |= present & (numbers < f.lower)
        if f.upper is not None:
            bad |= present & (numbers > f.upper)
        _violations_where(bad, values, "cohort", f.name, f"must be {f.bounds_text()}", out)
    total = table["alsfrs_r_total"].to_numpy(dtype=np.float64, na_value=np.nan)
    _violations_where(total > ALSFRS_SCALE, table["alsfrs_r_total"], "cohort", "alsfrs_r_total",
                      f"must be <= {ALSFRS_SCALE} on the legacy ALSFRS scale", out)
