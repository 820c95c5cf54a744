"""PRO-ACT Labs and Neurofilament forms -> the ``biomarkers`` raw table; DeathData -> the ``events`` table.

Policies (see ``docs/proact.md``):

* Labs is long (one test result per row, ``Test_Result`` as text). Tests whose name says neurofilament light
  (NfL, NF-L), (phosphorylated) neurofilament heavy (pNfH) or lipocalin-2 (LCN2, NGAL) are mapped; the sample
  matrix comes from a specimen column when the export has one, else from the test name (serum, plasma, CSF). All
  other tests are not part of the spec and are only counted (rows and distinct test names).
* A mapped result must be a positive number: ``"<5"`` / ``">5000"`` (outside the assay's quantification range),
  free text and blanks are excluded with the value named, never imputed. An unknown unit or a matrix outside
  serum/plasma/CSF (e.g. urine NGAL, a kidney marker) is excluded with the value named. Values are stored in the
  unit given (the cohort builder converts with :func:`features.spec.unit_factors`).
* Death: ``Subject_Died`` "Yes" with ``Death_Days`` -> a death event; "Yes" without days, a death before day 0,
  "No" with a death day, or an unrecognised answer -> excluded; "No" -> no event (the patient is censored at the
  last contact).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from features import spec as S
from features.sources.proact.common import (
    Exclusions,
    RowFilter,
    naming,
    normalise_text,
    parse_days,
    parse_numbers,
    resolve_duplicates,
    shown,
)
from features.sources.proact.files import Form, objects

_ANALYTE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("lcn2", re.compile(r"lipocalin|\bngal\b|\blcn-?2\b|neutrophil gelatinase")),
    ("pnfh", re.compile(r"\bp-?nf-?h\b|neurofilament[\s_-]*heavy|\bnf-?h\b")),
    ("nfl", re.compile(r"neurofilament[\s_-]*light|\bnf-?l\b")),
)
_MATRIX_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("csf", re.compile(r"\bcsf\b|cerebrospinal|liquor")),
    ("serum", re.compile(r"\bserum\b")),
    ("plasma", re.compile(r"\bplasma\b")),
    ("urine", re.compile(r"\burine\b|\burinary\b")),
    ("whole blood", re.compile(r"whole blood")),
)


def classify_analyte(names: pd.Index) -> np.ndarray:
    """Spec analyte (nfl, pnfh, lcn2) for each test name, or None when the test is not part of the spec."""
    out = np.full(len(names), None, dtype=object)
    for i, name in enumerate(names):
        text = str(name).strip().lower()
        for analyte, pattern in _ANALYTE_PATTERNS:
            if pattern.search(text):
                out[i] = analyte
                break
    return out


def classify_matrix(names: pd.Index) -> np.ndarray:
    """Sample matrix named in each text (serum, plasma, csf, or another named matrix), or None."""
    out = np.full(len(names), None, dtype=object)
    for i, name in enumerate(names):
        text = str(name).strip().lower()
        for matrix, pattern in _MATRIX_PATTERNS:
            if pattern.search(text):
                out[i] = matrix
                break
    return out


def _per_row(text: pd.Series, classify: Callable[[pd.Index], np.ndarray]) -> np.ndarray:
    """Apply a name classifier once per distinct value (a lab file has a million rows but a few hundred tests)."""
    codes, uniques = pd.factorize(text)
    labels = classify(pd.Index(uniques))
    out = np.full(len(text), None, dtype=object)
    seen = codes >= 0
    out[seen] = labels[codes[seen]]
    return out


def lab_biomarkers(
    form: Form, patients: pd.Index, known: pd.Index, exclusions: Exclusions, counts: dict[str, int], notes: list[str]
) -> pd.DataFrame:
    """Biomarker rows from the long Labs form; other tests are counted as not used."""
    names = form.text("Test_Name")
    analyte = _per_row(names, classify_analyte)
    mapped = pd.notna(analyte)
    unused_names = names[~mapped]
    counts["labs_rows_mapped"] = int(mapped.sum())
    counts["labs_rows_not_used"] = int((~mapped).sum())
    counts["labs_tests_not_used"] = int(unused_names.nunique())
    if (~mapped).any():
        top = unused_names.value_counts().head(8)
        listed = ", ".join(f"{name} ({n})" for name, n in top.items())
        more = counts["labs_tests_not_used"] - len(top)
        notes.append(
            f"{counts['labs_rows_not_used']} lab rows ({counts['labs_tests_not_used']} distinct tests) are "
            f"not part of the spec and not used: {listed}"
            + (f" and {more} more" if more > 0 else "")
            + (f"; {int(names.isna().sum())} rows have no Test_Name" if names.isna().any() else "")
        )
    # Only the mapped rows go through the per-row checks (a few percent of a million-row file).
    sub = form.take(mapped)
    specimen = sub.text("Specimen") if sub.has("Specimen") else None
    return _biomarker_rows(
        sub,
        analyte[mapped],
        sub.text("Test_Name"),
        specimen,
        "Test_Result",
        "Test_Unit",
        "Laboratory_Delta",
        "Assay",
        patients,
        known,
        exclusions,
        counts,
        "labs",
    )


def neurofilament_biomarkers(
    form: Form, patients: pd.Index, known: pd.Index, exclusions: Exclusions, counts: dict[str, int]
) -> pd.DataFrame:
    """Biomarker rows from the dedicated Neurofilament form (every row is meant to be mapped)."""
    names = form.text("Analyte")
    analyte = _per_row(names, classify_analyte)
    return _biomarker_rows(
        form,
        analyte,
        names,
        form.text("Matrix"),
        "Result",
        "Unit",
        "Collection_Delta",
        "Assay",
        patients,
        known,
        exclusions,
        counts,
        "neurofilament",
    )


def _biomarker_rows(
    form: Form,
    analyte: np.ndarray,
    names: pd.Series,
    specimen: pd.Series | None,
    result_col: str,
    unit_col: str,
    day_col: str,
    assay_col: str,
    patients: pd.Index,
    known: pd.Index,
    exclusions: Exclusions,
    counts: dict[str, int],
    key: str,
) -> pd.DataFrame:
    rf = RowFilter(form, exclusions)
    rf.drop_missing_subject()
    name_label = form.column_name("Analyte" if key == "neurofilament" else "Test_Name")
    rf.drop(
        pd.isna(analyte),
        naming(names, f"unrecognised {name_label} {{v}} (expected neurofilament light/heavy or lipocalin-2)"),
    )
    days = parse_days(rf, day_col)
    rf.drop_unknown_patients(patients, known)

    # Matrix: the specimen column when there is one (and it is filled), else the test name.
    sub = np.flatnonzero(rf.keep)
    matrix = np.full(len(form), None, dtype=object)
    source = np.full(len(form), None, dtype=object)
    if specimen is not None:
        matrix[sub] = _per_row(specimen.iloc[sub], classify_matrix)
        source[sub] = objects(specimen.iloc[sub])
    from_name = rf.keep & pd.isna(matrix) & (pd.isna(source))
    idx = np.flatnonzero(from_name)
    matrix[idx] = _per_row(names.iloc[idx], classify_matrix)
    rf.drop(pd.isna(matrix) & pd.notna(source), naming(source, "unrecognised specimen {v}"))
    rf.drop(pd.isna(matrix), naming(names, f"specimen matrix (serum, plasma, CSF) not stated for {name_label} {{v}}"))
    outside = pd.notna(matrix) & ~np.isin(matrix.astype(str), S.MATRICES)
    rf.drop(outside, naming(matrix, "matrix {v} is not in the spec (serum, plasma, csf)"))

    result = form.text(result_col)
    label = form.column_name(result_col)
    values, bad = parse_numbers(result)
    rf.drop(result.isna().to_numpy(), f"missing {label}")
    censored = bad & result.str.startswith(("<", ">", "≤", "≥")).fillna(False).to_numpy(dtype=bool)
    rf.drop(censored, naming(result, f"censored {label} {{v}} (outside the assay's quantification range); not imputed"))
    rf.drop(bad, naming(result, f"non-numeric {label} {{v}}"))
    vspec = S.BIOMARKERS.field("value")
    assert vspec.lower is not None
    assert vspec.upper is not None
    rf.drop(
        values <= 0,
        naming(result, f"{label} must be positive (below-LLOQ results are reported at the LLOQ), got {{v}}"),
    )
    rf.drop(
        (values < vspec.lower) | (values > vspec.upper),
        naming(result, f"{label} {{v}} outside [{vspec.lower:g}, {vspec.upper:g}]"),
    )

    unit = form.text(unit_col)
    unit_label = form.column_name(unit_col)
    rf.drop(unit.isna().to_numpy(), f"missing {unit_label}")
    factors = S.unit_factors(pd.Series(analyte, index=unit.index), unit).to_numpy()
    rf.drop(
        np.isnan(factors),
        lambda m: [
            f"unknown {unit_label} {u} for {a} (accepted: {', '.join(S.UNIT_FACTORS[a])})"
            for u, a in zip(shown(unit, m), analyte[m], strict=True)
        ],
    )

    keep = rf.keep
    assay = form.text(assay_col) if form.has(assay_col) else pd.Series(np.nan, index=unit.index, dtype=object)
    frame = pd.DataFrame(
        {
            "patient_id": rf.subjects[keep],
            "day": days[keep].astype("int64"),
            "analyte": analyte[keep],
            "matrix": matrix[keep],
            "value": values[keep],
            "unit": objects(unit)[keep],
            "assay": objects(assay)[keep],
        }
    )
    counts[f"{key}_biomarker_rows"] = len(frame)
    return frame


def death_events(
    form: Form, patients: pd.Index, known: pd.Index, exclusions: Exclusions, counts: dict[str, int]
) -> pd.DataFrame:
    """Death events (patient_id, event, day) from the DeathData form."""
    rf = RowFilter(form, exclusions)
    rf.drop_missing_subject()
    rf.drop_unknown_patients(patients, known)
    died_text = form.text("Subject_Died")
    died = normalise_text(died_text)
    day_text = form.text("Death_Days")
    yes, no = died.eq("yes").fillna(False).to_numpy(), died.eq("no").fillna(False).to_numpy()
    has_day = day_text.notna().to_numpy()
    rf.drop(died_text.isna().to_numpy(), "missing Subject_Died")
    rf.drop(~yes & ~no, naming(died_text, "unrecognised Subject_Died {v} (expected Yes or No)"))
    rf.drop(no & has_day, naming(day_text, "Subject_Died No but Death_Days {v} given"))
    alive = rf.keep & no
    counts["death_rows_alive"] = int(alive.sum())
    rf.keep &= ~alive  # "No" rows are used (no event): they are not exclusions
    rf.drop(yes & ~has_day, "Subject_Died Yes without Death_Days")
    days = parse_days(rf, "Death_Days")
    rf.drop(days < 0, naming(day_text, "Death_Days {v} before trial day 0"))
    frame = pd.DataFrame(
        {
            "_row": rf.rows[rf.keep],
            "patient_id": rf.subjects[rf.keep],
            "event": "death",
            "day": days[rf.keep].astype("int64"),
        }
    )
    frame, merged = resolve_duplicates(
        frame, ["patient_id", "event"], ["day"], file=form.file, what="death days", exclusions=exclusions
    )
    counts["death_events"] = len(frame)
    counts["death_duplicate_rows_merged"] = merged
    return frame.drop(columns=["_row"])[list(S.EVENTS_TABLE.names)]
