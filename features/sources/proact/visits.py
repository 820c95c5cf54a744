"""PRO-ACT ALSFRS, FVC and vital-sign forms -> the ``visits`` raw table (and each patient's height).

Policies (see ``docs/proact.md``):

* ALSFRS: item 5 = ``Q5a_Cutting_without_Gastrostomy`` if given, else ``Q5b_Cutting_with_Gastrostomy``; both given
  and different -> the row is excluded. Rows with ALSFRS-R data (any of ``R_1_Dyspnea``, ``R_2_Orthopnea``,
  ``R_3_Respiratory_Insufficiency``, ``ALSFRS_R_Total``) give items 1-12 (Q1-Q9, R1-R3) and the 0-48 total (given,
  or the sum of 12 complete items). Rows with only the legacy ALSFRS (Q10_Respiratory / ALSFRS_Total, 0-40) cannot
  be placed on the 0-48 scale without imputing the three respiratory items and are excluded. A given
  ``ALSFRS_R_Total`` that disagrees with its complete items is excluded, not repaired.
* FVC: best (max) of up to three trials, in % predicted. Units "Percent Predicted" -> the value sits in the
  ``Subject_Liters_Trial_*`` columns (a PRO-ACT quirk). Units "Liters" (or no units) -> ``pct_of_Normal_Trial_*``;
  if those are empty but ``Subject_Normal`` (the trial's predicted normal FVC, litres) is given,
  100 x best litres / ``Subject_Normal``; litres alone cannot become % predicted without a reference equation and
  the patient's height, age, sex and ethnicity, so the row is excluded.
* Vital signs: weight (kg; pounds and lbs x 0.45359237) per visit; height (cm; inches x 2.54, metres x 100)
  is patient-level: the first valid height (earliest day) is used.
* Rows of one patient on one day are merged into one visit (ALSFRS, FVC and weight may each be absent).
  Duplicate rows within one form on the same patient and day: identical -> merged and counted; different ->
  all excluded (the import never picks one of two contradicting measurements).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import spec as S
from features.sources.proact.common import (
    Exclusions,
    RowFilter,
    is_in,
    map_values,
    naming,
    normalise_text,
    parse_days,
    parse_numbers,
    resolve_duplicates,
)
from features.sources.proact.files import FVC_LITRES, FVC_PERCENT, Form

LEGACY_ONLY = "legacy ALSFRS only (0-40); not converted"

ITEM_SOURCES: tuple[tuple[str, str], ...] = (
    ("alsfrs_q1", "Q1_Speech"),
    ("alsfrs_q2", "Q2_Salivation"),
    ("alsfrs_q3", "Q3_Swallowing"),
    ("alsfrs_q4", "Q4_Handwriting"),
    ("alsfrs_q5", "Q5"),  # coalesce(Q5a, Q5b), below
    ("alsfrs_q6", "Q6_Dressing_and_Hygiene"),
    ("alsfrs_q7", "Q7_Turning_in_Bed"),
    ("alsfrs_q8", "Q8_Walking"),
    ("alsfrs_q9", "Q9_Climbing_Stairs"),
    ("alsfrs_q10", "R_1_Dyspnea"),
    ("alsfrs_q11", "R_2_Orthopnea"),
    ("alsfrs_q12", "R_3_Respiratory_Insufficiency"),
)
R_COLUMNS = ("R_1_Dyspnea", "R_2_Orthopnea", "R_3_Respiratory_Insufficiency", "ALSFRS_R_Total")
LEGACY_COLUMNS = ("Q10_Respiratory", "ALSFRS_Total")
SCORE_RANGES = {"ALSFRS_R_Total": 48, "ALSFRS_Total": 40}  # items are 0-4

POUND_KG = 0.45359237  # international avoirdupois pound (exact, 1959 agreement)
INCH_CM = 2.54  # international inch (exact)
WEIGHT_UNITS = {"kg": 1.0, "kgs": 1.0, "kilogram": 1.0, "kilograms": 1.0, "lb": POUND_KG, "lbs": POUND_KG,
                "pound": POUND_KG, "pounds": POUND_KG}  # fmt: skip
HEIGHT_UNITS = {"cm": 1.0, "centimeter": 1.0, "centimeters": 1.0, "centimetre": 1.0, "centimetres": 1.0,
                "in": INCH_CM, "inch": INCH_CM, "inches": INCH_CM, "m": 100.0, "meter": 100.0, "meters": 100.0,
                "metre": 100.0, "metres": 100.0}  # fmt: skip
FVC_PERCENT_UNITS = {"percent predicted", "% predicted", "percent", "%", "% of predicted", "percent of predicted",
                     "% pred", "percent of normal", "% of normal"}  # fmt: skip
FVC_LITRE_UNITS = {"liters", "litres", "liter", "litre", "l"}
MAX_PLAUSIBLE_FVC_LITRES = 10.0  # well above the largest adult FVCs (~7-8 L): larger "litres" are a unit error


@dataclass
class VisitPart:
    """Visit rows per source form, before merging, and the patient heights."""

    alsfrs: pd.DataFrame
    fvc: pd.DataFrame
    weight: pd.DataFrame
    height_cm: pd.Series
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _key_frame(rf: RowFilter, days: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"_row": rf.rows[rf.keep], "patient_id": rf.subjects[rf.keep], "day": days[rf.keep].astype("int64")}
    )


def alsfrs_visits(
    form: Form, patients: pd.Index, known: pd.Index, exclusions: Exclusions, counts: dict[str, int], notes: list[str]
) -> pd.DataFrame:
    """ALSFRS-R visit rows (patient_id, day, alsfrs_q1..q12, alsfrs_r_total) from the ALSFRS form."""
    rf = RowFilter(form, exclusions)
    rf.drop_missing_subject()
    days = parse_days(rf, "ALSFRS_Delta")
    scores: dict[str, np.ndarray] = {}
    for column in (
        *(c for _, c in ITEM_SOURCES if c != "Q5"),
        "Q5a_Cutting_without_Gastrostomy",
        "Q5b_Cutting_with_Gastrostomy",
        *LEGACY_COLUMNS,
        "ALSFRS_R_Total",
    ):
        if column in scores:
            continue
        text = form.text(column)
        values, bad = parse_numbers(text)
        top = SCORE_RANGES.get(column, 4)
        invalid = bad | (~np.isnan(values) & ((values != np.round(values)) | (values < 0) | (values > top)))
        label = form.column_name(column)
        rf.drop(invalid, naming(text, f"{label} must be a whole number 0-{top}, got {{v}}"))
        scores[column] = values

    present = {c: ~np.isnan(v) for c, v in scores.items()}
    has_r = np.logical_or.reduce([present[c] for c in R_COLUMNS])
    has_any = np.logical_or.reduce(list(present.values()))
    rf.drop(~has_any, "no ALSFRS score in the row")
    legacy = rf.drop(~has_r, LEGACY_ONLY)

    q5a, q5b = scores["Q5a_Cutting_without_Gastrostomy"], scores["Q5b_Cutting_with_Gastrostomy"]
    both = ~np.isnan(q5a) & ~np.isnan(q5b) & (q5a != q5b)
    rf.drop(both, "Q5a_Cutting_without_Gastrostomy and Q5b_Cutting_with_Gastrostomy both given and different")
    scores["Q5"] = np.where(np.isnan(q5a), q5b, q5a)

    items = np.column_stack([scores[c] for _, c in ITEM_SOURCES])
    complete = ~np.isnan(items).any(axis=1)
    item_sum = np.where(complete, np.nansum(items, axis=1), np.nan)
    given = scores["ALSFRS_R_Total"]
    mismatch = complete & ~np.isnan(given) & (given != item_sum)
    rf.drop(mismatch, f"{form.column_name('ALSFRS_R_Total')} disagrees with the sum of its 12 items")
    total = np.where(np.isnan(given), item_sum, given)

    # Which patients lost every ALSFRS row to the legacy-scale rule (reported, since their slope is then unknown).
    legacy_subjects = pd.Index(pd.unique(rf.subjects[legacy & pd.notna(rf.subjects)]), dtype=object)
    rf.drop_unknown_patients(patients, known)
    frame = _key_frame(rf, days)
    for j, (name, _) in enumerate(ITEM_SOURCES):
        frame[name] = items[rf.keep, j]
    frame["alsfrs_r_total"] = total[rf.keep]
    columns = [n for n, _ in ITEM_SOURCES] + ["alsfrs_r_total"]
    frame, merged = resolve_duplicates(
        frame, ["patient_id", "day"], columns, file=form.file, what="ALSFRS rows", exclusions=exclusions
    )
    counts["alsfrs_rows_used"] = len(frame)
    counts["alsfrs_duplicate_rows_merged"] = merged
    counts["alsfrs_rows_legacy_only"] = int(legacy.sum())
    if len(legacy_subjects):
        kept = pd.Index(frame["patient_id"].unique(), dtype=object)
        lost = legacy_subjects[is_in(legacy_subjects.to_numpy(), patients) & ~is_in(legacy_subjects.to_numpy(), kept)]
        counts["patients_without_alsfrs_r_legacy_only"] = len(lost)
        notes.append(
            f"{int(legacy.sum())} ALSFRS rows had only the legacy ALSFRS (0-40) and were not converted; "
            f"{len(lost)} imported patients lost all their ALSFRS data to this rule"
        )
    return frame


def fvc_visits(
    form: Form, patients: pd.Index, known: pd.Index, exclusions: Exclusions, counts: dict[str, int], notes: list[str]
) -> pd.DataFrame:
    """FVC visit rows (patient_id, day, fvc_pct_pred): best of up to three trials, % predicted."""
    rf = RowFilter(form, exclusions)
    rf.drop_missing_subject()
    days = parse_days(rf, "Forced_Vital_Capacity_Delta")
    trials: dict[str, np.ndarray] = {}
    for column in (*FVC_LITRES, *FVC_PERCENT, "Subject_Normal"):
        text = form.text(column)
        values, bad = parse_numbers(text)
        label = form.column_name(column)
        rf.drop(bad | (values < 0), naming(text, f"{label} must be a non-negative number, got {{v}}"))
        trials[column] = values

    units_text = form.text("Forced_Vital_Capacity_Units")
    units = normalise_text(units_text)
    is_percent = units.isin(FVC_PERCENT_UNITS).to_numpy()
    is_litres = units.isin(FVC_LITRE_UNITS).to_numpy() | units.isna().to_numpy()
    rf.drop(
        ~is_percent & ~is_litres, naming(units_text, f"unknown {form.column_name('Forced_Vital_Capacity_Units')} {{v}}")
    )

    litres = _row_max(trials, FVC_LITRES)
    percent = _row_max(trials, FVC_PERCENT)
    normal = trials["Subject_Normal"]
    # Percent-predicted rows store the percentage in the litre columns (PRO-ACT quirk).
    value = np.where(is_percent, np.fmax(litres, percent), percent)
    from_normal = ~is_percent & np.isnan(percent) & ~np.isnan(litres) & (normal > 0)
    implausible = from_normal & (litres > MAX_PLAUSIBLE_FVC_LITRES)
    rf.drop(
        implausible,
        f"Subject_Liters above {MAX_PLAUSIBLE_FVC_LITRES:g} L is not a plausible volume in litres; not reinterpreted",
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(from_normal, 100.0 * litres / normal, value)
    rf.drop(
        np.isnan(value) & ~np.isnan(litres),
        "FVC in litres without % predicted or Subject_Normal; not converted (needs a reference equation)",
    )
    rf.drop(np.isnan(value), "no FVC value in the row")
    bounds = S.VISITS.field("fvc_pct_pred")
    out = (value < bounds.lower) | (value > bounds.upper)
    rf.drop(out, f"FVC % predicted outside [{bounds.lower:g}, {bounds.upper:g}]")
    counts["fvc_rows_from_subject_normal"] = int((from_normal & rf.keep).sum())
    counts["fvc_rows_percent_in_litre_columns"] = int((is_percent & rf.keep & ~np.isnan(litres)).sum())

    rf.drop_unknown_patients(patients, known)
    frame = _key_frame(rf, days)
    frame["fvc_pct_pred"] = value[rf.keep]
    frame, merged = resolve_duplicates(
        frame, ["patient_id", "day"], ["fvc_pct_pred"], file=form.file, what="FVC rows", exclusions=exclusions
    )
    counts["fvc_rows_used"] = len(frame)
    counts["fvc_duplicate_rows_merged"] = merged
    if counts["fvc_rows_from_subject_normal"]:
        notes.append(
            f"{counts['fvc_rows_from_subject_normal']} FVC rows had litres only: % predicted computed as "
            "100 x best litres / Subject_Normal (the trial's predicted normal)"
        )
    return frame


def _row_max(values: dict[str, np.ndarray], columns: tuple[str, ...]) -> np.ndarray:
    stack = np.column_stack([values[c] for c in columns])
    out = np.full(len(stack), np.nan)
    has = ~np.isnan(stack).all(axis=1)
    out[has] = np.nanmax(stack[has], axis=1)
    return out


def vital_signs(
    form: Form, patients: pd.Index, known: pd.Index, exclusions: Exclusions, counts: dict[str, int], notes: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """Weight visit rows (patient_id, day, weight_kg) and the first valid height per patient (cm)."""
    rf = RowFilter(form, exclusions)
    if not form.has("Weight") and not form.has("Height"):
        counts["vitalsigns_rows_not_used"] = len(form)
        notes.append(f"{form.file} has neither Weight nor Height: its {len(form)} rows are not used")
        return pd.DataFrame(columns=["_row", "patient_id", "day", "weight_kg"]), pd.Series(dtype="float64")
    weight_text, height_text = form.text("Weight"), form.text("Height")
    has_value = weight_text.notna().to_numpy() | height_text.notna().to_numpy()
    not_used = ~has_value
    counts["vitalsigns_rows_not_used"] = int(not_used.sum())  # pulse, blood pressure... only
    rf.keep &= has_value
    rf.drop_missing_subject()
    days = parse_days(rf, "Vital_Signs_Delta")
    rf.drop_unknown_patients(patients, known)

    weight = _measure(rf, "Weight", "Weight_Units", WEIGHT_UNITS, S.VISITS.field("weight_kg"), "kg")
    height = _measure(rf, "Height", "Height_Units", HEIGHT_UNITS, S.PATIENTS.field("height_cm"), "cm")

    has_w = rf.keep & ~np.isnan(weight)
    wf = pd.DataFrame(
        {
            "_row": rf.rows[has_w],
            "patient_id": rf.subjects[has_w],
            "day": days[has_w].astype("int64"),
            "weight_kg": weight[has_w],
        }
    )
    wf, merged = resolve_duplicates(
        wf, ["patient_id", "day"], ["weight_kg"], file=form.file, what="weights", exclusions=exclusions
    )
    counts["weights_used"] = len(wf)
    counts["weight_duplicates_merged"] = merged

    has_h = rf.keep & ~np.isnan(height)
    hf = pd.DataFrame(
        {"patient_id": rf.subjects[has_h], "day": days[has_h], "row": rf.rows[has_h], "height_cm": height[has_h]}
    ).sort_values(["patient_id", "day", "row"])
    first = hf.drop_duplicates("patient_id", keep="first")
    counts["heights_used"] = len(first)
    counts["heights_not_used_later_measurements"] = len(hf) - len(first)
    heights = pd.Series(
        first["height_cm"].to_numpy(dtype="float64"), index=pd.Index(first["patient_id"].to_numpy(dtype=object))
    )
    return wf, heights


def _measure(
    rf: RowFilter, column: str, unit_column: str, factors: dict[str, float], bounds: S.FieldSpec, unit: str
) -> np.ndarray:
    """A value converted to ``unit``; a bad value or unit leaves only that value out (the row stays)."""
    form = rf.form
    text, unit_text = form.text(column), form.text(unit_column)
    values, bad = parse_numbers(text)
    label, unit_label = form.column_name(column), form.column_name(unit_column)
    given = text.notna().to_numpy()
    out = np.full(len(form), np.nan)
    left = rf.flag(given & bad, naming(text, f"{label} is not a number: {{v}}; left out"))
    factor = np.asarray(map_values(unit_text, dict(factors)), dtype="float64")
    ok = given & ~left
    left = rf.flag(ok & unit_text.isna().to_numpy(), f"{label} without {unit_label}; left out (unit not guessed)")
    ok &= ~left
    left = rf.flag(ok & np.isnan(factor), naming(unit_text, f"unknown {unit_label} {{v}}; {label} left out"))
    ok &= ~left
    converted = values * factor
    lo, hi = bounds.lower, bounds.upper
    assert lo is not None
    assert hi is not None
    left = rf.flag(ok & ((converted < lo) | (converted > hi)), f"{label} outside [{lo:g}, {hi:g}] {unit}; left out")
    ok &= ~left
    out[ok] = converted[ok]
    return out


def merge_visits(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Outer-merge the per-form visit rows on (patient_id, day) into the ``visits`` table, in spec order."""
    merged: pd.DataFrame | None = None
    for part in parts:
        part = part.drop(columns=["_row"])
        merged = part if merged is None else merged.merge(part, on=["patient_id", "day"], how="outer")
    assert merged is not None
    for name in S.VISITS.names:
        if name not in merged.columns:
            merged[name] = np.nan
    merged = merged.sort_values(["patient_id", "day"], kind="stable").reset_index(drop=True)
    return merged[list(S.VISITS.names)]
