"""A seeded, PRO-ACT-shaped export at full scale, for timing the PRO-ACT importer.

The values are synthetic (no patient data): plausible ranges, not a disease model. What matters is the shape
(``PROACT_*`` file names, columns, row counts: 10,000 patients, ~400,000 ALSFRS rows, ~1,000,000 lab rows) and
that every quirk the importer handles occurs at a realistic rate: legacy ALSFRS rows, Q5b after gastrostomy,
Q5a/Q5b conflicts, totals that disagree with their items, missing and sentinel deltas, percent-predicted FVC in
the litre columns, weights in pounds, heights in inches, censored and free-text lab results, unmapped lab tests,
deaths without a day.

Usage: ``python -m bench.make_proact OUT_DIR [--n-patients N] [--seed S]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

OTHER_TESTS = (
    "Creatinine", "Uric Acid", "Albumin", "Total Protein", "ALT(SGPT)", "AST(SGOT)", "Alkaline Phosphatase",
    "Bilirubin (Total)", "Blood Urea Nitrogen (BUN)", "Calcium", "Chloride", "Potassium", "Sodium", "Glucose",
    "Hemoglobin", "Hematocrit", "Platelets", "White Blood Cell (WBC)", "Red Blood Cells (RBC)", "Neutrophils",
    "Lymphocytes", "Monocytes", "Eosinophils", "Basophils", "Creatine Kinase", "Triglycerides", "Total Cholesterol",
    "HbA1c (Glycated Hemoglobin)", "Phosphorus", "Bicarbonate", "Gamma-glutamyltransferase", "Urine Protein",
    "Urine Glucose", "Urine Ph", "Urine Specific Gravity", "Magnesium", "CK", "Free T4", "TSH", "Lactate Dehydrogenase",
)  # fmt: skip
MAPPED_TESTS = (
    ("Neurofilament Light Chain (Serum)", "pg/mL", 4.3),
    ("Plasma NGAL", "ng/mL", 4.6),
    ("CSF Neurofilament Light", "pg/mL", 8.5),
    ("CSF pNfH", "pg/mL", 8.0),
)
"""(test name, unit, log of the median result): medians near ALS values (serum NfL ~70 pg/mL, plasma NGAL ~100
ng/mL, CSF NfL ~5,000 pg/mL, CSF pNfH ~3,000 pg/mL), so the results pass the spec's plausible ranges."""


def _int_text(values: np.ndarray, missing: np.ndarray | None = None) -> Any:
    """Whole numbers as a nullable integer array (written as ``12``, blank where ``missing``)."""
    out: Any = pd.array(np.asarray(values).astype("int64"), dtype="Int64")
    if missing is not None:
        out[missing] = pd.NA
    return out


def _visit_days(
    rng: np.random.Generator, counts: np.ndarray, first: np.ndarray, gap_lo: int, gap_hi: int
) -> np.ndarray:
    """Strictly increasing visit days per patient: first day, then gaps in [gap_lo, gap_hi]."""
    gaps = rng.integers(gap_lo, gap_hi + 1, counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    gaps[starts] = 0
    cum = np.cumsum(gaps)
    return np.repeat(first, counts) + cum - np.repeat(cum[np.cumsum(counts) - counts], counts)


def make_proact_export(folder: str | Path, n_patients: int = 10_000, seed: int = 0) -> dict[str, int]:
    """Write a PRO-ACT-shaped export (``PROACT_*.csv``) into ``folder``.

    Parameters
    ----------
    folder : path
        Created if needed; existing files of the same names are overwritten.
    n_patients : int
        Number of subjects (default 10,000, PRO-ACT scale).
    seed : int
        Same seed, same files.

    Returns
    -------
    dict of str to int
        Rows written per file.
    """
    rng = np.random.default_rng(seed)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    n = n_patients
    ids = np.arange(100_000, 100_000 + n).astype(str)
    written: dict[str, int] = {}

    def write(name: str, frame: pd.DataFrame) -> None:
        frame.to_csv(out / name, index=False)
        written[name] = len(frame)

    # Demographics: Age at trial day 0; ~3 % give only the date-of-birth offset; sex sometimes missing.
    age = np.clip(rng.normal(55, 11, n), 25, 80).round(1)
    dob_only = rng.random(n) < 0.03
    sex = rng.choice(np.array(["Male", "Female", None], dtype=object), n, p=[0.60, 0.35, 0.05])
    write(
        "PROACT_DEMOGRAPHICS.csv",
        pd.DataFrame(
            {
                "subject_id": ids,
                "Demographics_Delta": 0,
                "Age": np.where(dob_only, np.nan, age),
                "Date_of_Birth": _int_text(-age * 365.25, ~dob_only),
                "Ethnicity": "Non-Hispanic or Latino",
                "Sex": sex,
            }
        ),
    )

    # ALS history: onset ~19 months before day 0, diagnosis ~11 months after onset.
    onset = -np.clip(rng.gamma(3.0, 200.0, n), 30, 5000).astype(int)
    diagnosis = np.minimum(onset + rng.gamma(2.0, 160.0, n).astype(int), -1)
    site = rng.choice(
        np.array(
            ["Onset: Limb", "Onset: Bulbar", "Onset: Limb and Bulbar", "Onset: Spine", "Onset: Other"], dtype=object
        ),
        n,
        p=[0.75, 0.21, 0.01, 0.01, 0.02],
    )
    missing_onset = rng.random(n) < 0.01
    write(
        "PROACT_ALSHISTORY.csv",
        pd.DataFrame(
            {
                "subject_id": ids,
                "Subject_ALS_History_Delta": 0,
                "Site_of_Onset": site,
                "Onset_Delta": _int_text(onset, missing_onset),
                "Diagnosis_Delta": diagnosis,
            }
        ),
    )

    # ALSFRS: ~40 visits per patient (~400,000 rows); 15 % of patients legacy ALSFRS (0-40) only.
    n_vis = rng.integers(20, 61, n)
    rows = int(n_vis.sum())
    pid = np.repeat(ids, n_vis)
    day = _visit_days(rng, n_vis, rng.integers(-14, 1, n), 7, 21)
    legacy = np.repeat(rng.random(n) < 0.15, n_vis)
    decline = np.repeat(rng.gamma(2.0, 0.0015, n), n_vis)
    level = np.clip(4 - decline[:, None] * np.maximum(day, 0)[:, None] * rng.uniform(0.5, 1.5, (rows, 12)), 0, 4)
    items = np.floor(level + rng.random((rows, 12)) * 0.5).clip(0, 4).astype(int)
    gastro = rng.random(rows) < 0.05
    q5a = _int_text(items[:, 4], gastro)
    q5b = _int_text(items[:, 4], ~gastro)
    conflict = rng.random(rows) < 0.001
    q5b[conflict] = (items[conflict, 4] + 1) % 5
    r_total = items.sum(axis=1) + (rng.random(rows) < 0.005)  # a few totals disagree with their items
    frs = pd.DataFrame({"subject_id": pid, "ALSFRS_Delta": _int_text(day, rng.random(rows) < 0.001)})
    names = ("Q1_Speech", "Q2_Salivation", "Q3_Swallowing", "Q4_Handwriting")
    for j, name in enumerate(names):
        frs[name] = items[:, j]
    frs["Q5a_Cutting_without_Gastrostomy"] = q5a
    frs["Q5b_Cutting_with_Gastrostomy"] = q5b
    for j, name in enumerate(
        ("Q6_Dressing_and_Hygiene", "Q7_Turning_in_Bed", "Q8_Walking", "Q9_Climbing_Stairs"), start=5
    ):
        frs[name] = items[:, j]
    frs["Q10_Respiratory"] = _int_text(items[:, 9], ~legacy)
    for j, name in enumerate(("R_1_Dyspnea", "R_2_Orthopnea", "R_3_Respiratory_Insufficiency"), start=9):
        frs[name] = _int_text(items[:, j], legacy)
    frs["ALSFRS_Total"] = _int_text(items[:, :10].sum(axis=1), ~legacy)
    frs["ALSFRS_R_Total"] = _int_text(r_total, legacy)
    frs["Mode_of_Administration"] = "In person"
    write("PROACT_ALSFRS.csv", frs)

    # FVC: ~12 per patient; 20 % of rows "Percent Predicted" (value in the litre columns), a few litres-only.
    n_fvc = rng.integers(6, 19, n)
    m = int(n_fvc.sum())
    fday = _visit_days(rng, n_fvc, rng.integers(-7, 1, n), 21, 42)
    fday[rng.random(m) < 0.0005] = 73299
    pct = np.clip(rng.normal(85, 18, (m, 3)), 20, 150).round(0)
    litres = (pct * rng.uniform(0.035, 0.05, (m, 1))).round(2)
    percent_units = rng.random(m) < 0.2
    litres_only = ~percent_units & (rng.random(m) < 0.05)
    fvc = pd.DataFrame({"subject_id": np.repeat(ids, n_fvc), "Forced_Vital_Capacity_Delta": fday})
    for t in range(3):
        fvc[f"Subject_Liters_Trial_{t + 1}"] = np.where(percent_units, pct[:, t], litres[:, t])
        fvc[f"pct_of_Normal_Trial_{t + 1}"] = np.where(percent_units | litres_only, np.nan, pct[:, t])
    fvc["Subject_Normal"] = np.where(
        litres_only & (rng.random(m) < 0.5), (litres[:, 0] * 100 / pct[:, 0]).round(2), np.nan
    )
    fvc["Forced_Vital_Capacity_Units"] = np.where(percent_units, "Percent Predicted", "Liters")
    write("PROACT_FVC.csv", fvc)

    # Vital signs: ~12 per patient; 30 % of patients weighed in pounds, heights in inches or cm at the first visit.
    n_vs = rng.integers(6, 19, n)
    v = int(n_vs.sum())
    vday = _visit_days(rng, n_vs, rng.integers(-7, 1, n), 21, 42)
    kg = np.repeat(rng.normal(78, 14, n).clip(40, 150), n_vs) * rng.normal(1, 0.02, v)
    pounds = np.repeat(rng.random(n) < 0.3, n_vs)
    cm = np.repeat(rng.normal(172, 9, n).clip(145, 200), n_vs)
    first = np.zeros(v, dtype=bool)
    first[np.cumsum(n_vs) - n_vs] = True
    write(
        "PROACT_VITALSIGNS.csv",
        pd.DataFrame(
            {
                "subject_id": np.repeat(ids, n_vs),
                "Vital_Signs_Delta": vday,
                "Weight": np.where(pounds, kg / 0.45359237, kg).round(1),
                "Weight_Units": np.where(pounds, "Pounds", "Kilograms"),
                "Height": np.where(first, np.where(pounds, cm / 2.54, cm), np.nan).round(1),
                "Height_Units": pd.Series(np.where(pounds, "Inches", "Centimeters")).where(first),
                "Blood_Pressure_Systolic": rng.normal(125, 15, v).round(0),
                "Pulse": rng.normal(75, 10, v).round(0),
            }
        ),
    )

    # Labs: ~100 rows per patient (~1,000,000); ~1.5 % biomarker tests; text results and sentinels sprinkled in.
    n_lab = rng.integers(50, 151, n)
    lab_rows = int(n_lab.sum())
    lday = np.repeat(rng.integers(-7, 1, n), n_lab) + rng.integers(0, 12, lab_rows) * 28
    test = rng.integers(0, len(OTHER_TESTS), lab_rows)
    tests = np.asarray(OTHER_TESTS, dtype=object)[test]
    units = np.full(lab_rows, "mg/dL", dtype=object)
    result = rng.lognormal(1.5, 0.8, lab_rows).round(2).astype(str).astype(object)
    mapped = rng.random(lab_rows) < 0.015
    which = rng.integers(0, len(MAPPED_TESTS), lab_rows)
    tests[mapped] = np.asarray([t for t, _, _ in MAPPED_TESTS], dtype=object)[which[mapped]]
    units[mapped] = np.asarray([u for _, u, _ in MAPPED_TESTS], dtype=object)[which[mapped]]
    log_median = np.asarray([m for _, _, m in MAPPED_TESTS])[which[mapped]]
    result[mapped] = rng.lognormal(log_median, 0.5).round(1).astype(str)
    odd = rng.random(lab_rows)
    result[odd < 0.005] = "<5"
    result[(odd >= 0.005) & (odd < 0.007)] = "hemolysed"
    lday_text = _int_text(lday, rng.random(lab_rows) < 0.001)
    lday_text[rng.random(lab_rows) < 0.0002] = 1096331
    write(
        "PROACT_LABS.csv",
        pd.DataFrame(
            {
                "subject_id": np.repeat(ids, n_lab),
                "Laboratory_Delta": lday_text,
                "Test_Name": tests,
                "Test_Result": result,
                "Test_Unit": units,
            }
        ),
    )

    # Death: 35 % died; 1 % "Yes" without a day.
    died = rng.random(n) < 0.35
    last = np.maximum.reduceat(day, np.cumsum(n_vis) - n_vis)
    death_day = last + rng.integers(1, 200, n)
    no_day = died & (rng.random(n) < 0.01)
    write(
        "PROACT_DEATHDATA.csv",
        pd.DataFrame(
            {
                "subject_id": ids,
                "Subject_Died": np.where(died, "Yes", "No"),
                "Death_Days": _int_text(death_day, ~died | no_day),
            }
        ),
    )
    write(
        "PROACT_RILUZOLE.csv",
        pd.DataFrame(
            {
                "subject_id": ids,
                "Subject_used_Riluzole": rng.choice(["Yes", "No"], n, p=[0.8, 0.2]),
                "Riluzole_use_Delta": 0,
            }
        ),
    )
    write(
        "PROACT_ELESCORIAL.csv",
        pd.DataFrame(
            {
                "subject_id": ids,
                "delta_days": 0,
                "el_escorial": rng.choice(["Definite", "Probable", "Probable Laboratory Supported", "Possible"], n),
            }
        ),
    )
    write(
        "PROACT_TREATMENT.csv",
        pd.DataFrame(
            {
                "subject_id": ids,
                "Study_Arm": rng.choice(["Active", "Placebo"], n),
                "Treatment_Group_Delta": 0,
            }
        ),
    )
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n-patients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name, rows in make_proact_export(args.out, args.n_patients, args.seed).items():
        print(f"{name}: {rows:,} rows")


if __name__ == "__main__":
    main()
